"""Katib's own example experiments, run unchanged but for a small budget (``--set``), on the stand-in images.

The runs (one ``pykatib run`` process each, fixture ``example_runs`` in conftest.py) start together with
the first end-to-end test, so this module mostly collects results that are already there.

The examples of algorithms pykatib is still adding (OTHER_EXAMPLES) must either run like the others or be
refused up front, exit 2 with "is not available", before any trial starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from e2e_support import (
    ONE_TRIAL,
    OTHER_EXAMPLES,
    PROJECT,
    PROJECT_EXAMPLES,
    RUNNABLE_EXAMPLES,
    UNCHANGED_EXAMPLES,
    BackgroundRuns,
    end_condition,
    opened_store,
)
from pykatib.control.session import RunRefused, check_runnable
from pykatib.execute.localize import default_image_map
from pykatib.spec.loader import load_experiment_document


def _trial_report(workdir: Path, status: dict[str, Any]) -> str:
    """What each trial did, for a failure message."""
    lines = [json.dumps({k: v for k, v in status.items() if k.startswith("trial")})]
    for log in sorted(workdir.glob("experiments/*/*/trials/*/*.log")):
        tail = log.read_text(errors="replace")[-600:]
        lines.append(f"--- {log.relative_to(workdir)}\n{tail}")
    return "\n".join(lines)


def refusal(example: str) -> str | None:
    """Why pykatib refuses to run the example before starting anything, or None when it runs it."""
    document = load_experiment_document(PROJECT / example, overrides=ONE_TRIAL[1::2])
    experiment = document.experiment
    assert experiment is not None and experiment.spec.trial_template is not None
    trial_spec = document.sample_trial_spec if experiment.spec.trial_template.config_map else None
    try:
        check_runnable(experiment, default_image_map(), trial_spec)
    except RunRefused as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("example", RUNNABLE_EXAMPLES)
def test_example_succeeds(example_runs: BackgroundRuns, example: str) -> None:
    assert_succeeded(example_runs, example)


@pytest.mark.parametrize("example", list(UNCHANGED_EXAMPLES))
def test_example_succeeds_unchanged(example_runs: BackgroundRuns, example: str) -> None:
    assert_succeeded(example_runs, example, trials=UNCHANGED_EXAMPLES[example])


@pytest.mark.parametrize("example", list(PROJECT_EXAMPLES))
def test_project_example_succeeds(example_runs: BackgroundRuns, example: str) -> None:
    assert_succeeded(example_runs, example, trials=PROJECT_EXAMPLES[example][1])


@pytest.mark.parametrize("example", OTHER_EXAMPLES)
def test_example_runs_or_is_refused_as_not_available(example_runs: BackgroundRuns, example: str) -> None:
    reason = refusal(example)
    if reason is None:
        assert_succeeded(example_runs, example, trials=1)
        return
    assert "is not available" in reason  # an algorithm still to come, not any other problem
    rc, stdout, stderr = example_runs.wait(example)
    assert rc == 2, stderr[-3000:]
    assert "is not available" in stderr
    assert stdout == ""
    assert not (example_runs.workdir(example) / "experiments").exists()  # nothing was started


def assert_succeeded(example_runs: BackgroundRuns, example: str, trials: int = 3) -> None:
    workdir = example_runs.workdir(example)
    rc, stdout, stderr = example_runs.wait(example)
    assert rc == 0, stderr[-3000:]
    document = json.loads(stdout)
    status = document["status"]
    kind, reason = end_condition(status)
    assert kind == "Succeeded"
    assert reason in ("ExperimentMaxTrialsReached", "ExperimentGoalReached", "ExperimentSuggestionEndReached")
    report = _trial_report(workdir, status)
    assert status["trials"] == trials, report
    if reason != "ExperimentGoalReached":  # every trial ran to its end (early stopping is an end)
        assert status["trialsSucceeded"] + status["trialsEarlyStopped"] == trials, report
    else:  # the trials still running when a trial reached the goal were stopped
        assert status["trialsSucceeded"] >= 1, report
        assert status["trialsSucceeded"] + status["trialsKilled"] == trials, report
    # The objective was collected, the optimum names a trial the store has, with its assignment.
    objective = document["spec"]["objective"]["objectiveMetricName"]
    optimal = status["currentOptimalTrial"]
    assert objective in {m["name"] for m in optimal["observation"]["metrics"]}
    name = document["metadata"]["name"]
    namespace = document["metadata"]["namespace"]
    with opened_store(workdir) as store:
        record = store.get_experiment(name, namespace)
        assert record is not None
        trials = {t.name: t for t in store.list_trials(record.id)}
        best = trials[optimal["bestTrialName"]]
        assert {a["name"]: a["value"] for a in optimal["parameterAssignments"]} == best.parameter_assignments
        for trial in trials.values():
            if trial.phase in ("Succeeded", "EarlyStopped"):
                # A number, or text as Katib keeps it (DARTS' Best-Genotype): then the trial row holds no number.
                rows = store.list_observations(trial.id, objective)
                assert rows
                assert trial.objective_value is not None or isinstance(rows[-1].value, str)
            else:
                assert (trial.phase, trial.reason) == ("Killed", "TrialKilled")
    goal = document["spec"]["objective"].get("goal")
    if reason == "ExperimentGoalReached":
        maximize = document["spec"]["objective"]["type"] == "maximize"
        assert best.objective_value is not None
        assert best.objective_value >= goal if maximize else best.objective_value <= goal
