"""Replicas that end with the primary (an MPIJob's workers): stopped once the primary has ended, their exit
not counted; real processes through the local executor."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from pykatib.execute.local import PROCESSES_FILE, LaunchSpec, LocalExecutor


def launch(trial_dir: Path, key: str, argv: list[str], *, primary: bool = False, follows: bool = False) -> LaunchSpec:
    log = trial_dir / f"{key}.log"
    return LaunchSpec(key, argv, dict(os.environ), str(trial_dir), log, primary, ends_with_primary=follows)


def run(trial_dir: Path, launches: list[LaunchSpec]) -> tuple[dict[str, int | None], list[int]]:
    """Each replica's reported exit, and the process groups of the trial (to check that none is left)."""

    async def go() -> tuple[dict[str, int | None], list[int]]:
        running = await LocalExecutor().start("t", trial_dir, launches)
        return await running.wait(), [r.pid for r in running.records]

    return asyncio.run(go())


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs; a zombie waiting for init to reap it has ended."""
    for proc in Path("/proc").iterdir():
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def test_workers_are_stopped_when_the_launcher_succeeds_and_do_not_count(tmp_path: Path) -> None:
    codes, groups = run(tmp_path, [
        launch(tmp_path, "launcher-0", ["sh", "-c", "echo trained"], primary=True),
        launch(tmp_path, "worker-0", ["sleep", "365d"], follows=True),
        launch(tmp_path, "worker-1", ["sleep", "365d"], follows=True),
    ])  # fmt: skip
    assert codes == {"launcher-0": 0}  # the job's outcome is the launcher's
    assert not any(group_alive(g) for g in groups)
    assert (tmp_path / "launcher-0.log").read_text() == "trained\n"
    # A restarted controller knows which replicas follow the primary.
    records = json.loads((tmp_path / PROCESSES_FILE).read_text())["processes"]
    assert [r["ends_with_primary"] for r in records] == [False, True, True]


def test_a_failing_launcher_fails_the_job_and_stops_the_workers(tmp_path: Path) -> None:
    codes, groups = run(tmp_path, [
        launch(tmp_path, "launcher-0", ["sh", "-c", "exit 3"], primary=True),
        launch(tmp_path, "worker-0", ["sleep", "365d"], follows=True),
    ])  # fmt: skip
    assert codes == {"launcher-0": 3}
    assert not any(group_alive(g) for g in groups)


def test_a_worker_that_fails_first_does_not_fail_the_job_but_another_replica_does(tmp_path: Path) -> None:
    # The launcher ends only once the worker's exit is recorded: the worker surely failed first.
    worker_exit = tmp_path / ".worker-0.exit"
    wait_for_worker = f'while [ ! -s "{worker_exit}" ]; do sleep 0.05; done'
    codes, _ = run(tmp_path, [
        launch(tmp_path, "launcher-0", ["sh", "-c", wait_for_worker], primary=True),
        launch(tmp_path, "worker-0", ["sh", "-c", "exit 7"], follows=True),
        launch(tmp_path, "sidekick-0", ["sh", "-c", "exit 5"]),  # an ordinary replica: its exit counts
    ])  # fmt: skip
    assert worker_exit.read_text().strip() == "7"
    assert codes == {"launcher-0": 0, "sidekick-0": 5}
