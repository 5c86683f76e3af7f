"""What to run, read from a trial's Kubernetes object (Job, TFJob, PyTorchJob, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# The container name each training operator's examples and Katib's v1alpha3 controller looked for.
KIND_CONTAINER_NAMES = {
    "TFJob": "tensorflow",
    "PyTorchJob": "pytorch",
    "XGBoostJob": "xgboost",
    "MPIJob": "mpi",
}


def iter_containers(obj: Any) -> Iterator[dict[str, Any]]:
    """Every container of every pod template in the object, in document order."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "containers" and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from iter_containers(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from iter_containers(item)


def default_primary_container(trial_spec: dict[str, Any]) -> str | None:
    """The primary container when the template names none (v1alpha3): the kind's usual name, else the first."""
    names = [str(c.get("name")) for c in iter_containers(trial_spec) if c.get("name")]
    preferred = KIND_CONTAINER_NAMES.get(str(trial_spec.get("kind")))
    if preferred in names:
        return preferred
    return names[0] if names else None
