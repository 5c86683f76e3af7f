"""Katib's experiment status: counts, termination order, optimal trial and the status block (section 6).

Pure functions over trial records, so the rules are tested without running anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pykatib.metrics.strategy import MetricSummary
from pykatib.spec.conditions import (
    RANKED_PHASES,
    REPLACED_REASONS,
    ExperimentReason,
    TrialPhase,
)
from pykatib.spec.models import Experiment, ObjectiveType

# The status block's name lists, by phase (a pending trial is one that has not started).
_TRIAL_LISTS = {
    TrialPhase.SUCCEEDED: "succeededTrialList",
    TrialPhase.FAILED: "failedTrialList",
    TrialPhase.KILLED: "killedTrialList",
    TrialPhase.EARLY_STOPPED: "earlyStoppedTrialList",
    TrialPhase.METRICS_UNAVAILABLE: "metricsUnavailableTrialList",
    TrialPhase.RUNNING: "runningTrialList",
}


@dataclass
class TrialView:
    """What status needs of a trial (built from the store's record plus in-memory metric summaries)."""

    name: str
    phase: TrialPhase
    reason: str | None
    assignment: Mapping[str, str]
    metrics: Mapping[str, MetricSummary] = field(default_factory=dict)
    objective: float | None = None  # the objective metric under its strategy, when reported

    @property
    def replaced(self) -> bool:
        return self.phase == TrialPhase.KILLED and self.reason in REPLACED_REASONS


@dataclass
class Counts:
    succeeded: int = 0
    failed: int = 0
    killed: int = 0
    early_stopped: int = 0
    metrics_unavailable: int = 0
    pending: int = 0
    running: int = 0
    replaced: int = 0

    @property
    def active(self) -> int:
        return self.pending + self.running

    @property
    def completed(self) -> int:
        """Trials that used up budget (Katib's sum); replaced trials do not."""
        return self.succeeded + self.failed + self.killed + self.early_stopped + self.metrics_unavailable


def count(trials: Sequence[TrialView]) -> Counts:
    counts = Counts()
    for trial in trials:
        _add_count(counts, trial, 1)
    return counts


def _add_count(counts: Counts, trial: TrialView, step: int) -> None:
    counter = "replaced" if trial.replaced else _COUNTERS.get(trial.phase, "pending")
    setattr(counts, counter, getattr(counts, counter) + step)


# The Counts field of each phase (a trial of no other phase is pending; a replaced one counts apart).
_COUNTERS = {
    TrialPhase.SUCCEEDED: "succeeded",
    TrialPhase.FAILED: "failed",
    TrialPhase.KILLED: "killed",
    TrialPhase.EARLY_STOPPED: "early_stopped",
    TrialPhase.METRICS_UNAVAILABLE: "metrics_unavailable",
    TrialPhase.RUNNING: "running",
}


def objective_result(experiment: Experiment, metrics: Mapping[str, MetricSummary]) -> float | str | None:
    """The objective metric under its strategy: a number, text (a genotype, as Katib keeps it) or None."""
    objective = experiment.spec.objective
    assert objective is not None and objective.objective_metric_name
    summary = metrics.get(objective.objective_metric_name)
    if summary is None:
        return None
    return summary.value(strategy_of(experiment, objective.objective_metric_name))


def objective_value(experiment: Experiment, metrics: Mapping[str, MetricSummary]) -> float | None:
    """The objective as a number (what algorithms and the goal compare); None when unreported or text."""
    value = objective_result(experiment, metrics)
    return None if isinstance(value, str) else value


def strategy_of(experiment: Experiment, metric: str) -> str:
    objective = experiment.spec.objective
    assert objective is not None
    for strategy in objective.metric_strategies or ():
        if strategy.name == metric:
            return strategy.value.value
    return "min" if objective.type is ObjectiveType.MINIMIZE else "max"


# The optimal trial's objective: a number, or text ("For string metrics values best trial is the latest": Katib's
# updateTrialsSummary makes the last trial with a text objective the optimal one; pykatib ranks text above numbers).
Best = tuple[TrialView, float | str]


def optimal_trial(experiment: Experiment, trials: Sequence[TrialView]) -> Best | None:
    """The best trial by objective value among those that finished with observations (Katib: first wins ties)."""
    objective = experiment.spec.objective
    assert objective is not None
    minimize = objective.type is ObjectiveType.MINIMIZE
    best: Best | None = None
    for trial in trials:
        value = _candidate_value(experiment, trial)
        if value is not None and (best is None or _beats(value, best[1], minimize, later=True)):
            best = (trial, value)
    return best


def _beats(value: float | str, best: float | str, minimize: bool, *, later: bool) -> bool:
    """Whether ``value`` replaces ``best``; ``later``: the trial of ``value`` was created after best's."""
    if isinstance(value, str) or isinstance(best, str):
        return isinstance(value, str) and (later or not isinstance(best, str))
    if value == best:
        return not later
    return value < best if minimize else value > best


def _candidate_value(experiment: Experiment, trial: TrialView) -> float | str | None:
    """The trial's objective when it may be the optimal trial: finished, with the objective reported."""
    if trial.phase not in RANKED_PHASES:
        return None
    return trial.objective if trial.objective is not None else objective_result(experiment, trial.metrics)


def end_reason(experiment: Experiment, trials: Sequence[TrialView], *, suggestion_end: bool) -> ExperimentReason | None:
    """Katib's termination order: goal, then failures, then budget; then pykatib's suggestion end."""
    best = optimal_trial(experiment, trials)
    return end_reason_of(experiment, count(trials), best[1] if best else None, suggestion_end=suggestion_end)


def end_reason_of(
    experiment: Experiment, counts: Counts, best: float | str | None, *, suggestion_end: bool
) -> ExperimentReason | None:
    """end_reason() from the counts and the optimal trial's objective value, already at hand (a text one never
    reaches a goal)."""
    spec = experiment.spec
    objective = spec.objective
    assert objective is not None
    if objective.goal is not None and best is not None and not isinstance(best, str):
        value = best
        if (value <= objective.goal) if objective.type is ObjectiveType.MINIMIZE else (value >= objective.goal):
            return ExperimentReason.GOAL_REACHED
    failures = counts.failed + counts.metrics_unavailable
    if spec.max_failed_trial_count is not None and failures != 0 and failures >= spec.max_failed_trial_count:
        return ExperimentReason.FAILED
    if spec.max_trial_count is not None and counts.completed >= spec.max_trial_count:
        return ExperimentReason.MAX_TRIALS_REACHED
    if suggestion_end and counts.active == 0:
        return ExperimentReason.SUGGESTION_END_REACHED
    return None


class TrialTally:
    """``count()`` and ``optimal_trial()`` of a changing list of trials, kept up to date one trial at a time.

    A controller that recounted every trial at every step spent time quadratic in the experiment's length.
    ``update(view)`` adds a trial or replaces the view of one already here; trials keep the order in which
    they were first added (creation order), which decides ties for the optimal trial as optimal_trial does.
    """

    def __init__(self, experiment: Experiment) -> None:
        objective = experiment.spec.objective
        assert objective is not None
        self._experiment = experiment
        self._minimize = objective.type is ObjectiveType.MINIMIZE
        self.counts = Counts()
        self._views: dict[str, TrialView] = {}
        self._order: dict[str, int] = {}
        self._best: Best | None = None

    def update(self, view: TrialView) -> None:
        old = self._views.get(view.name)
        if old is not None:
            _add_count(self.counts, old, -1)
        else:
            self._order[view.name] = len(self._order)
        self._views[view.name] = view
        _add_count(self.counts, view, 1)
        if self._best is not None and self._best[0].name == view.name:
            self._best = None
            self._rescan()  # the best trial changed (rare: finished trials keep their value)
            return
        value = _candidate_value(self._experiment, view)
        if value is not None and (self._best is None or self._better(view, value, *self._best)):
            self._best = (view, value)

    def best(self) -> Best | None:
        return self._best

    def _better(self, view: TrialView, value: float | str, best: TrialView, best_value: float | str) -> bool:
        later = self._order[view.name] > self._order[best.name]
        return _beats(value, best_value, self._minimize, later=later)

    def _rescan(self) -> None:
        for view in self._views.values():
            value = _candidate_value(self._experiment, view)
            if value is not None and (self._best is None or self._better(view, value, *self._best)):
                self._best = (view, value)


def trials_to_create(experiment: Experiment, counts: Counts) -> int:
    """min(parallelTrialCount, maxTrialCount - completed) - active, never below zero."""
    spec = experiment.spec
    parallel = spec.parallel_trial_count or 1
    room = parallel if spec.max_trial_count is None else min(parallel, spec.max_trial_count - counts.completed)
    return max(0, room - counts.active)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(kind: str, status: bool, reason: str, message: str, at: str | None = None) -> dict[str, Any]:
    stamp = at or now_rfc3339()
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
    }


