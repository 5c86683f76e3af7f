"""Exactly one controller drives an experiment: a second ``pykatib run --resume`` refuses while the first
runs, two resumes after a ``kill -9`` give one winner, and a controller whose lease was taken over stops.

Each case once ran the experiment twice over (34 Succeeded trials for maxTrialCount 20, assignments run
twice, observations stored twice, up to 6 trial processes for parallelTrialCount 3).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import update

from e2e_support import (
    group_members,
    make_experiment,
    observations_of,
    opened_store,
    start_pykatib,
    trials_of,
    write_experiment,
    write_script,
)
from pykatib.dbmanager import PORT_FILE
from pykatib.store import TrialRecord, experiment_dir
from pykatib.store.models import experiment_leases

BUDGET, PARALLEL = 12, 3
TRIAL = """
import sys, time
time.sleep(float(sys.argv[2]))
print(f"loss={sys.argv[1]}", flush=True)
"""


def experiment_file(tmp_path: Path, pause: float = 0.3) -> Path:
    script = write_script(tmp_path, "trial.py", TRIAL)
    doc = make_experiment(["python3", str(script), "${trialParameters.x}", str(pause)],
                          parallelTrialCount=PARALLEL, maxTrialCount=BUDGET)  # fmt: skip
    return write_experiment(tmp_path, doc)


def wait_until(workdir: Path, ready: Callable[[list[TrialRecord]], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (workdir / "pykatib.db").exists() and ready(trials_of(workdir, "e2e")):
            return
        time.sleep(0.05)
    raise AssertionError("the run never reached the awaited state")


def assert_ran_once(workdir: Path) -> None:
    """maxTrialCount Succeeded trials, each with its one observation; no assignment ran twice."""
    trials = trials_of(workdir, "e2e")
    succeeded = [t for t in trials if t.phase == "Succeeded"]
    assert len(succeeded) == BUDGET, [(t.name, t.phase, t.reason) for t in trials]
    for trial in succeeded:
        assert [name for name, _, _ in observations_of(workdir, trial.name)] == ["loss"], trial.name
    # Only a trial lost in a crash is run again (its replacement carries its assignment).
    assignments = [t.parameter_assignments["x"] for t in trials if t.reason != "TrialLost"]
    assert len(assignments) == len(set(assignments))


def take_over(workdir: Path) -> None:
    """What another host's acquire_lease writes once the running controller's lease has expired."""
    with opened_store(workdir) as store:
        record = store.get_experiment("e2e")
        assert record is not None
        with store.transaction(), store._write() as conn:
            conn.execute(
                update(experiment_leases)
                .where(experiment_leases.c.experiment_id == record.id)
                .values(owner_id="f" * 32, host="elsewhere.example", pid=1, process_key=None)
            )


def kill_everything(controller: subprocess.Popen[str], workdir: Path) -> None:
    """The controller and the trials it left to the (pretend) new owner."""
    with contextlib.suppress(ProcessLookupError):
        controller.kill()
    for trial in trials_of(workdir, "e2e"):
        if trial.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(trial.pid, signal.SIGKILL)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    _, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stderr


def test_a_second_controller_refuses_while_the_first_runs(tmp_path: Path, workdir: Path) -> None:
    path = experiment_file(tmp_path)
    first = start_pykatib(path, "--workdir", str(workdir))
    try:
        wait_until(workdir, lambda trials: len(trials) >= PARALLEL)
        port_file = experiment_dir(workdir, "default", "e2e") / PORT_FILE
        port = port_file.read_text()  # the first run's DB manager: its trials report there
        second = start_pykatib(path, "--workdir", str(workdir), "--resume")
        code, stderr = finish(second, timeout=60)
        assert code == 2, stderr
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, stderr
        assert "another controller" in lines[0] and f"pid {first.pid}" in lines[0], lines[0]
        assert port_file.read_text() == port  # the refused run took nothing of the first's
        code, stderr = finish(first)
        assert code == 0, stderr
    finally:
        with contextlib.suppress(ProcessLookupError):
            first.kill()
    assert_ran_once(workdir)


def test_two_resumes_after_a_kill_give_one_controller(tmp_path: Path, workdir: Path) -> None:
    path = experiment_file(tmp_path)
    first = start_pykatib(path, "--workdir", str(workdir))
    wait_until(workdir, lambda trials: sum(t.phase == "Succeeded" for t in trials) >= 3)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    resumes = [start_pykatib(path, "--workdir", str(workdir), "--resume") for _ in range(2)]
    outcomes = sorted(finish(proc) for proc in resumes)
    assert [code for code, _ in outcomes] == [0, 2], outcomes
    assert "another controller" in outcomes[1][1]
    assert_ran_once(workdir)


def test_a_controller_whose_lease_is_taken_over_stops_and_leaves_the_trials(tmp_path: Path, workdir: Path) -> None:
    """Another host's controller took the lease (this one hung past its expiry): this one must stop at its
    next renewal, with one line and exit 2, and leave the running trials to the new owner."""
    path = experiment_file(tmp_path, pause=30)
    first = start_pykatib(path, "--workdir", str(workdir))
    try:
        wait_until(workdir, lambda trials: sum(t.phase == "Running" for t in trials) == PARALLEL)
        take_over(workdir)
        code, stderr = finish(first, timeout=60)
        assert code == 2, stderr
        lines = [line for line in stderr.splitlines() if line.strip() and "error" in line]
        assert len(lines) == 1 and "taken over" in lines[0], stderr
        running = [t for t in trials_of(workdir, "e2e") if t.phase == "Running"]
        assert len(running) == PARALLEL
        assert all(t.pid is not None and group_members(t.pid) for t in running)
    finally:
        kill_everything(first, workdir)


def test_a_taken_over_controller_writes_nothing_more(tmp_path: Path, workdir: Path) -> None:
    """Trials end every 0.3 s, so the controller writes all the time: from the moment another controller
    holds the lease, no write of this one lands (each of its transactions starts by renewing its lease) and
    it starts no trial. Once, a controller woken after a stall created trials after it had lost the lease."""
    path = experiment_file(tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["maxTrialCount"] = 200
    path.write_text(yaml.safe_dump(doc))
    first = start_pykatib(path, "--workdir", str(workdir))
    try:
        wait_until(workdir, lambda trials: sum(t.phase == "Succeeded" for t in trials) >= PARALLEL)
        take_over(workdir)
        taken = datetime.now(UTC)
        before = {t.name: (t.phase, t.completion_time) for t in trials_of(workdir, "e2e")}
        code, stderr = finish(first, timeout=60)
        assert code == 2, stderr
        assert "taken over" in stderr.splitlines()[-1], stderr
        after = trials_of(workdir, "e2e")
        assert {t.name for t in after} == set(before), "trials were created after the lease was taken over"
        assert {t.name: (t.phase, t.completion_time) for t in after} == before, "trials changed after it"
        assert all(t.created_at <= taken for t in after)
    finally:
        kill_everything(first, workdir)
