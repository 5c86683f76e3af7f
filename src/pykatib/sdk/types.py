"""Katib's SDK types (``kubeflow.katib.types.types``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TrainerResources:
    """Resources of a distributed (PyTorchJob) trial: ``tune`` runs it with ``torchrun``."""

    num_workers: int
    num_procs_per_worker: int
    resources_per_worker: dict[str, Any] | Any
