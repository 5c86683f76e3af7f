"""Katib's experiment status: counts, termination order, optimal trial and the status block (section 6).

Pure functions over trial records, so the rules are tested without running anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pykatib.metrics.strategy import MetricSummary
from pykatib.spec.models import Experiment, ObjectiveType

# Trial phases (Katib's trial condition types).
CREATED, RUNNING, SUCCEEDED, FAILED, KILLED = "Created", "Running", "Succeeded", "Failed", "Killed"
EARLY_STOPPED, METRICS_UNAVAILABLE = "EarlyStopped", "MetricsUnavailable"
ACTIVE_PHASES = (CREATED, RUNNING)
# Trial reasons.
TRIAL_CREATED, TRIAL_RUNNING, TRIAL_SUCCEEDED = "TrialCreated", "TrialRunning", "TrialSucceeded"
TRIAL_FAILED, TRIAL_KILLED, TRIAL_EARLY_STOPPED = "TrialFailed", "TrialKilled", "TrialEarlyStopped"
TRIAL_METRICS_UNAVAILABLE, DEADLINE_EXCEEDED = "MetricsUnavailable", "DeadlineExceeded"
# pykatib's own: a trial whose process vanished with no exit record, or that the user's Ctrl-C stopped.
# Such trials are replaced and count against neither the budget nor maxFailedTrialCount.
TRIAL_LOST, TRIAL_INTERRUPTED = "TrialLost", "TrialInterrupted"
REPLACED_REASONS = (TRIAL_LOST, TRIAL_INTERRUPTED)

# Experiment reasons and messages, as Katib writes them.
EXPERIMENT_CREATED, EXPERIMENT_RUNNING, EXPERIMENT_RESTARTING = (
    "ExperimentCreated",
    "ExperimentRunning",
    "ExperimentRestarting",
)
GOAL_REACHED, MAX_TRIALS_REACHED = "ExperimentGoalReached", "ExperimentMaxTrialsReached"
SUGGESTION_END_REACHED, EXPERIMENT_FAILED = "ExperimentSuggestionEndReached", "ExperimentFailed"
END_MESSAGES = {
    GOAL_REACHED: "Experiment has succeeded because Objective goal has reached",
    MAX_TRIALS_REACHED: "Experiment has succeeded because max trial count has reached",
    SUGGESTION_END_REACHED: "Experiment has succeeded because suggestion service has reached the end",
    EXPERIMENT_FAILED: "Experiment has failed because max failed count has reached",
}


@dataclass
class TrialView:
    """What status needs of a trial (built from the store's record plus in-memory metric summaries)."""

    name: str
    phase: str
    reason: str | None
    assignment: Mapping[str, str]
    metrics: Mapping[str, MetricSummary] = field(default_factory=dict)
    objective: float | None = None  # the objective metric under its strategy, when reported

    @property
    def replaced(self) -> bool:
        return self.phase == KILLED and self.reason in REPLACED_REASONS


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
        if trial.replaced:
            counts.replaced += 1
        elif trial.phase == SUCCEEDED:
            counts.succeeded += 1
        elif trial.phase == FAILED:
            counts.failed += 1
        elif trial.phase == KILLED:
            counts.killed += 1
        elif trial.phase == EARLY_STOPPED:
            counts.early_stopped += 1
        elif trial.phase == METRICS_UNAVAILABLE:
            counts.metrics_unavailable += 1
        elif trial.phase == RUNNING:
            counts.running += 1
        else:
            counts.pending += 1
    return counts


def objective_value(experiment: Experiment, metrics: Mapping[str, MetricSummary]) -> float | None:
    objective = experiment.spec.objective
    assert objective is not None and objective.objective_metric_name
    summary = metrics.get(objective.objective_metric_name)
    if summary is None:
        return None
    return summary.value(strategy_of(experiment, objective.objective_metric_name))


def strategy_of(experiment: Experiment, metric: str) -> str:
    objective = experiment.spec.objective
    assert objective is not None
    for strategy in objective.metric_strategies or ():
        if strategy.name == metric:
            return strategy.value.value
    return "min" if objective.type is ObjectiveType.MINIMIZE else "max"


def optimal_trial(experiment: Experiment, trials: Sequence[TrialView]) -> tuple[TrialView, float] | None:
    """The best trial by objective value among those that finished with observations (Katib: first wins ties)."""
    objective = experiment.spec.objective
    assert objective is not None
    minimize = objective.type is ObjectiveType.MINIMIZE
    best: tuple[TrialView, float] | None = None
    for trial in trials:
        if trial.phase not in (SUCCEEDED, EARLY_STOPPED):
            continue
        value = trial.objective
        if value is None:
            continue
        if best is None or (value < best[1] if minimize else value > best[1]):
            best = (trial, value)
    return best


def end_reason(experiment: Experiment, trials: Sequence[TrialView], *, suggestion_end: bool) -> str | None:
    """Katib's termination order: goal, then failures, then budget; then pykatib's suggestion end."""
    spec = experiment.spec
    objective = spec.objective
    assert objective is not None
    best = optimal_trial(experiment, trials)
    if objective.goal is not None and best is not None:
        value = best[1]
        if (value <= objective.goal) if objective.type is ObjectiveType.MINIMIZE else (value >= objective.goal):
            return GOAL_REACHED
    counts = count(trials)
    failures = counts.failed + counts.metrics_unavailable
    if spec.max_failed_trial_count is not None and failures != 0 and failures >= spec.max_failed_trial_count:
        return EXPERIMENT_FAILED
    if spec.max_trial_count is not None and counts.completed >= spec.max_trial_count:
        return MAX_TRIALS_REACHED
    if suggestion_end and counts.active == 0:
        return SUGGESTION_END_REACHED
    return None


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
        key = {
            SUCCEEDED: "succeededTrialList", FAILED: "failedTrialList", KILLED: "killedTrialList",
            EARLY_STOPPED: "earlyStoppedTrialList", METRICS_UNAVAILABLE: "metricsUnavailableTrialList",
            RUNNING: "runningTrialList",
        }.get(trial.phase, "pendingTrialList")  # fmt: skip
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


def metric_entry(summary: MetricSummary) -> dict[str, str]:
    return {"name": summary.name, "min": repr(summary.min), "max": repr(summary.max), "latest": repr(summary.latest)}
