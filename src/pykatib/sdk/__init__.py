"""Katib's Python SDK (``kubeflow.katib``) without Kubernetes: ``KatibClient`` against a ``pykatib server``,
the V1beta1 models, ``search`` and ``report_metrics``. ``import pykatib as katib`` exports them lazily, so a
trial's ``import pykatib`` stays cheap; see docs/sdk.md."""
