"""pykatib: Kubeflow Katib's hyperparameter tuning as a standalone Python program.

``import pykatib as katib`` stands in for ``from kubeflow import katib``: ``katib.KatibClient``, ``katib.search``,
the ``katib.V1beta1...`` models, ``katib.report_metrics``. Every name is imported on first use, so a trial's
``import pykatib`` (for ``report_metrics``) loads neither the HTTP client nor the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports each on first use
    from pykatib.report import report_metrics as report_metrics
    from pykatib.sdk import models as models
    from pykatib.sdk import search as search
    from pykatib.sdk.client import KatibClient as KatibClient
    from pykatib.sdk.constants import BASE_IMAGE_PYTORCH as BASE_IMAGE_PYTORCH
    from pykatib.sdk.constants import BASE_IMAGE_TENSORFLOW as BASE_IMAGE_TENSORFLOW
    from pykatib.sdk.constants import BASE_IMAGE_TENSORFLOW_GPU as BASE_IMAGE_TENSORFLOW_GPU
    from pykatib.sdk.types import TrainerResources as TrainerResources

_MODULES = {"search": "pykatib.sdk.search", "models": "pykatib.sdk.models"}
_NAMES = {
    "report_metrics": "pykatib.report",
    "KatibClient": "pykatib.sdk.client",
    "TrainerResources": "pykatib.sdk.types",
    "BASE_IMAGE_PYTORCH": "pykatib.sdk.constants",
    "BASE_IMAGE_TENSORFLOW": "pykatib.sdk.constants",
    "BASE_IMAGE_TENSORFLOW_GPU": "pykatib.sdk.constants",
}

__all__ = sorted({*_MODULES, *_NAMES})


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value: Any = importlib.import_module(_MODULES[name])
    elif name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    elif name.startswith(("V1beta1", "V1ObjectMeta", "V1ListMeta")):
        classes = importlib.import_module("pykatib.sdk.models").CLASSES
        if name not in classes:
            raise AttributeError(f"module 'pykatib' has no attribute {name!r}")
        value = classes[name]
    else:
        raise AttributeError(f"module 'pykatib' has no attribute {name!r}")
    globals()[name] = value  # the next lookup finds it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *importlib.import_module("pykatib.sdk.models").CLASSES})
