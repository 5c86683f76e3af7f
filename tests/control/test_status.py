"""Katib's counting rules as pure functions (control/status.py): how many trials to create, when to end."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from e2e_support import make_experiment
from pykatib.control.status import (
    Counts,
    TrialTally,
    TrialView,
    count,
    end_reason,
    optimal_trial,
    status_block,
    strategy_of,
    trials_to_create,
)
from pykatib.metrics.strategy import MetricSummary
from pykatib.spec.conditions import ExperimentReason, TrialPhase, TrialReason
from pykatib.spec.loader import parse_experiment
from pykatib.spec.models import Experiment


def experiment(**spec: Any) -> Experiment:
    objective = spec.pop("objective", None)
    return parse_experiment(make_experiment(["sh", "-c", "true"], objective=objective, **spec))


def view(name: str, phase: str, objective: float | None = None, reason: str | None = None) -> TrialView:
    metrics = {}
    if objective is not None:
        metrics = {"loss": MetricSummary("loss", objective, objective, objective, datetime.now(UTC))}
    return TrialView(name, phase, reason, {"x": "0.5"}, metrics, objective)


@pytest.mark.parametrize(
    ("parallel", "max_trials", "counts", "expected"),
    [
        (3, 12, Counts(), 3),  # start: a full batch
        (3, 12, Counts(running=2), 1),  # refill what ended
        (3, 12, Counts(running=3), 0),
        (3, 12, Counts(succeeded=10, running=1), 1),  # min(3, 12 - 10) - 1
        (3, 12, Counts(succeeded=10, running=2), 0),
        (3, 12, Counts(succeeded=11, running=2), 0),  # never below zero
        (3, 12, Counts(succeeded=12), 0),
        (4, 5, Counts(succeeded=2, failed=1, killed=1, metrics_unavailable=0, pending=1), 0),  # min(4, 1) - 1
        (4, 6, Counts(early_stopped=1, metrics_unavailable=1, running=1), 3),  # min(4, 4) - 1
        (2, 4, Counts(succeeded=1, replaced=5, running=1), 1),  # lost trials use no budget: min(2, 3) - 1
        (3, None, Counts(succeeded=100, running=1), 2),  # no maxTrialCount: parallel - active
        (3, None, Counts(pending=1, running=2), 0),
    ],
)
def test_trials_to_create(parallel: int, max_trials: int | None, counts: Counts, expected: int) -> None:
    exp = experiment(parallelTrialCount=parallel, maxTrialCount=max_trials, maxFailedTrialCount=None)
    assert trials_to_create(exp, counts) == expected


def test_count_puts_replaced_trials_aside() -> None:
    trials = [
        view("a", "Succeeded", 0.1),
        view("b", "Killed", reason="TrialLost"),
        view("c", "Killed", reason="TrialKilled"),
        view("d", "Created", reason="TrialInterrupted"),
        view("e", "MetricsUnavailable"),
        view("f", "Running"),
        view("g", "Failed"),
        view("h", "EarlyStopped", 0.2),
    ]
    counts = count(trials)
    assert (counts.succeeded, counts.failed, counts.killed, counts.early_stopped) == (1, 1, 1, 1)
    assert (counts.metrics_unavailable, counts.pending, counts.running, counts.replaced) == (1, 1, 1, 1)
    assert counts.completed == 5  # succeeded + failed + killed + earlyStopped + metricsUnavailable
    assert counts.active == 2


def test_goal_is_checked_before_failures_and_budget() -> None:
    exp = experiment(maxTrialCount=3, maxFailedTrialCount=1, objective={"type": "minimize", "goal": 0.1,
                                                                            "objectiveMetricName": "loss"})  # fmt: skip
    trials = [view("a", "Succeeded", 0.05), view("b", "Failed"), view("c", "Failed")]
    # All three rules hold: 3 completed >= 3, 2 failed >= 1, best 0.05 <= 0.1.
    assert end_reason(exp, trials, suggestion_end=True) == ExperimentReason.GOAL_REACHED


def test_failures_are_checked_before_budget() -> None:
    exp = experiment(maxTrialCount=3, maxFailedTrialCount=1, objective={"type": "minimize", "goal": 0.01,
                                                                            "objectiveMetricName": "loss"})  # fmt: skip
    trials = [view("a", "Succeeded", 0.05), view("b", "Failed"), view("c", "Succeeded", 0.2)]
    assert end_reason(exp, trials, suggestion_end=True) == ExperimentReason.FAILED


def test_budget_is_checked_before_suggestion_end() -> None:
    exp = experiment(maxTrialCount=2, maxFailedTrialCount=None)
    trials = [view("a", "Succeeded", 0.05), view("b", "Succeeded", 0.2)]
    assert end_reason(exp, trials, suggestion_end=True) == ExperimentReason.MAX_TRIALS_REACHED


def test_suggestion_end_waits_for_active_trials() -> None:
    exp = experiment(maxTrialCount=None, maxFailedTrialCount=None)
    trials = [view("a", "Succeeded", 0.05), view("b", "Running")]
    assert end_reason(exp, trials, suggestion_end=True) is None
    assert end_reason(exp, trials[:1], suggestion_end=True) == ExperimentReason.SUGGESTION_END_REACHED
    assert end_reason(exp, trials[:1], suggestion_end=False) is None


@pytest.mark.parametrize(
    ("max_failed", "phases", "expected"),
    [
        (0, ["Succeeded"], None),  # 0 means "fail at the first failure", not "fail at once"
        (0, ["Failed"], ExperimentReason.FAILED),
        (0, ["MetricsUnavailable"], ExperimentReason.FAILED),  # metrics unavailable is a failure
        (2, ["Failed", "Succeeded"], None),
        (2, ["Failed", "MetricsUnavailable"], ExperimentReason.FAILED),  # the 2nd failure ends it
        (2, ["Failed", "Killed"], None),  # killed is not a failure
        (None, ["Failed"] * 5, None),
    ],
)
def test_failure_rule(max_failed: int | None, phases: list[str], expected: str | None) -> None:
    exp = experiment(maxTrialCount=None, maxFailedTrialCount=max_failed)
    trials = [view(f"t{i}", phase, 0.5 if phase == "Succeeded" else None) for i, phase in enumerate(phases)]
    assert end_reason(exp, trials, suggestion_end=False) == expected


def test_lost_trials_count_against_neither_failures_nor_budget() -> None:
    exp = experiment(maxTrialCount=2, maxFailedTrialCount=1)
    trials = [view("a", "Succeeded", 0.5), view("b", "Killed", reason="TrialLost"), view("c", "Running")]
    assert end_reason(exp, trials, suggestion_end=False) is None
    assert trials_to_create(exp, count(trials)) == 0  # min(2, 2 - 1) - 1


@pytest.mark.parametrize(
    ("objective_type", "goal", "best", "reached"),
    [
        ("minimize", 0.1, 0.1, True),  # the goal itself counts
        ("minimize", 0.1, 0.1000001, False),
        ("maximize", 0.9, 0.9, True),
        ("maximize", 0.9, 0.8999, False),
    ],
)
def test_goal_comparison(objective_type: str, goal: float, best: float, reached: bool) -> None:
    exp = experiment(maxTrialCount=None, maxFailedTrialCount=None,
                     objective={"type": objective_type, "goal": goal, "objectiveMetricName": "loss"})  # fmt: skip
    trials = [view("a", "Succeeded", best)]
    assert (end_reason(exp, trials, suggestion_end=False) == ExperimentReason.GOAL_REACHED) is reached


def test_goal_ignores_values_of_unfinished_or_failed_trials() -> None:
    exp = experiment(maxTrialCount=None, maxFailedTrialCount=None,
                     objective={"type": "minimize", "goal": 0.1, "objectiveMetricName": "loss"})  # fmt: skip
    trials = [view("a", "Running", 0.01), view("b", "Failed", 0.01), view("c", "Killed", 0.01)]
    assert end_reason(exp, trials, suggestion_end=False) is None
    assert optimal_trial(exp, trials) is None


def test_optimal_trial_follows_the_objective_and_keeps_the_first_of_equals() -> None:
    trials = [view("a", "Succeeded", 0.3), view("b", "Succeeded", 0.1), view("c", "EarlyStopped", 0.1),
              view("d", "Succeeded", 0.7)]  # fmt: skip
    minimize = experiment(maxTrialCount=None)
    maximize = experiment(maxTrialCount=None, objective={"type": "maximize", "objectiveMetricName": "loss"})
    best = optimal_trial(minimize, trials)
    assert best is not None and best[0].name == "b"
    best = optimal_trial(maximize, trials)
    assert best is not None and best[0].name == "d"


def test_default_metric_strategies_follow_the_objective_type() -> None:
    minimize = experiment(objective={"type": "minimize", "objectiveMetricName": "loss",
                                     "additionalMetricNames": ["acc"]})  # fmt: skip
    maximize = experiment(objective={"type": "maximize", "objectiveMetricName": "loss",
                                     "additionalMetricNames": ["acc"],
                                     "metricStrategies": [{"name": "acc", "value": "latest"}]})  # fmt: skip
    assert (strategy_of(minimize, "loss"), strategy_of(minimize, "acc")) == ("min", "min")
    assert (strategy_of(maximize, "loss"), strategy_of(maximize, "acc")) == ("max", "latest")


def test_status_block_counts_and_lists() -> None:
    exp = experiment(maxTrialCount=None)
    trials = [view("a", "Succeeded", 0.3), view("b", "Failed"), view("c", "Killed", reason="TrialLost"),
              view("d", "Running"), view("e", "Created"), view("f", "MetricsUnavailable")]  # fmt: skip
    status = status_block(exp, trials, {"conditions": []})
    assert status["trials"] == 6
    assert (status["trialsSucceeded"], status["trialsFailed"], status["trialsKilled"]) == (1, 1, 1)
    assert (status["trialsRunning"], status["trialsPending"], status["trialMetricsUnavailable"]) == (1, 1, 1)
    assert status["succeededTrialList"] == ["a"]
    assert status["killedTrialList"] == ["c"]
    assert status["pendingTrialList"] == ["e"]
    assert "earlyStoppedTrialList" not in status
    assert status["currentOptimalTrial"]["bestTrialName"] == "a"
    assert status["currentOptimalTrial"]["parameterAssignments"] == [{"name": "x", "value": "0.5"}]


@pytest.mark.parametrize("objective_type", ["minimize", "maximize"])
@pytest.mark.parametrize("seed", range(5))
def test_tally_agrees_with_counting_every_trial(objective_type: str, seed: int) -> None:
    """The controller's incremental counts and optimal trial equal count() and optimal_trial() over all trials,
    whatever changes arrive in whatever order (ties, the best trial changing, trials coming back to pending)."""
    exp = experiment(objective={"type": objective_type, "objectiveMetricName": "loss"})
    rng = random.Random(seed)
    phases = [
        TrialPhase.CREATED,
        TrialPhase.RUNNING,
        TrialPhase.SUCCEEDED,
        TrialPhase.FAILED,
        TrialPhase.KILLED,
        TrialPhase.EARLY_STOPPED,
        TrialPhase.METRICS_UNAVAILABLE,
    ]
    tally = TrialTally(exp)
    trials: dict[str, TrialView] = {}
    for _ in range(400):
        name = f"t{rng.randrange(30)}"
        objective = rng.choice([None, 0.25, 0.5, 0.75, rng.random()])
        reason = rng.choice([None, TrialReason.LOST])
        trials[name] = view(name, rng.choice(phases), objective, reason)
        tally.update(trials[name])
        # Insertion order of the dict is the order of first appearance, as the tally's creation order.
        assert tally.counts == count(list(trials.values()))
        assert tally.best() == optimal_trial(exp, list(trials.values()))
