"""Katib's medianstop (KATIB_SPEC.md section 4; Katib's pkg/earlystopping/v1beta1/medianstop).

For each Succeeded trial, the mean of its first ``start_step`` objective reports; once at least
``min_trials_required`` such means exist, the rule value is their mean (Katib's service computes the mean,
despite the name). A running trial is checked at its ``start_step``-th objective report: its best value so
far is compared with the rule, and the trial is stopped if it is worse (below the rule when maximizing,
above it when minimizing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pykatib.spec.models import ObjectiveType

DEFAULT_MIN_TRIALS_REQUIRED = 3
DEFAULT_START_STEP = 4


class MedianStop:
    def __init__(self, objective: ObjectiveType, settings: Mapping[str, object]) -> None:
        self.maximize = objective is ObjectiveType.MAXIMIZE
        self.min_trials_required = int(settings.get("min_trials_required", DEFAULT_MIN_TRIALS_REQUIRED))  # type: ignore[call-overload]
        self.start_step = int(settings.get("start_step", DEFAULT_START_STEP))  # type: ignore[call-overload]
        self._averages: dict[str, float] = {}

    def record_succeeded(self, trial: str, first_values: Sequence[float]) -> None:
        """A Succeeded trial's first objective reports (Katib takes at most start_step of them)."""
        head = list(first_values)[: self.start_step]
        if head and trial not in self._averages:
            self._averages[trial] = sum(head) / len(head)

    def rule(self) -> float | None:
        """The value running trials are compared with, or None while too few trials have succeeded."""
        if len(self._averages) < self.min_trials_required:
            return None
        return sum(self._averages.values()) / len(self._averages)

    def should_stop(self, reports: int, best_so_far: float) -> bool:
        """Checked once, when the trial makes its ``start_step``-th objective report."""
        if reports != self.start_step:
            return False
        rule = self.rule()
        if rule is None:
            return False
        return best_so_far < rule if self.maximize else best_so_far > rule
