"""The official Katib SDK fixture for the tests in this directory."""

from katib_sdk import katib_sdk

__all__ = ["katib_sdk"]
