"""The controller dies or is interrupted mid-run; ``pykatib run --resume`` carries on from the store.

Trials run in sessions of their own, so a controller killed with SIGKILL leaves them running; the restarted
controller re-attaches to them (or reads the exit records of those that ended meanwhile).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2e_support import (
    end_condition,
    group_members,
    make_experiment,
    observations_of,
    opened_store,
    run_pykatib,
    start_pykatib,
    trial_dir,
    trials_of,
    write_experiment,
    write_script,
)
from pykatib.dbmanager import PORT_FILE
from pykatib.store import TrialRecord, experiment_dir

BUDGET, PARALLEL, LINES = 12, 3, 4
REPLACES = "pykatib.kubeflow.org/replaces"

TRIAL = f"""
import sys, time
x, pause = float(sys.argv[1]), float(sys.argv[2])
for step in range({LINES}):
    time.sleep(pause)
    print(f"step={{step}} loss={{x + step}}", flush=True)
"""


def start(
    tmp_path: Path, workdir: Path, budget: int = BUDGET, pause: float = 0.15
) -> tuple[Path, subprocess.Popen[str]]:
    """``pykatib run`` in the background: ``budget`` trials, PARALLEL at a time, each printing LINES metric
    lines ``pause`` seconds apart."""
    script = write_script(tmp_path, "trial.py", TRIAL)
    doc = make_experiment(["python3", str(script), "${trialParameters.x}", str(pause)],
                          parallelTrialCount=PARALLEL, maxTrialCount=budget)  # fmt: skip
    path = write_experiment(tmp_path, doc)
    return path, start_pykatib(path, "--workdir", str(workdir))


def wait_for(
    workdir: Path, proc: subprocess.Popen[str], ready: Callable[[list[TrialRecord]], bool], timeout: float = 60
) -> list[TrialRecord]:
    """Poll the store until ``ready(trials)``; the runner must still be running."""
    trials_root = experiment_dir(workdir, "default", "e2e") / "trials"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        # Trial directories exist only after the runner has created the database and its trials.
        if trials_root.is_dir() and any(trials_root.iterdir()):
            trials = trials_of(workdir, "e2e")
            if ready(trials):
                return trials
        time.sleep(0.05)
    raise AssertionError("the run never reached the awaited state")


def some_done_some_running(trials: list[TrialRecord]) -> bool:
    phases = [t.phase for t in trials]
    return phases.count("Succeeded") >= 3 and "Running" in phases


def process_groups(workdir: Path) -> dict[str, int]:
    """Trial name -> its process group (the wrapper's pid), for every trial that has started."""
    groups = {}
    for directory in (experiment_dir(workdir, "default", "e2e") / "trials").iterdir():
        processes = directory / "processes.json"
        if processes.is_file():
            [record] = json.loads(processes.read_text())["processes"]
            groups[directory.name] = record["pid"]
    return groups


def stored_status(workdir: Path) -> dict[str, Any]:
    with opened_store(workdir) as store:
        record = store.get_experiment("e2e", "default")
        assert record is not None
        return record.status


def exited(workdir: Path, trial: str) -> bool:
    return (trial_dir(workdir, "e2e", trial) / ".job-0.exit").is_file()


def assert_each_trial_reported_every_line_once(workdir: Path, trials: list[TrialRecord]) -> None:
    for trial in trials:
        x = float(trial.parameter_assignments["x"])
        values = sorted(v for _, v, _ in observations_of(workdir, trial.name))
        assert values == [x + step for step in range(LINES)], trial.name


def test_runner_killed_then_resumed_reattaches_to_running_trials(tmp_path: Path, workdir: Path) -> None:
    path, proc = start(tmp_path, workdir)
    wait_for(workdir, proc, some_done_some_running)
    proc.kill()  # SIGKILL: no cleanup at all
    proc.communicate()
    before = {t.name: t for t in trials_of(workdir, "e2e")}
    groups = process_groups(workdir)
    running = [name for name, t in before.items() if t.phase == "Running"]
    succeeded = [name for name, t in before.items() if t.phase == "Succeeded"]
    assert running and len(succeeded) >= 3
    # The trials outlived their controller (the few that just ended left their exit record).
    alive = [name for name in running if group_members(groups[name])]
    assert alive, "no trial survived the controller"
    assert all(name in alive or exited(workdir, name) for name in running)
    observed = {name: observations_of(workdir, name) for name in succeeded}

    rc, status, stderr = run_pykatib(path, "--workdir", str(workdir), "--resume")
    assert rc == 0, stderr
    assert status is not None
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    after = {t.name: t for t in trials_of(workdir, "e2e")}
    assert len(after) == status["trials"] == status["trialsSucceeded"] == BUDGET  # no extra trial
    assert all(t.phase == "Succeeded" for t in after.values())
    assert not any(REPLACES in t.labels for t in after.values())  # nothing was lost
    for name in succeeded:  # finished before the kill: untouched
        assert observations_of(workdir, name) == observed[name]
        assert after[name].objective_value == before[name].objective_value
    for name in running:  # followed to their end by the new controller
        assert after[name].parameter_assignments == before[name].parameter_assignments
    # Re-reading the logs of re-attached trials stores no observation twice.
    assert_each_trial_reported_every_line_once(workdir, list(after.values()))


def test_ctrl_c_stops_trials_and_resume_runs_them_again(tmp_path: Path, workdir: Path) -> None:
    path, proc = start(tmp_path, workdir)
    wait_for(workdir, proc, lambda trials: sum(t.phase == "Running" for t in trials) >= 2)
    time.sleep(0.1)  # let the trial processes start printing
    groups = process_groups(workdir)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr
    # No trial process is left behind.
    assert groups
    assert {name: group_members(pgid) for name, pgid in groups.items() if group_members(pgid)} == {}
    interrupted = [t for t in trials_of(workdir, "e2e") if t.reason == "TrialInterrupted"]
    assert interrupted
    assert all(t.phase == "Created" for t in interrupted)
    status = stored_status(workdir)
    assert status["trialsRunning"] == 0
    assert not any(c["type"] in ("Succeeded", "Failed") for c in status["conditions"])

    rc, status, stderr = run_pykatib(path, "--workdir", str(workdir), "--resume")
    assert rc == 0, stderr
    assert status is not None
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    after = {t.name: t for t in trials_of(workdir, "e2e")}
    assert len(after) == status["trials"] == status["trialsSucceeded"] == BUDGET
    for trial in interrupted:  # run again under the same name, with the same assignment
        assert after[trial.name].phase == "Succeeded"
        assert after[trial.name].parameter_assignments == trial.parameter_assignments


def test_rerun_of_an_interrupted_trial_keeps_only_its_own_observations(tmp_path: Path, workdir: Path) -> None:
    path, proc = start(tmp_path, workdir, budget=PARALLEL, pause=0.4)

    def reporting(trials: list[TrialRecord]) -> bool:
        return any(t.phase == "Running" and observations_of(workdir, t.name) for t in trials)

    wait_for(workdir, proc, reporting)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    interrupted = [t for t in trials_of(workdir, "e2e") if t.reason == "TrialInterrupted"]
    # The aborted run's observations and files are dropped at once: the trial starts again from nothing.
    assert interrupted and not any(observations_of(workdir, t.name) for t in interrupted)
    rc, _, stderr = run_pykatib(path, "--workdir", str(workdir), "--resume")
    assert rc == 0, stderr
    assert_each_trial_reported_every_line_once(workdir, interrupted)


# Worker 0 stops the controller (its grandparent: worker <- exit-recording wrapper <- controller) while the
# controller is still starting the other 39 replicas, i.e. before it records the trial's processes.
STOP_CONTROLLER = r"""
marker="$2/stopped-once"
case "$TF_CONFIG" in *'"index": 0}'*)
  if [ ! -e "$marker" ]; then
    touch "$marker"
    controller=$(awk '{print $4}' /proc/$PPID/stat)
    kill -STOP "$controller"
  fi
  echo "loss=$1" ;;
esac
"""


def test_trial_started_but_not_yet_recorded_is_not_run_twice(tmp_path: Path, workdir: Path) -> None:
    doc = make_experiment(["sh"], parallelTrialCount=1, maxTrialCount=1)
    doc["spec"]["trialTemplate"] = {
        "primaryContainerName": "tensorflow",
        "trialParameters": [{"name": "x", "reference": "x"}],
        "trialSpec": {
            "apiVersion": "kubeflow.org/v1",
            "kind": "TFJob",
            "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 40, "restartPolicy": "OnFailure", "template": {
                "spec": {"containers": [{"name": "tensorflow", "image": "local/test",
                                         "command": ["sh", "-c", STOP_CONTROLLER, "sh", "${trialParameters.x}",
                                                     str(tmp_path)]}]}}}}},
        },
    }  # fmt: skip
    path = write_experiment(tmp_path, doc)
    proc = start_pykatib(path, "--workdir", str(workdir))
    deadline = time.monotonic() + 30
    while not _stopped(proc.pid):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the controller was never stopped by worker 0: {proc.communicate()}")
        time.sleep(0.01)
    proc.kill()
    proc.communicate()
    [trial] = trials_of(workdir, "e2e")
    recorded = trial_dir(workdir, "e2e", trial.name) / "processes.json"
    started = json.loads(recorded.read_text()) if recorded.exists() else {"expected": 40, "processes": []}
    if trial.phase != "Created" or len(started["processes"]) >= started["expected"]:
        raise RuntimeError(f"the controller got further than intended: {trial.phase}")
    rc, status, stderr = run_pykatib(path, "--workdir", str(workdir), "--resume")
    if rc != 0 or status is None:
        raise RuntimeError(stderr)
    # Each run of worker 0 prints one metric line: no trial may hold the lines of two runs.
    for record in trials_of(workdir, "e2e"):
        assert len(observations_of(workdir, record.name)) <= 1, record.name


