"""Katib's experiment semantics, run for real: the controller in this process, trials as `sh` processes.

Each trial is ``sh -c SCRIPT sh VALUE``: the assigned value arrives as ``$1``, so the script decides the
trial's outcome (metric, failure, slowness) from its assignment. With ``grid`` over a categorical list
every value runs exactly once, which makes outcomes deterministic whatever order the grid takes.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from e2e_support import (
    categorical,
    conditions,
    end_condition,
    group_members,
    make_experiment,
    process_alive,
    run_controller,
    trial_dir,
    trials_of,
)

pytestmark = pytest.mark.usefixtures("store_backend")  # on SQLite, PostgreSQL and MariaDB

# The trial's outcome, chosen by its value ($1).
OUTCOMES = r"""
case "$1" in
  fail) echo "loss=0.01"; exit 1 ;;
  nometric) echo "val_loss=0.01 accuracy=0.5"; exit 0 ;;
  slow) echo $$ > slow.pid; sleep 30; echo "loss=0.9" ;;
  *) echo "loss=$1" ;;
esac
"""
COMMAND = ["sh", "-c", OUTCOMES, "sh", "${trialParameters.v}"]


def outcomes_experiment(values: list[str], **spec: Any) -> dict[str, Any]:
    spec.setdefault("algorithm", {"algorithmName": "grid"})
    spec.setdefault("maxTrialCount", None)  # grid: run every value once
    return make_experiment(COMMAND, parameters=[categorical("v", values)], **spec)


def by_value(workdir: Path, name: str = "e2e") -> dict[str, Any]:
    return {t.parameter_assignments["v"]: t for t in trials_of(workdir, name)}


@pytest.mark.parametrize(
    ("objective_type", "metric", "printed", "goal"),
    [("minimize", "loss", "0.01", 0.1), ("maximize", "accuracy", "0.95", 0.9)],
)
def test_goal_reached_ends_the_experiment_and_creates_no_more_trials(
    tmp_path: Path, objective_type: str, metric: str, printed: str, goal: float
) -> None:
    doc = make_experiment(
        ["sh", "-c", f'echo "{metric}={printed}"'],
        objective={"type": objective_type, "goal": goal, "objectiveMetricName": metric},
        parallelTrialCount=2,
        maxTrialCount=10,
    )
    status = run_controller(doc, tmp_path)
    assert end_condition(status) == ("Succeeded", "ExperimentGoalReached")
    # Both trials of the first batch reach the goal: nothing more is created. The first to finish ends the
    # experiment; the other has finished too, or is stopped as it finishes (Killed).
    assert status["trials"] == 2
    trials = trials_of(tmp_path, "e2e")
    assert len(trials) == 2
    assert status["trialsSucceeded"] >= 1
    assert all(t.phase == "Succeeded" or (t.phase, t.reason) == ("Killed", "TrialKilled") for t in trials)
    best = status["currentOptimalTrial"]["observation"]["metrics"]
    assert best == [{"name": metric, "min": printed, "max": printed, "latest": printed}]


@pytest.mark.parametrize(
    ("objective_type", "printed", "goal"),
    [("minimize", "0.2", 0.1), ("maximize", "0.2", 0.9)],
)
def test_goal_not_reached_runs_the_budget(tmp_path: Path, objective_type: str, printed: str, goal: float) -> None:
    doc = make_experiment(
        ["sh", "-c", f'echo "loss={printed}"'],
        objective={"type": objective_type, "goal": goal, "objectiveMetricName": "loss"},
        parallelTrialCount=2,
        maxTrialCount=3,
    )
    status = run_controller(doc, tmp_path)
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    assert status["trials"] == status["trialsSucceeded"] == 3


def test_goal_reached_kills_the_trials_still_running(tmp_path: Path) -> None:
    doc = outcomes_experiment(["0.01", "slow"], objective={"type": "minimize", "goal": 0.1,
                                                           "objectiveMetricName": "loss"})  # fmt: skip
    started = time.monotonic()
    status = run_controller(doc, tmp_path)
    assert time.monotonic() - started < 15  # the slow trial sleeps 30 s: it was stopped, not awaited
    assert end_condition(status) == ("Succeeded", "ExperimentGoalReached")
    trials = by_value(tmp_path)
    assert trials["0.01"].phase == "Succeeded"
    slow = trials["slow"]
    assert (slow.phase, slow.reason) == ("Killed", "TrialKilled")
    assert (status["trialsSucceeded"], status["trialsKilled"]) == (1, 1)
    assert status["killedTrialList"] == [slow.name]
    # Its whole process group is gone (the group leader is the wrapper that pykatib started).
    [record] = json.loads((trial_dir(tmp_path, "e2e", slow.name) / "processes.json").read_text())["processes"]
    assert group_members(record["pid"]) == []
    pid_file = trial_dir(tmp_path, "e2e", slow.name) / "slow.pid"
    if pid_file.exists():  # absent when it was stopped before its script began
        assert not process_alive(int(pid_file.read_text()))


def test_max_failed_zero_fails_at_the_first_failure(tmp_path: Path) -> None:
    doc = outcomes_experiment(["fail", "slow"], maxFailedTrialCount=0)
    status = run_controller(doc, tmp_path)
    assert end_condition(status) == ("Failed", "ExperimentFailed")
    assert conditions(status)["Failed"]["message"] == "Experiment has failed because max failed count has reached"
    trials = by_value(tmp_path)
    assert (trials["fail"].phase, trials["fail"].reason, trials["fail"].exit_code) == ("Failed", "TrialFailed", 1)
    assert (trials["slow"].phase, trials["slow"].reason) == ("Killed", "TrialKilled")
    assert (status["trialsFailed"], status["trialsKilled"], status["trials"]) == (1, 1, 2)


def test_max_failed_n_fails_exactly_at_the_nth_failure(tmp_path: Path) -> None:
    # One trial at a time, so no failure can arrive after the one that ends the experiment.
    doc = make_experiment(["sh", "-c", "exit 2"], parallelTrialCount=1, maxTrialCount=10, maxFailedTrialCount=3)
    status = run_controller(doc, tmp_path)
    assert end_condition(status) == ("Failed", "ExperimentFailed")
    assert status["trialsFailed"] == 3
    assert status["trials"] == 3
    assert len(status["failedTrialList"]) == 3
    assert all(t.exit_code == 2 and t.reason == "TrialFailed" for t in trials_of(tmp_path, "e2e"))


def test_max_failed_n_with_parallel_trials_stops_short_of_the_budget(tmp_path: Path) -> None:
    doc = make_experiment(["sh", "-c", "exit 1"], parallelTrialCount=3, maxTrialCount=12, maxFailedTrialCount=3)
    status = run_controller(doc, tmp_path)
    assert end_condition(status) == ("Failed", "ExperimentFailed")
    # Trials that failed together are all counted, and nothing is started after the 3rd failure.
    assert 3 <= status["trialsFailed"] < 3 + 3
    assert status["trials"] == status["trialsFailed"] + status["trialsKilled"]
    assert status["trials"] < 12


def test_metrics_unavailable_counts_as_a_failure(tmp_path: Path) -> None:
    doc = outcomes_experiment(["nometric", "0.3"], maxFailedTrialCount=0, parallelTrialCount=1)
    status = run_controller(doc, tmp_path)
    assert end_condition(status) == ("Failed", "ExperimentFailed")
    trials = by_value(tmp_path)
    unavailable = trials["nometric"]
    # It exited 0 and printed val_loss and accuracy, but never `loss` itself.
    assert (unavailable.phase, unavailable.reason, unavailable.exit_code) == ("MetricsUnavailable",
                                                                             "MetricsUnavailable", 0)  # fmt: skip
    assert status["trialMetricsUnavailable"] == 1
    assert status["trialsFailed"] == 0
    assert status["metricsUnavailableTrialList"] == [unavailable.name]


def test_metrics_unavailable_trials_use_up_the_budget(tmp_path: Path) -> None:
    doc = make_experiment(["sh", "-c", "echo no metrics here"], parallelTrialCount=2, maxTrialCount=3)
    status = run_controller(doc, tmp_path)
    # Katib's budget counts metricsUnavailable trials: no failure limit is set, so the experiment succeeds.
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    assert (status["trials"], status["trialMetricsUnavailable"], status["trialsSucceeded"]) == (3, 3, 0)
    assert "currentOptimalTrial" not in status


@pytest.mark.parametrize(("parallel", "budget"), [(2, 5), (3, 5), (3, 3)])
def test_budget_runs_exactly_max_trial_count(tmp_path: Path, parallel: int, budget: int) -> None:
    doc = make_experiment(["sh", "-c", 'echo "loss=$1"', "sh", "${trialParameters.x}"],
                          parallelTrialCount=parallel, maxTrialCount=budget)  # fmt: skip
    status = run_controller(doc, tmp_path)
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    trials = trials_of(tmp_path, "e2e")
    assert len(trials) == status["trials"] == status["trialsSucceeded"] == budget
    # Each trial's objective is the value it was given.
    for trial in trials:
        assert trial.objective_value == pytest.approx(float(trial.parameter_assignments["x"]))
    best = min(trials, key=lambda t: t.objective_value or 1.0)
    assert status["currentOptimalTrial"]["bestTrialName"] == best.name


def test_grid_exhaustion_ends_with_suggestion_end(tmp_path: Path) -> None:
    values = ["0.4", "0.1", "0.3", "0.2"]
    doc = outcomes_experiment(values, parallelTrialCount=3)
    status = run_controller(doc, tmp_path)
    assert end_condition(status) == ("Succeeded", "ExperimentSuggestionEndReached")
    assert status["trials"] == status["trialsSucceeded"] == 4
    assert sorted(by_value(tmp_path)) == sorted(values)  # every grid point once
    assert status["currentOptimalTrial"]["parameterAssignments"] == [{"name": "v", "value": "0.1"}]


# Three trials whose best differs by strategy (minimize): min picks a, latest picks b, max picks c.
SERIES = r"""
case "$1" in
  a) printf 'loss=0.1\nloss=0.9\n' ;;
  b) printf 'loss=0.5\nloss=0.2\n' ;;
  c) printf 'loss=0.4\nloss=0.3\nloss=0.4\n' ;;