def set_condition(conditions: list[dict[str, Any]], new: dict[str, Any]) -> None:
    """Replace the condition of the same type (keeping its transition time when the status is unchanged)."""
    for i, old in enumerate(conditions):
        if old["type"] == new["type"]:
            if old["status"] == new["status"]:
                new = {**new, "lastTransitionTime": old.get("lastTransitionTime", new["lastTransitionTime"])}
            conditions[i] = new
            return
    conditions.append(new)


def status_block(
    experiment: Experiment, trials: Sequence[TrialView], base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Katib's ``status``: counts, name lists and currentOptimalTrial, over the conditions in ``base``."""
    status: dict[str, Any] = dict(base or {})
    counts = count(trials)
    groups: dict[str, list[str]] = {
        "succeededTrialList": [], "failedTrialList": [], "killedTrialList": [], "earlyStoppedTrialList": [],
        "metricsUnavailableTrialList": [], "runningTrialList": [], "pendingTrialList": [],
    }  # fmt: skip
    for trial in trials:
        key = _TRIAL_LISTS.get(trial.phase, "pendingTrialList")
        groups[key].append(trial.name)
    for key, names in groups.items():
        if names:
            status[key] = names
        else:
            status.pop(key, None)
    status.update(
        trials=len(trials),
        trialsSucceeded=counts.succeeded,
        trialsFailed=counts.failed,
        trialsKilled=counts.killed + counts.replaced,
        trialsPending=counts.pending,
        trialsRunning=counts.running,
        trialsEarlyStopped=counts.early_stopped,
        trialMetricsUnavailable=counts.metrics_unavailable,
    )
    best = optimal_trial(experiment, trials)
    if best is not None:
        trial, _ = best
        status["currentOptimalTrial"] = {
            "bestTrialName": trial.name,
            "parameterAssignments": [{"name": k, "value": v} for k, v in trial.assignment.items()],
            "observation": {"metrics": [metric_entry(s) for s in trial.metrics.values()]},
        }
    return status


# Katib's consts.UnavailableMetricValue: a min or max no number was reported for.
UNAVAILABLE = "unavailable"


def metric_text(value: float | str | None) -> str:
    """A metric value as Katib's status shows it: the number, the text as reported, or "unavailable"."""
    if value is None:
        return UNAVAILABLE
    return value if isinstance(value, str) else repr(value)


def metric_entry(summary: MetricSummary) -> dict[str, str]:
    return {
        "name": summary.name,
        "min": metric_text(summary.min),
        "max": metric_text(summary.max),
        "latest": metric_text(summary.latest),
    }