def _stopped(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except (OSError, IndexError):
        return False


def test_machine_restart_replaces_lost_trials(tmp_path: Path, workdir: Path) -> None:
    path, proc = start(tmp_path, workdir)
    wait_for(workdir, proc, some_done_some_running)
    proc.kill()
    proc.communicate()
    # The machine goes down: every trial process dies with the controller, leaving no exit record.
    groups = process_groups(workdir)
    for pgid in groups.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(group_members(pgid) for pgid in groups.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    lost = {name for name in groups if not exited(workdir, name)}
    assert lost
    before = {t.name: t for t in trials_of(workdir, "e2e")}

    rc, status, stderr = run_pykatib(path, "--workdir", str(workdir), "--resume")
    assert rc == 0, stderr
    assert status is not None
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    after = trials_of(workdir, "e2e")
    replacements = {t.labels[REPLACES]: t for t in after if REPLACES in t.labels}
    assert set(replacements) == lost
    for name in lost:
        old = next(t for t in after if t.name == name)
        assert (old.phase, old.reason) == ("Killed", "TrialLost")
        assert replacements[name].parameter_assignments == before[name].parameter_assignments
        assert replacements[name].phase == "Succeeded"
    counted = [t for t in after if t.reason != "TrialLost"]
    assert len(counted) == BUDGET  # lost trials use no budget: their replacements do
    assert all(t.phase == "Succeeded" for t in counted)
    assert status["trials"] == BUDGET + len(lost)
    assert (status["trialsSucceeded"], status["trialsKilled"]) == (BUDGET, len(lost))
    assert_each_trial_reported_every_line_once(workdir, [t for t in counted if t.name not in before])


def test_an_experiment_of_the_older_layout_keeps_its_trials_together(tmp_path: Path, workdir: Path) -> None:
    """Trial directories were once keyed by experiment name only (experiments/<name>/trials). Resumed with a
    larger budget, such an experiment puts its new trials beside the old ones (a PBT child finds its parent's
    checkpoint next to its own directory), and delete removes them all."""
    doc = make_experiment(["sh", "-c", 'echo "loss=$1"', "sh", "${trialParameters.x}"], parallelTrialCount=1,
                          maxTrialCount=2, resumePolicy="LongRunning")  # fmt: skip
    path = write_experiment(tmp_path, doc)
    rc, _, stderr = run_pykatib(path, "--workdir", str(workdir))
    assert rc == 0, stderr
    old_root = workdir.resolve() / "experiments" / "e2e"
    (workdir / "experiments" / "default" / "e2e").rename(old_root)
    (workdir / "experiments" / "default").rmdir()
    with opened_store(workdir) as store:
        for trial in trials_of(workdir, "e2e"):  # what the older pykatib recorded
            store.update_trial(trial.id, work_dir=str(old_root / "trials" / trial.name))
    rc, _, stderr = run_pykatib(path, "--workdir", str(workdir), "--resume", "--set", "spec.maxTrialCount=4")
    assert rc == 0, stderr
    trials = trials_of(workdir, "e2e")
    assert len(trials) == 4
    assert all(Path(str(t.work_dir)).parent == old_root / "trials" for t in trials)
    assert all((old_root / "trials" / t.name / "trial.log").is_file() for t in trials)
    assert not (workdir / "experiments" / "default").exists()
    delete = subprocess.run([sys.executable, "-m", "pykatib.cli", "delete", "e2e", "--workdir", str(workdir)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert delete.returncode == 0, delete.stderr
    assert not any((old_root / "trials").iterdir())


# Trial code written for Katib: once the directory argv[1] (an existing path: the trial sees it as it is) holds
# "gate", one ReportObservationLog to Katib's address (which
# reaches the DB manager through the grpc_proxy the trial got at its start). A failed report fails the trial.
REPORT_AT_THE_GATE = """
import os, sys, time
import grpc
from pykatib.api import api_pb2, api_pb2_grpc
while not os.path.exists(os.path.join(sys.argv[1], "gate")):
    time.sleep(0.05)
log = api_pb2.MetricLog(time_stamp="", metric=api_pb2.Metric(name="loss", value=sys.argv[2]))
request = api_pb2.ReportObservationLogRequest(trial_name=os.environ["KATIB_TRIAL_NAME"],
                                              observation_log=api_pb2.ObservationLog(metric_logs=[log]))
with grpc.insecure_channel("katib-db-manager.kubeflow:6789") as channel:
    api_pb2_grpc.DBManagerStub(channel).ReportObservationLog(request, timeout=60)
"""


def test_a_trial_reattached_after_a_kill_reports_to_the_db_manager_of_the_resumed_run(
    tmp_path: Path, workdir: Path
) -> None:
    """A trial keeps the DB manager's port of the run that started it (grpc_proxy); the resumed run listens there
    again, so a report the trial sends after the kill reaches it and is stored."""
    gates = tmp_path / "gates"
    gates.mkdir()
    script = write_script(tmp_path, "trial.py", REPORT_AT_THE_GATE)
    doc = make_experiment(["python3", str(script), str(gates), "${trialParameters.x}"], parallelTrialCount=1,
                          maxTrialCount=1, metricsCollectorSpec={"collector": {"kind": "Push"}})  # fmt: skip
    path = write_experiment(tmp_path, doc)
    proc = start_pykatib(path, "--workdir", str(workdir))
    [trial] = wait_for(workdir, proc, lambda trials: [t.phase for t in trials] == ["Running"])
    proc.kill()  # SIGKILL: the trial keeps running, waiting for its gate
    proc.communicate()

    resumed = start_pykatib(path, "--workdir", str(workdir), "--resume")
    try:
        _wait_for_the_lease(workdir, resumed)
        _wait_for_a_listener(experiment_dir(workdir, "default", "e2e") / PORT_FILE, resumed)
        (gates / "gate").touch()
        stdout, stderr = resumed.communicate(timeout=120)
    finally:
        (gates / "gate").touch()  # the trial ends however the test does
        if resumed.poll() is None:
            resumed.kill()
            resumed.communicate()
    log = (trial_dir(workdir, "e2e", trial.name) / "trial.log").read_text()
    assert resumed.returncode == 0, f"{stderr}\n{log}"
    assert "warning" not in stderr, stderr
    [after] = trials_of(workdir, "e2e")
    assert (after.name, after.phase) == (trial.name, "Succeeded"), log
    x = float(trial.parameter_assignments["x"])
    assert [(metric, value) for metric, value, _ in observations_of(workdir, trial.name)] == [("loss", x)]
    assert json.loads(stdout)["status"]["currentOptimalTrial"]["bestTrialName"] == trial.name


def _wait_for_a_listener(port_file: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until the DB manager's port recorded in ``port_file`` takes connections (the run starts its DB manager once
    its controller holds the lease: a run refused for another's lease leaves that one's port alone)."""
    port = int(port_file.read_text())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on the DB manager's port {port}")


def _wait_for_the_lease(workdir: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until ``proc`` (a ``pykatib run``) holds the experiment's lease."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        with opened_store(workdir) as store:
            record = store.get_experiment("e2e", "default")
            lease = store.get_lease(record.id) if record is not None else None
        if lease is not None and lease.owner.pid == proc.pid:
            return
        time.sleep(0.05)
    raise AssertionError(f"pykatib run (pid {proc.pid}) never took the experiment's lease")
