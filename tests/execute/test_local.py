"""The local executor's exit-recording wrapper, driven directly."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pykatib.execute.local import LaunchSpec, LocalExecutor


def run_one(trial_dir: Path, argv: list[str], log_file: Path) -> dict[str, int | None]:
    async def go() -> dict[str, int | None]:
        launch = LaunchSpec("job-0", argv, dict(os.environ), str(trial_dir), log_file, True)
        running = await LocalExecutor().start("t", trial_dir, [launch])
        return await running.wait()

    return asyncio.run(go())


def test_the_wrapper_records_the_exit_status_and_the_output(tmp_path: Path) -> None:
    log = tmp_path / "trial.log"
    codes = run_one(tmp_path, ["sh", "-c", 'echo "out $1"; echo err >&2; exit 3', "sh", "a; b"], log)
    assert codes == {"job-0": 3}
    assert (tmp_path / ".job-0.exit").read_text().strip() == "3"
    assert log.read_text().splitlines() == ["out a; b", "err"]


def test_a_log_that_cannot_be_opened_is_a_recorded_failure_not_a_lost_trial(tmp_path: Path) -> None:
    # The record is what a restarted controller reads: a vanished trial would be replaced, a failed one not.
    codes = run_one(tmp_path, ["echo", "never runs"], tmp_path / "missing-dir" / "trial.log")
    assert codes == {"job-0": 126}
    assert (tmp_path / ".job-0.exit").read_text().strip() == "126"
