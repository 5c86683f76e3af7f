"""The unit every metrics collector produces: one reported value of one metric."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Observation:
    """One metric value as Katib's ``MetricLog`` records it.

    ``timestamp`` must be timezone-aware (parsers produce UTC): naive and aware datetimes cannot
    be compared, and the ``latest`` strategy orders observations by time.
    """

    metric_name: str
    value: float | str  # text when a metrics filter captured a value that is no number (Katib keeps it)
    timestamp: datetime

    def __post_init__(self) -> None:
        # Fail at construction rather than deep inside a later comparison.
        if self.timestamp.tzinfo is None:
            raise ValueError(f"Observation timestamp must be timezone-aware, got {self.timestamp!r}")
