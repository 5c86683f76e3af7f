"""Plain records the Store hands out and takes in.

They are dataclasses, not ORM objects: nothing lazy or session-bound leaves the Store, so callers may
keep them, pass them between threads and compare them freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pykatib.spec.conditions import TrialPhase

__all__ = [
    "ExperimentRecord", "KubeObjectRecord", "MetricStats", "NewTrial", "ObservationRow", "TrialPhase", "TrialRecord",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    id: int
    name: str
    namespace: str
    spec: dict[str, Any]
    status: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewTrial:
    """A trial to create: what the controller knows before the trial runs."""

    name: str
    parameter_assignments: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    phase: TrialPhase | str = TrialPhase.CREATED
    work_dir: str | None = None


@dataclass(frozen=True, slots=True)
class TrialRecord:
    id: int
    experiment_id: int
    name: str
    parameter_assignments: dict[str, str]
    labels: dict[str, str]
    phase: TrialPhase
    reason: str | None
    message: str | None
    created_at: datetime
    start_time: datetime | None
    completion_time: datetime | None
    exit_code: int | None
    pid: int | None
    work_dir: str | None
    objective_value: float | None
    # When the row last changed (None for rows written before migration 0003): the server's resourceVersion.
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ObservationRow:
    """One reported value of one metric of one trial (a row of Katib's observation log).

    ``time`` must be timezone-aware; it is stored in UTC with microseconds.
    """

    trial_id: int
    metric_name: str
    value: float | str  # text when the metrics filter captured a value that is not a number (Katib keeps it)
    time: datetime


@dataclass(frozen=True, slots=True)
class MetricStats:
    """One metric of one trial reduced the ways Katib's metric strategies need.

    ``latest`` is the value with the greatest time; of equal times, the row stored last. Text values count
    only for ``latest``: ``min`` and ``max`` are None when no value was a number (Katib's "unavailable").
    """

    min: float | None
    max: float | None
    latest: float | str
    count: int


@dataclass(frozen=True, slots=True)
class KubeObjectRecord:
    """A Kubernetes object the server keeps whole (a namespace, a ConfigMap): ``namespace`` "" when
    cluster-scoped."""

    id: int
    kind: str
    namespace: str
    name: str
    body: dict[str, Any]
    created_at: datetime
    updated_at: datetime
