"""hyperband through ``pykatib run``: brackets queued on fewer slots than their size, a runner killed
mid-bracket and resumed, and the end of the last bracket ending the experiment."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import defaultdict
from pathlib import Path

from e2e_support import (
    end_condition,
    make_experiment,
    run_pykatib,
    start_pykatib,
    trial_dir,
    trials_of,
    write_experiment,
    write_script,
)
from pykatib.control.runner import REPLACES_LABEL
from pykatib.store import TrialRecord
from pykatib.suggest.hyperband import BRACKET_LABEL, PARENT_LABEL, RUNG_LABEL, SLOT_LABEL, schedule

# The value reaches the script as $1, never as shell text; the loss is x itself, so the best are known.
COMMAND = ["sh", "-c", 'sleep 0.2; echo "epochs=$2 loss=$1"', "sh", "${trialParameters.x}", "${trialParameters.epochs}"]


def hyperband_experiment(command: list[str], r_l: int, max_epochs: int, **spec: object) -> dict[str, object]:
    """x in [0.1, 0.9] (the loss the trials report) and epochs (hyperband's resource), eta 3."""
    return make_experiment(
        command,
        parameters=[
            {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.9"}},
            {"name": "epochs", "parameterType": "int", "feasibleSpace": {"min": "1", "max": str(max_epochs)}},
        ],
        algorithm={
            "algorithmName": "hyperband",
            "algorithmSettings": [
                {"name": "r_l", "value": str(r_l)},
                {"name": "eta", "value": "3"},
                {"name": "resource_name", "value": "epochs"},
                {"name": "random_state", "value": "11"},
            ],
        },
        maxTrialCount=100,
        **spec,
    )


def experiment(tmp_path: Path) -> Path:
    # parallelTrialCount 2: Katib would refuse this, its largest bracket has 9 trials.
    return write_experiment(tmp_path, hyperband_experiment(COMMAND, 9, 9, parallelTrialCount=2))


def rungs(trials: list[TrialRecord]) -> dict[tuple[int, int], dict[int, TrialRecord]]:
    """(bracket, rung) -> slot -> the trial that stands for it (a replacement over the trial it replaced)."""
    out: dict[tuple[int, int], dict[int, TrialRecord]] = defaultdict(dict)
    for trial in trials:
        labels = trial.labels
        out[(int(labels[BRACKET_LABEL]), int(labels[RUNG_LABEL]))][int(labels[SLOT_LABEL])] = trial
    return out


def assert_katibs_brackets(trials: list[TrialRecord]) -> None:
    by_rung = rungs(trials)
    by_name = {t.name: t for t in trials}
    plan = schedule(9, 3)
    assert list(by_rung) == [(r.bracket, r.index) for r in plan]
    for rung in plan:
        members = by_rung[(rung.bracket, rung.index)]
        assert sorted(members) == list(range(rung.trials))
        assert all(t.phase == "Succeeded" for t in members.values())
        assert {t.parameter_assignments["epochs"] for t in members.values()} == {str(rung.resource)}
        if rung.index:
            previous = by_rung[(rung.bracket, rung.index - 1)].values()
            best = sorted(previous, key=lambda t: float(t.parameter_assignments["x"]))[: rung.trials]
            parents = [by_name[t.labels[PARENT_LABEL]] for t in members.values()]
            assert sorted(p.name for p in parents) == sorted(t.name for t in best)


def test_hyperband_runs_every_bracket_on_two_slots_and_ends_with_suggestion_end(tmp_path: Path) -> None:
    workdir = tmp_path / "state"
    rc, status, stderr = run_pykatib(experiment(tmp_path), "--workdir", str(workdir))
    assert rc == 0, stderr
    assert status is not None
    assert end_condition(status) == ("Succeeded", "ExperimentSuggestionEndReached")
    assert status["trials"] == sum(r.trials for r in schedule(9, 3)) == 23
    assert_katibs_brackets(trials_of(workdir, "e2e"))


def test_hyperband_resumes_mid_bracket(tmp_path: Path) -> None:
    workdir = tmp_path / "state"
    path = experiment(tmp_path)
    proc = start_pykatib(path, "--workdir", str(workdir))
    # Kill the runner inside the first bracket's second rung (its 9 trials done, some of the next 3 started).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        trials = trials_of(workdir, "e2e") if (workdir / "pykatib.db").exists() else []
        if any(t.labels.get(RUNG_LABEL) == "1" for t in trials):
            break
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    before = {t.name for t in trials_of(workdir, "e2e")}
    assert 9 < len(before) < 23
    rc, status, stderr = run_pykatib(path, "--workdir", str(workdir), "--resume")
    assert rc == 0, stderr
    assert status is not None
    assert end_condition(status) == ("Succeeded", "ExperimentSuggestionEndReached")
    trials = trials_of(workdir, "e2e")
    assert before <= {t.name for t in trials}  # nothing of the first run was dropped
    assert_katibs_brackets(trials)
    # No slot ran twice: the only extra trials are replacements of trials lost in the kill.
    lost = [t for t in trials if t.reason == "TrialLost"]
    assert len(trials) == 23 + len(lost)


# The first trial to start takes the lock and runs long (it will be lost); every other one is quick.
SLOW_FIRST = """
import os, sys, time
x, lock = sys.argv[1], os.path.join(sys.argv[3], "slow.lock")
try:
    os.close(os.open(lock, os.O_CREAT | os.O_EXCL))
    time.sleep(60)
except FileExistsError:
    time.sleep(0.2)
print(f"loss={x}", flush=True)
"""


def test_a_lost_trial_is_replaced_before_its_rung_is_ranked(tmp_path: Path) -> None:
    # r_l 3, eta 3: three one-epoch trials, the best of them at three epochs, then two at three epochs.
    script = write_script(tmp_path, "trial.py", SLOW_FIRST)
    # A directory that exists is passed as it is (a path still to be created would be each trial's own).
    lock = tmp_path / "locks"
    lock.mkdir()
    command = ["python3", str(script), "${trialParameters.x}", "${trialParameters.epochs}", str(lock)]
    doc = hyperband_experiment(command, 3, 3, parallelTrialCount=3)
    workdir = tmp_path / "state"
    path = write_experiment(tmp_path, doc)
    proc = start_pykatib(path, "--workdir", str(workdir))
    # Two trials of the first rung succeed while the slow one runs; then the controller dies, and so does
    # the slow trial's whole process group (its exit-recording wrapper too): the restarted controller finds
    # neither its process nor an exit status, and has free slots to fill.
    deadline = time.monotonic() + 60
    while not (workdir / "pykatib.db").exists() or [t.phase for t in trials_of(workdir, "e2e")].count("Succeeded") < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "two trials never succeeded"
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    # The store may not have heard of the last ends yet (the files are the record): the slow trial is the
    # one without an exit record.
    running = {}
    for trial in trials_of(workdir, "e2e"):
        [record] = json.loads((trial_dir(workdir, "e2e", trial.name) / "processes.json").read_text())["processes"]
        if not Path(record["exit_file"]).exists():
            running[trial.name] = record
    assert len(running) == 1, running
    [(victim, record)] = running.items()
    os.killpg(record["pid"], signal.SIGKILL)
    rc, status, stderr = run_pykatib(path, "--workdir", str(workdir), "--resume")
    assert rc == 0, stderr
    assert status is not None
    assert end_condition(status) == ("Succeeded", "ExperimentSuggestionEndReached")
    trials = trials_of(workdir, "e2e")
    by_name = {t.name: t for t in trials}
    assert by_name[victim].reason == "TrialLost"
    [replacement] = [t for t in trials if t.labels.get(REPLACES_LABEL) == victim]
    assert replacement.phase == "Succeeded"
    # The second rung was planned from all three slots, the replacement's result included.
    [second] = [t for t in trials if t.labels[RUNG_LABEL] == "1"]
    assert replacement.completion_time is not None
    assert second.created_at >= replacement.completion_time
    first = rungs(trials)[(1, 0)]
    best = min(first.values(), key=lambda t: float(t.parameter_assignments["x"]))
    assert second.labels[PARENT_LABEL] == best.name
    assert len(trials) == 6 + 1  # the schedule's six trials and the replacement
