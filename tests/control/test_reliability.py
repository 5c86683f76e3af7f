"""What the controller guarantees when things race or linger: a trial created in the step that ends the
experiment is stopped with it and changes no count; a trial's leftover children die with it.

The race is made deterministic by an executor that holds the start of every trial after the first two
(the real LocalExecutor underneath): the experiment's end is decided while that start is under way.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from e2e_support import end_condition, group_members, make_experiment, opened_store, process_alive, trials_of
from pykatib.control.runner import ExperimentController
from pykatib.execute.local import LaunchSpec, LocalExecutor, RunningTrial
from pykatib.spec.loader import parse_experiment

pytestmark = pytest.mark.usefixtures("store_backend")  # on SQLite, PostgreSQL and MariaDB

HOLD_SECONDS = 2.0


class HeldStart(LocalExecutor):
    """LocalExecutor whose starts after the first ``free`` ones wait HOLD_SECONDS first."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.starts = 0

    async def start(self, name: str, trial_dir: Path, launches: list[LaunchSpec]) -> RunningTrial:
        self.starts += 1
        if self.starts > self.free:
            await asyncio.sleep(HOLD_SECONDS)
        return await super().start(name, trial_dir, launches)


def run_with(doc: dict[str, Any], workdir: Path, executor: LocalExecutor) -> dict[str, Any]:
    with opened_store(workdir) as store:
        controller = ExperimentController(parse_experiment(doc), store, workdir=workdir, executor=executor)
        return asyncio.run(controller.run())


def roles_script(roles: Path) -> str:
    """The first trial to start fails at once, the second fails 0.5 s later, every later one runs 30 s."""
    return f"""
    if mkdir {roles}/now 2>/dev/null; then exit 1; fi
    if mkdir {roles}/late 2>/dev/null; then sleep 0.5; exit 1; fi
    echo $$ > pid; sleep 30; echo loss=0.5
    """


def gone(pid: int, within: float = 5.0) -> bool:
    """Whether the process ends within a few seconds (a signal is delivered, not awaited)."""
    deadline = time.monotonic() + within
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wrapper_pids(work_dir: str | None) -> list[int]:
    assert work_dir is not None
    path = Path(work_dir) / "processes.json"
    if not path.exists():
        return []  # never started: nothing can be running
    return [p["pid"] for p in json.loads(path.read_text())["processes"]]


@pytest.mark.parametrize("deadline", [None, 1], ids=["no-deadline", "activeDeadlineSeconds"])
def test_a_trial_created_as_the_experiment_fails_is_stopped_and_not_counted(
    tmp_path: Path, deadline: int | None
) -> None:
    roles = tmp_path / "roles"
    roles.mkdir()
    doc = make_experiment(
        ["sh", "-c", roles_script(roles), "sh", "${trialParameters.x}"],
        parallelTrialCount=2,
        maxTrialCount=6,
        maxFailedTrialCount=2,
        job_spec={"activeDeadlineSeconds": deadline} if deadline else None,
    )
    status = run_with(doc, tmp_path, HeldStart(free=2))
    assert end_condition(status) == ("Failed", "ExperimentFailed")
    trials = trials_of(tmp_path, "e2e")
    assert len(trials) == 3, [(t.name, t.phase) for t in trials]
    late = trials[2]
    # Created by the first failure's step, halted by the second's: Killed, and the counts are the decision's.
    assert (late.phase, late.reason) == ("Killed", "TrialKilled")
    assert (status["trialsFailed"], status["trialsKilled"]) == (2, 1)
    for pid in wrapper_pids(late.work_dir):
        assert group_members(pid) == []
    pid_file = Path(str(late.work_dir)) / "pid"
    if pid_file.exists():
        assert not process_alive(int(pid_file.read_text()))


def test_children_a_trial_leaves_behind_are_stopped_when_it_ends(tmp_path: Path) -> None:
    """A trial that starts a background process and exits 0: the process does not outlive the trial (a pod's
    teardown kills every container process); one that ignores SIGTERM is killed after the grace period."""
    script = """
    sleep 60 & echo $! > child.pid
    sh -c 'trap "" TERM; echo $$ > stubborn.pid; sleep 60' &
    sleep 0.2; echo loss=0.5
    """
    doc = make_experiment(["sh", "-c", script], parallelTrialCount=1, maxTrialCount=1)
    status = run_with(doc, tmp_path, LocalExecutor())
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    [trial] = trials_of(tmp_path, "e2e")
    assert trial.phase == "Succeeded"
    work = Path(str(trial.work_dir))
    for name in ("child.pid", "stubborn.pid"):
        found = list(work.rglob(name))
        assert found, f"{name} not written under {work}"
        assert gone(int(found[0].read_text())), name
    for pid in wrapper_pids(trial.work_dir):
        assert group_members(pid) == []


def test_a_failing_primary_replica_fails_the_trial_and_stops_the_others(tmp_path: Path) -> None:
    """A TFJob whose Chief exits 3 while its Worker would run 30 s: the trial Fails at once, its Worker is
    stopped, and the experiment ends. (Once, stopping the Worker made the controller take the trial's end
    for its own stop and wait for it forever.) The Worker writes its pid file whole, with a rename: stopped
    between the shell's open and its write, it once left an empty one."""
    doc = make_experiment(["sh"], parallelTrialCount=1, maxTrialCount=1, maxFailedTrialCount=1)

    def replica(script: str) -> dict[str, Any]:
        return {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [
            {"name": "tensorflow", "image": "local/test", "command": ["sh", "-c", script, "sh", "${trialParameters.x}"]}
        ]}}}  # fmt: skip

    doc["spec"]["trialTemplate"] = {
        "primaryContainerName": "tensorflow",
        "trialParameters": [{"name": "x", "reference": "x"}],
        "trialSpec": {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "spec": {"tfReplicaSpecs": {
            "Chief": replica("echo loss=$1; exit 3"),
            "Worker": replica("echo $$ > w.tmp && mv w.tmp worker.pid; sleep 30")}}},
    }  # fmt: skip
    with opened_store(tmp_path) as store:
        controller = ExperimentController(parse_experiment(doc), store, workdir=tmp_path)
        # A liveness bound, not a timing claim: the Worker would end on its own after 30 s.
        status = asyncio.run(asyncio.wait_for(controller.run(), timeout=25))
    assert end_condition(status) == ("Failed", "ExperimentFailed")
    [trial] = trials_of(tmp_path, "e2e")
    assert (trial.phase, trial.reason, trial.exit_code) == ("Failed", "TrialFailed", 3)
    assert "exited with 3" in str(trial.message)
    for pid_file in Path(str(trial.work_dir)).rglob("worker.pid"):
        assert gone(int(pid_file.read_text()))
