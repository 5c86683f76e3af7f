"""Katib's medianstop (docs/katib-compatibility.md, "Early stopping"; Katib's pkg/earlystopping/v1beta1/medianstop).

For each Succeeded trial, the mean of its first ``start_step`` objective reports; once at least
``min_trials_required`` such means exist, the rule value is their mean (Katib's service computes the mean,
despite the name). A running trial is checked at its ``start_step``-th objective report: its best value so
far is compared with the rule, and the trial is stopped if it is worse (below the rule when maximizing,
above it when minimizing). ``MedianStop`` is an ``earlystop.base.EarlyStopper``: it keeps each trial's
first reports and their count itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pykatib.spec.models import ObjectiveType

DEFAULT_MIN_TRIALS_REQUIRED = 3
DEFAULT_START_STEP = 4


class MedianStop:
    def __init__(self, objective: ObjectiveType, settings: Mapping[str, object]) -> None:
        self.maximize = objective is ObjectiveType.MAXIMIZE
        self.min_trials_required = int(str(settings.get("min_trials_required", DEFAULT_MIN_TRIALS_REQUIRED)))
        self.start_step = int(str(settings.get("start_step", DEFAULT_START_STEP)))
        self._averages: dict[str, float] = {}
        self._head: dict[str, list[float]] = {}  # each trial's first start_step reports
        self._reports: dict[str, int] = {}  # each trial's report count

    # earlystop.base.EarlyStopper

    def observe(self, trial: str, values: Sequence[float]) -> bool:
        head = self._head.setdefault(trial, [])
        stop = False
        for value in values:
            self._reports[trial] = reports = self._reports.get(trial, 0) + 1
            if len(head) < self.start_step:
                head.append(value)
            best = max(head) if self.maximize else min(head)
            stop = stop or self.should_stop(reports, best)
        return stop

    def succeeded(self, trial: str) -> None:
        self.record_succeeded(trial, self._head.get(trial, []))

    def forget(self, trial: str) -> None:
        self._head.pop(trial, None)
        self._reports.pop(trial, None)

    # the rule itself

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
