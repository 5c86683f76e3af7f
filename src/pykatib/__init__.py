"""pykatib: Kubeflow Katib's hyperparameter tuning as a standalone Python program."""

from pykatib.report import report_metrics

__all__ = ["report_metrics"]
