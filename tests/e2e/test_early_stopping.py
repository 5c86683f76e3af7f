"""medianstop on a real experiment: trials worse than the rule are stopped at their start_step-th report."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import (
    end_condition,
    make_experiment,
    observations_of,
    process_alive,
    run_controller,
    trials_of,
    write_script,
)

STEPS = 6
TRAINER = f"""
import os, sys, time
x = float(sys.argv[1])
with open(os.environ["KATIB_TRIAL_NAME"] + ".pid", "w") as f:
    f.write(str(os.getpid()))
for step in range({STEPS}):
    print(f"step {{step}} loss={{x + step * 0.001}}", flush=True)
    time.sleep(0.15)
"""


def test_medianstop_stops_trials_worse_than_the_rule(tmp_path: Path) -> None:
    script = write_script(tmp_path, "trainer.py", TRAINER)
    values = ["0.5", "0.1", "0.9", "0.3", "0.7", "0.2", "0.8", "0.6"]
    doc = make_experiment(
        ["python3", str(script), "${trialParameters.x}"],
        parameters=[{"name": "x", "parameterType": "discrete", "feasibleSpace": {"list": values}}],
        algorithm={"algorithmName": "grid", "algorithmSettings": [{"name": "random_state", "value": "3"}]},
        earlyStopping={
            "algorithmName": "medianstop",
            "algorithmSettings": [{"name": "min_trials_required", "value": "1"}, {"name": "start_step", "value": "2"}],
        },
        parallelTrialCount=1,
        maxTrialCount=len(values),
    )
    workdir = tmp_path / "state"
    status = run_controller(doc, workdir)
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    trials = trials_of(workdir, "e2e")
    stopped = [t for t in trials if t.phase == "EarlyStopped"]
    succeeded = [t for t in trials if t.phase == "Succeeded"]
    assert stopped and succeeded
    assert status["trialsEarlyStopped"] == len(stopped)
    assert status["trialsSucceeded"] + status["trialsEarlyStopped"] == len(values)  # EarlyStopped counts as done
    # Replay the rule over the trials in creation order (parallelTrialCount 1: each ends before the next).
    finished: list[float] = []
    for trial in trials:
        x = float(trial.parameter_assignments["x"])
        rule = sum(finished) / len(finished) if finished else None
        if trial.phase == "EarlyStopped":
            assert trial.reason == "TrialEarlyStopped"
            assert rule is not None and min(x, x + 0.001) > rule
            # Stopped at its second report: its observations are kept, the rest were never printed.
            assert 2 <= len(observations_of(workdir, trial.name)) < STEPS
            assert trial.objective_value is not None
            pid = int((Path(trial.work_dir or "") / f"{trial.name}.pid").read_text())
            assert not process_alive(pid)
        else:
            assert rule is None or x <= rule + 0.001
            assert len(observations_of(workdir, trial.name)) == STEPS
            finished.append(x + 0.0005)  # the mean of its first two reports
    assert status["currentOptimalTrial"]["bestTrialName"] in {t.name for t in succeeded + stopped}


# The same rule through each collector that streams: the trainer writes its reports where the collector reads.
STREAMING_TRAINER = f"""
import json, os, sys, time
x, kind, path = float(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(os.environ["KATIB_TRIAL_NAME"] + ".pid", "w") as f:
    f.write(str(os.getpid()))
for step in range({STEPS}):
    loss = x + step * 0.001
    if kind == "Push":
        from pykatib import report_metrics
        report_metrics({{"loss": loss}})
    elif kind == "TEXT":
        with open(path, "a") as out:
            out.write(f"step {{step}} loss={{loss}}\\n")
    else:
        with open(path, "a") as out:
            out.write(json.dumps({{"loss": str(loss), "step": str(step)}}) + "\\n")
    time.sleep(0.15)
"""
PATHS = {"TEXT": "/var/log/katib/metrics.log", "JSON": "/var/log/katib/metrics.json"}
COLLECTORS = {
    "Push": {"collector": {"kind": "Push"}},
    "TEXT": {
        "collector": {"kind": "File"},
        "source": {"fileSystemPath": {"path": "/var/log/katib/metrics.log", "kind": "File", "format": "TEXT"}},
    },
    "JSON": {
        "collector": {"kind": "File"},
        "source": {"fileSystemPath": {"path": "/var/log/katib/metrics.json", "kind": "File", "format": "JSON"}},
    },
}


@pytest.mark.parametrize("kind", list(COLLECTORS))
def test_medianstop_works_with_every_streaming_collector(tmp_path: Path, kind: str) -> None:
    script = write_script(tmp_path, "trainer.py", STREAMING_TRAINER)
    values = ["0.1", "0.9", "0.2", "0.8"]
    doc = make_experiment(
        # The metrics path as an argument: pykatib redirects it into the trial's own directory.
        ["python3", str(script), "${trialParameters.x}", kind, PATHS.get(kind, "-")],
        parameters=[{"name": "x", "parameterType": "discrete", "feasibleSpace": {"list": values}}],
        algorithm={"algorithmName": "grid", "algorithmSettings": [{"name": "random_state", "value": "3"}]},
        earlyStopping={
            "algorithmName": "medianstop",
            "algorithmSettings": [{"name": "min_trials_required", "value": "1"}, {"name": "start_step", "value": "2"}],
        },
        metricsCollectorSpec=COLLECTORS[kind],
        parallelTrialCount=1,
        maxTrialCount=len(values),
    )
    workdir = tmp_path / "state"
    status = run_controller(doc, workdir)
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    trials = trials_of(workdir, "e2e")
    stopped = [t for t in trials if t.phase == "EarlyStopped"]
    assert stopped, [(t.parameter_assignments, t.phase, t.message) for t in trials]
    best_done = min(float(t.parameter_assignments["x"]) for t in trials if t.phase == "Succeeded")
    for trial in stopped:
        assert float(trial.parameter_assignments["x"]) > best_done  # only worse trials are stopped
        assert 2 <= len(observations_of(workdir, trial.name)) < STEPS
        pid = int((Path(trial.work_dir or "") / f"{trial.name}.pid").read_text())
        assert not process_alive(pid)
