"""Katib's metric strategies: which of a trial's reported values counts as its result.

Katib (``Objective.metricStrategies``) reduces each metric's observation log to ``min``, ``max`` or
``latest``; a metric without a strategy gets the objective's direction (``min`` when minimizing, ``max``
when maximizing), as Katib's defaulting webhook sets it. ``latest`` is the value with the greatest
timestamp, and of equal timestamps the one reported last (Katib's DB query orders by time, then by insertion).

A text value (what a metrics filter captured that is no number, e.g. DARTS' genotype) counts as Katib's trial
controller counts it: only for ``latest``; ``min`` and ``max`` stay None ("unavailable") until a number comes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pykatib.metrics.observation import Observation


class MetricStrategy(StrEnum):
    MIN = "min"
    MAX = "max"
    LATEST = "latest"


@dataclass(slots=True)
class MetricSummary:
    """Running min / max / latest of one metric, updated one observation at a time."""

    name: str
    min: float | None
    max: float | None
    latest: float | str
    latest_time: datetime

    @classmethod
    def from_observation(cls, obs: Observation) -> MetricSummary:
        number = None if isinstance(obs.value, str) else obs.value
        return cls(obs.metric_name, number, number, obs.value, obs.timestamp)

    def merge(self, obs: Observation) -> None:
        """Fold in one more observation of this metric (observations arrive in report order)."""
        if obs.metric_name != self.name:
            raise ValueError(f"cannot merge {obs.metric_name!r} into the summary of {self.name!r}")
        value = obs.value
        if not isinstance(value, str):
            if self.min is None or value < self.min:
                self.min = value
            if self.max is None or value > self.max:
                self.max = value
        # >=, not >: on equal timestamps the observation reported later wins.
        if obs.timestamp >= self.latest_time:
            self.latest = value
            self.latest_time = obs.timestamp

    def value(self, strategy: MetricStrategy | str) -> float | str:
        """The metric's result under ``strategy`` (also accepts "min", "max", "latest"); as Katib's
        getObjectiveMetricValue, ``latest`` (maybe text) where min or max is unavailable."""
        match MetricStrategy(strategy):
            case MetricStrategy.MIN:
                return self.latest if self.min is None else self.min
            case MetricStrategy.MAX:
                return self.latest if self.max is None else self.max
            case MetricStrategy.LATEST:
                return self.latest

    def number(self, strategy: MetricStrategy | str) -> float | None:
        """:meth:`value` when it is a number (what algorithms and goals compare), else None."""
        value = self.value(strategy)
        return None if isinstance(value, str) else value


def summarize(
    observations: Iterable[Observation], into: dict[str, MetricSummary] | None = None
) -> dict[str, MetricSummary]:
    """Summaries per metric name, in order of first appearance.

    Pass the result of an earlier call as ``into`` to keep folding observations as they stream
    in; it is updated in place and returned.
    """
    summaries: dict[str, MetricSummary] = {} if into is None else into
    for obs in observations:
        summary = summaries.get(obs.metric_name)
        if summary is None:
            summaries[obs.metric_name] = MetricSummary.from_observation(obs)
        else:
            summary.merge(obs)
    return summaries
