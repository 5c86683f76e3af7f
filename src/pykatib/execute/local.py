"""Trials as local process groups that outlive the controller, like Katib's Jobs outlive its pods.

Each process runs in its own session (so killing the trial kills its whole group), writes stdout+stderr
to a file in the trial's directory, and is started through a tiny ``sh`` wrapper that records its exit
status in a file. A controller that dies and restarts re-attaches to processes still running and reads
the exit files of those that ended meanwhile; a process that vanished without an exit file is lost.
The trial's values reach the program as argv items: the wrapper passes ``"$@"`` and never parses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

# "$0" is the exit file, "$@" the program and its arguments, each passed as one word.
WRAPPER = '"$@"; code=$?; echo "$code" > "$0.tmp" && mv "$0.tmp" "$0"; exit "$code"'
PROCESSES_FILE = "processes.json"
POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 3.0


@dataclass
class ProcessRecord:
    """What a restarted controller needs to find a trial's process again."""

    key: str
    pid: int
    exit_file: str
    log_file: str
    primary: bool


@dataclass
class LaunchSpec:
    key: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_file: Path
    primary: bool


class RunningTrial:
    """The processes of one trial, started here or re-attached after a restart."""

    def __init__(
        self,
        name: str,
        trial_dir: Path,
        records: list[ProcessRecord],
        children: Mapping[int, asyncio.subprocess.Process] | None = None,
    ) -> None:
        self.name = name
        self.trial_dir = trial_dir
        self.records = records
        self._children = dict(children or {})
        self.stopping = False

    @property
    def primary_log(self) -> Path:
        return Path(next(r.log_file for r in self.records if r.primary))

    async def wait(self) -> dict[str, int | None]:
        """Exit code per process; None for a process that vanished without an exit record (lost).

        When the primary process fails, the other replicas are stopped: the job has failed.
        """
        results: dict[str, int | None] = {}
        pending = {r.key: asyncio.ensure_future(self._wait_one(r)) for r in self.records}
        primary = next(r.key for r in self.records if r.primary)
        try:
            for key, future in pending.items():
                if key == primary:
                    results[key] = await future
                    if results[key] != 0 and len(pending) > 1:
                        await self.stop()
            for key, future in pending.items():
                if key not in results:
                    results[key] = await future
        finally:
            for future in pending.values():
                future.cancel()
        return results

    async def _wait_one(self, record: ProcessRecord) -> int | None:
        child = self._children.get(record.pid)
        if child is not None:
            code = await child.wait()
            recorded = _read_exit_file(record.exit_file)
            # Killed by a signal, the wrapper writes nothing: report the signal as a negative code.
            return recorded if recorded is not None else code
        while True:
            recorded = _read_exit_file(record.exit_file)
            if recorded is not None:
                return recorded
            if not _alive(record):
                return _read_exit_file(record.exit_file)  # it may have written just before exiting
            await asyncio.sleep(POLL_SECONDS)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM every process group of the trial, then SIGKILL whatever is left after ``grace``."""
        self.stopping = True
        for record in self.records:
            _signal_group(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_group_alive(r.pid) for r in self.records):
            await asyncio.sleep(0.05)
        for record in self.records:
            _signal_group(record.pid, signal.SIGKILL)
        for child in self._children.values():
            with contextlib.suppress(ProcessLookupError):
                await child.wait()


def _read_exit_file(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _alive(record: ProcessRecord) -> bool:
    """Whether the pid is still our wrapper (a reused pid of another program does not count)."""
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if record.exit_file.encode() not in cmdline:
        return False
    stat = _proc_stat(Path(f"/proc/{record.pid}"))
    return stat is not None and stat[0] != "Z"


def _proc_stat(proc: Path) -> tuple[str, int] | None:
    """(state, process group) of a /proc entry, or None when it is gone or unreadable."""
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs. Zombies do not count: an orphaned program waits for
    init to reap it, which can take seconds and would hold every stop for its whole grace period."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        stat = _proc_stat(proc)
        if stat is not None and stat[1] == pgid and stat[0] != "Z":
            return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class _RunningLoopPidfdWatcher(asyncio.AbstractChildWatcher):
    """Python 3.12's child watcher for 3.11: a pidfd read by whichever event loop started the child.

    3.11's own watchers either start a thread per child (about a millisecond per trial) or belong to one
    loop, which breaks the next experiment run from another thread (an SDK call, a server).
    """

    def add_child_handler(self, pid: int, callback: Callable[..., object], *args: object) -> None:
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        loop._add_reader(pidfd, self._do_wait, pid, pidfd, callback, args)  # type: ignore[attr-defined]

    def _do_wait(self, pid: int, pidfd: int, callback: Callable[..., object], args: tuple[object, ...]) -> None:
        asyncio.get_running_loop()._remove_reader(pidfd)  # type: ignore[attr-defined]
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            returncode = 255  # reaped elsewhere: what asyncio reports in that case
        else:
            returncode = os.waitstatus_to_exitcode(status)
        os.close(pidfd)
        callback(pid, returncode, *args)

    def remove_child_handler(self, pid: int) -> bool:
        return False

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass

    def close(self) -> None:
        pass

    def is_active(self) -> bool:
        return True

    def __enter__(self) -> _RunningLoopPidfdWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _use_pidfd_child_watcher() -> None:
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if not isinstance(asyncio.get_child_watcher(), _RunningLoopPidfdWatcher):
            asyncio.set_child_watcher(_RunningLoopPidfdWatcher())


class LocalExecutor:
    """Starts trial processes on this machine and finds them again after a restart."""

    async def start(self, name: str, trial_dir: Path, launches: list[LaunchSpec]) -> RunningTrial:
        _use_pidfd_child_watcher()
        trial_dir.mkdir(parents=True, exist_ok=True)
        records: list[ProcessRecord] = []
        children: dict[int, asyncio.subprocess.Process] = {}
        try:
            for launch in launches:
                exit_file = trial_dir / f".{launch.key}.exit"
                exit_file.unlink(missing_ok=True)
                with open(launch.log_file, "ab") as log:
                    child = await asyncio.create_subprocess_exec(
                        "/bin/sh", "-c", WRAPPER, str(exit_file), *launch.argv,
                        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                        cwd=launch.cwd, env=launch.env, start_new_session=True,
                    )  # fmt: skip
                children[child.pid] = child
                log_file = str(launch.log_file)
                records.append(ProcessRecord(launch.key, child.pid, str(exit_file), log_file, launch.primary))
                # Recorded as each starts: a controller that dies mid-way leaves every started pid findable,
                # and the expected count tells a restarted one that the start was not complete.
                _write_records(trial_dir, records, expected=len(launches))
        except BaseException:
            await RunningTrial(name, trial_dir, records, children).stop(grace=0)
            raise
        return RunningTrial(name, trial_dir, records, children)

    def reattach(self, name: str, trial_dir: Path) -> RunningTrial | None:
        """The trial's processes as recorded. None when it never started, or its start was cut short (then
        whatever did start is stopped, so that the trial can start again from nothing)."""
        try:
            data = json.loads((trial_dir / PROCESSES_FILE).read_text())
            records = [ProcessRecord(**item) for item in data["processes"]]
            expected = int(data["expected"])
        except (FileNotFoundError, ValueError, TypeError, KeyError):
            records, expected = [], 1
        if records and len(records) == expected:
            return RunningTrial(name, trial_dir, records)
        self.discard(trial_dir)
        return None

    def discard(self, trial_dir: Path) -> None:
        """Stop every process started for this trial directory, recorded or not (found by the exit-file
        path on the wrapper's command line), and forget them."""
        marker = f"{trial_dir}/.".encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"/bin/sh\0-c\0") and marker in cmdline:
                _signal_group(int(proc.name), signal.SIGKILL)
        (trial_dir / PROCESSES_FILE).unlink(missing_ok=True)


def _write_records(trial_dir: Path, records: list[ProcessRecord], expected: int) -> None:
    tmp = trial_dir / f"{PROCESSES_FILE}.tmp"
    tmp.write_text(json.dumps({"expected": expected, "processes": [asdict(r) for r in records]}))
    tmp.replace(trial_dir / PROCESSES_FILE)