esac
"""


@pytest.mark.parametrize(
    ("strategy", "best", "summary"),
    [
        ("min", "a", {"min": "0.1", "max": "0.9", "latest": "0.9"}),
        ("latest", "b", {"min": "0.2", "max": "0.5", "latest": "0.2"}),
        ("max", "c", {"min": "0.3", "max": "0.4", "latest": "0.4"}),
    ],
)
def test_optimal_trial_follows_the_metric_strategy(
    tmp_path: Path, strategy: str, best: str, summary: dict[str, str]
) -> None:
    doc = make_experiment(
        ["sh", "-c", SERIES, "sh", "${trialParameters.v}"],
        parameters=[categorical("v", ["a", "b", "c"])],
        objective={"type": "minimize", "objectiveMetricName": "loss",
                   "metricStrategies": [{"name": "loss", "value": strategy}]},
        algorithm={"algorithmName": "grid"},
        parallelTrialCount=3,
        maxTrialCount=None,
    )  # fmt: skip
    status = run_controller(doc, tmp_path)
    optimal = status["currentOptimalTrial"]
    assert optimal["parameterAssignments"] == [{"name": "v", "value": best}]
    assert optimal["observation"]["metrics"] == [{"name": "loss", **summary}]
    trials = by_value(tmp_path)
    assert trials[best].objective_value == pytest.approx(float(summary[strategy]))


def test_conditions_of_a_succeeded_experiment(tmp_path: Path) -> None:
    doc = make_experiment(["sh", "-c", "echo loss=0.5"], parallelTrialCount=2, maxTrialCount=2)
    status = run_controller(doc, tmp_path)
    assert [c["type"] for c in status["conditions"]] == ["Created", "Running", "Succeeded"]
    created, running, succeeded = status["conditions"]
    assert (created["status"], created["reason"]) == ("True", "ExperimentCreated")
    assert (running["status"], running["reason"]) == ("False", "ExperimentMaxTrialsReached")
    assert (succeeded["status"], succeeded["reason"]) == ("True", "ExperimentMaxTrialsReached")
    assert succeeded["message"] == "Experiment has succeeded because max trial count has reached"
    assert status["startTime"] <= status["completionTime"]


def test_conditions_of_a_failed_experiment(tmp_path: Path) -> None:
    doc = make_experiment(["sh", "-c", "exit 1"], parallelTrialCount=1, maxTrialCount=2, maxFailedTrialCount=1)
    status = run_controller(doc, tmp_path)
    assert [c["type"] for c in status["conditions"]] == ["Created", "Running", "Failed"]
    running, failed = status["conditions"][1:]
    assert (running["status"], running["reason"]) == ("False", "ExperimentFailed")
    assert (failed["status"], failed["reason"]) == ("True", "ExperimentFailed")
    assert "completionTime" in status


def test_status_counts_and_lists_match_the_store(tmp_path: Path) -> None:
    doc = outcomes_experiment(["0.2", "0.4", "fail", "nometric", "0.3"], parallelTrialCount=2)
    status = run_controller(doc, tmp_path)
    assert end_condition(status) == ("Succeeded", "ExperimentSuggestionEndReached")
    trials = trials_of(tmp_path, "e2e")
    phases: dict[str, set[str]] = {}
    for trial in trials:
        phases.setdefault(str(trial.phase), set()).add(trial.name)
    assert status["trials"] == len(trials) == 5
    for phase, count_key, list_key in [
        ("Succeeded", "trialsSucceeded", "succeededTrialList"),
        ("Failed", "trialsFailed", "failedTrialList"),
        ("MetricsUnavailable", "trialMetricsUnavailable", "metricsUnavailableTrialList"),
    ]:
        assert status[count_key] == len(phases.get(phase, ())), phase
        assert set(status.get(list_key, [])) == phases.get(phase, set()), phase
    assert (status["trialsSucceeded"], status["trialsFailed"], status["trialMetricsUnavailable"]) == (3, 1, 1)
    assert (status["trialsKilled"], status["trialsRunning"], status["trialsPending"]) == (0, 0, 0)
    assert not {"runningTrialList", "pendingTrialList", "killedTrialList"} & status.keys()
    # The stored objective values agree with the optimum in the status.
    best = status["currentOptimalTrial"]["bestTrialName"]
    assert by_value(tmp_path)["0.2"].name == best


def test_two_experiments_run_one_after_the_other_in_one_process(tmp_path: Path) -> None:
    """The controller is reusable (the SDK runs many experiments in one process, each with asyncio.run)."""
    for name in ("first", "second"):
        doc = make_experiment(["sh", "-c", "echo loss=0.5"], name=name, parallelTrialCount=2, maxTrialCount=2)
        status = run_controller(doc, tmp_path)
        assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
        assert len(trials_of(tmp_path, name)) == 2


def test_an_experiment_runs_in_a_worker_thread_after_one_in_the_main_thread(tmp_path: Path) -> None:
    doc = make_experiment(["sh", "-c", "echo loss=0.5"], name="main", parallelTrialCount=2, maxTrialCount=2)
    assert end_condition(run_controller(doc, tmp_path)) == ("Succeeded", "ExperimentMaxTrialsReached")
    results: dict[str, Any] = {}

    def in_thread() -> None:
        doc = make_experiment(["sh", "-c", "echo loss=0.5"], name="thread", parallelTrialCount=2, maxTrialCount=2)
        results["status"] = run_controller(doc, tmp_path)

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join(timeout=60)
    assert "status" in results
    trials = trials_of(tmp_path, "thread")
    assert [t.phase for t in trials] == ["Succeeded", "Succeeded"], [t.message for t in trials]
    assert results["status"]["trialsSucceeded"] == 2
