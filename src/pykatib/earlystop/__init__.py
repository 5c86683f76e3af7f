"""Early stopping: Katib's medianstop rule, applied to observations as they stream in."""

from pykatib.earlystop.medianstop import MedianStop

__all__ = ["MedianStop"]
