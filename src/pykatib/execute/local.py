"""Trials as local process groups that outlive the controller, like Katib's Jobs outlive its pods.

Each process runs in its own session (so killing the trial kills its whole group), writes stdout+stderr
to a file in the trial's directory, and is started through a tiny ``sh`` wrapper that records its exit
status in a file. A controller that dies and restarts re-attaches to processes still running and reads
the exit files of those that ended meanwhile; a process that vanished without an exit file is lost.
The trial's values reach the program as argv items: the wrapper passes ``"$@"`` and never parses them.

The controller that started a wrapper learns its end from a pidfd on its own event loop (no thread, no
asyncio child watcher) and takes the exit status from the wrapper itself, which exits with the status it
recorded; the exit file is what a restarted controller reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from pykatib.execute.base import LaunchSpec

__all__ = ["LaunchSpec", "LocalExecutor", "ProcessRecord", "RunningTrial"]

# "$0" is the exit file, "$1" the log, the rest the program and its arguments, each passed as one word.
# The wrapper opens the log itself (appending, stdout and stderr): creating a file is one of the dearest
# steps of starting a trial, and here it runs in the trial's process, not on the controller's thread.
# The status is written in place, not to a temporary file renamed with `mv`: mv is a program of its own,
# a fork and exec per trial. Readers take an empty or unparsable file for no record, which is what a
# wrapper killed while writing leaves either way.
# A log that cannot be opened is recorded as exit 126 (``command`` keeps the failed ``exec`` from ending the
# shell before it writes the record), so a restarted controller sees a failure, not a vanished trial.
WRAPPER = (
    'command exec >>"$1" 2>&1 || { echo 126 > "$0"; exit 126; }; '
    'shift; "$@"; code=$?; echo "$code" > "$0"; exit "$code"'
)
PROCESSES_FILE = "processes.json"
POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 3.0
# How long a sidecar (a Custom metrics collector) has, after SIGTERM, to report what the trial wrote last.
SIDECAR_GRACE_SECONDS = 30.0


@dataclass
class ProcessRecord:
    """What a restarted controller needs to find a trial's process again."""

    key: str
    pid: int
    exit_file: str
    log_file: str
    primary: bool
    sidecar: bool = False
    ends_with_primary: bool = False


class RunningTrial:
    """The processes of one trial, started here or re-attached after a restart (a ``base.TrialHandle``)."""

    def __init__(
        self,
        name: str,
        trial_dir: Path,
        records: list[ProcessRecord],
        exits: Mapping[int, asyncio.Future[int | None]] | None = None,
    ) -> None:
        self.name = name
        self.trial_dir = trial_dir
        self.records = records
        # pid -> the wrapper's exit status, for the processes this controller started (see _spawn).
        self._exits = dict(exits or {})
        self.stopping = False
        # Wrappers seen exiting while this object watched them, each with the task that stops what it left in
        # its process group. Only those: a re-attached wrapper found long dead may have had its pid, hence its
        # group id, handed to another process since.
        self._leftovers: dict[int, asyncio.Task[None]] = {}
        self._done: set[int] = set()  # wrappers known to have exited: stop() leaves their group ids alone
        self.replicas_ended = False  # every replica has exited; only sidecars may still run

    @property
    def primary_key(self) -> str:
        return next(r.key for r in self.records if r.primary)

    @property
    def pid(self) -> int | None:
        """The primary replica's wrapper: the leader of its process group."""
        return next(r.pid for r in self.records if r.primary)

    async def wait(self) -> dict[str, int | None]:
        """Exit code per process; None for a process that vanished without an exit record (lost).

        When the primary process fails, the other replicas are stopped: the job has failed. Replicas that end
        with the primary are stopped once it has ended, and their exit is not reported. Sidecars get SIGTERM
        once every replica has ended, and SIGKILL after SIDECAR_GRACE_SECONDS.
        """
        if len(self.records) == 1:  # the common case, without a task per process
            code = await self._wait_one(self.records[0])
            self.replicas_ended = True
            return {self.records[0].key: code}
        results: dict[str, int | None] = {}
        sidecars = [r for r in self.records if r.sidecar]
        followers = [r for r in self.records if r.ends_with_primary and not r.primary and not r.sidecar]
        pending = {r.key: asyncio.ensure_future(self._wait_one(r)) for r in self.records}
        primary = next(r.key for r in self.records if r.primary)
        try:
            results[primary] = await pending[primary]
            if results[primary] != 0:
                await self.stop()
            elif followers:
                await _terminate([r.pid for r in followers if r.pid not in self._done])
            for record in self.records:
                if record.key not in results and not record.sidecar and not record.ends_with_primary:
                    results[record.key] = await pending[record.key]
            for record in followers:
                await pending[record.key]  # stopped above: only their wrappers' ends are left to see
            self.replicas_ended = True
            if sidecars:
                await _end_sidecars([r.pid for r in sidecars if r.pid not in self._done])
                for record in sidecars:
                    await pending[record.key]
        finally:
            for future in pending.values():
                future.cancel()
        return results

    def _exited(self, record: ProcessRecord) -> None:
        """A replica's wrapper was seen exiting: stop what it left in its process group at once (before the
        group id can be handed out again), in a task of its own so that its exit is reported meanwhile."""
        self._done.add(record.pid)
        if record.pid not in self._leftovers and _group_exists(record.pid):
            self._leftovers[record.pid] = asyncio.ensure_future(_terminate([record.pid]))

    async def _wait_one(self, record: ProcessRecord) -> int | None:
        exited = self._exits.get(record.pid)
        if exited is not None:
            # Shielded: the future is shared with stop(), and cancelling this wait must not cancel it.
            code = await asyncio.shield(exited)
            self._exited(record)
            if code is not None and code >= 0:
                return code  # the wrapper exits with the status it recorded
            recorded = _read_exit_file(record.exit_file)
            # Killed by a signal, the wrapper writes nothing: report the signal as a negative code.
            return recorded if recorded is not None else code
        first = True
        while True:
            recorded = _read_exit_file(record.exit_file)
            if recorded is not None or not _alive(record):
                if first:
                    self._done.add(record.pid)
                else:
                    self._exited(record)
                # It may have written its record just before exiting.
                return recorded if recorded is not None else _read_exit_file(record.exit_file)
            first = False
            await asyncio.sleep(POLL_SECONDS)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM every process group of the trial, then SIGKILL whatever is left after ``grace``."""
        self.stopping = True
        # A replica known to have exited is left to its leftovers task (its group id may be reused by now).
        await _terminate([r.pid for r in self.records if r.pid not in self._done], grace)
        for exited in self._exits.values():
            await asyncio.shield(exited)


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
    return next(_live_members(pgid), None) is not None


def _live_members(pgid: int) -> Iterator[int]:
    """The processes of a process group that still run (zombies do not count), found in /proc."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            stat = _proc_stat(proc)
            if stat is not None and stat[1] == pgid and stat[0] != "Z":
                yield int(proc.name)


async def _terminate(groups: list[int], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM these process groups, then SIGKILL whatever is left after ``grace``, as a pod's teardown would
    (a trial being stopped; what a replica left behind after its program exited). The SIGKILL is sent even
    when the wait is cancelled (the controller ending meanwhile), so nothing survives the trial."""
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    await _kill_after(groups, grace)


async def _end_sidecars(wrappers: list[int]) -> None:
    """SIGTERM what each sidecar's wrapper runs (not the wrapper: a shell dies of it at once, and its exit
    status and the grace period with it), wait for the wrappers to end, then SIGKILL what is left."""
    for pgid in wrappers:
        for pid in list(_live_members(pgid)):
            if pid != pgid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGTERM)
    await _kill_after(wrappers, SIDECAR_GRACE_SECONDS)


async def _kill_after(groups: list[int], grace: float) -> None:
    """Wait up to ``grace`` for these process groups to end, then SIGKILL whatever is left (also when the wait
    is cancelled)."""
    try:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_group_alive(pgid) for pgid in groups):
            await asyncio.sleep(0.05)
    finally:
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)


def _group_exists(pgid: int) -> bool:
    """Whether any process (a zombie included) is in the group: one signal 0, no /proc scan."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _spawn(argv: list[str], *, cwd: str, env: dict[str, str]) -> tuple[int, asyncio.Future[int | None]]:
    """Start a process in its own session, without stdin, stdout or stderr (the wrapper redirects its own);
    return its pid and a future of its exit status.

    subprocess.Popen and a pidfd read by the running loop, instead of asyncio's subprocess transport and child
    watcher: a third less CPU per trial (measured), and any loop in any thread can wait for its children.
    The status is None when something else reaped the process (then only its exit file can tell).
    """
    loop = asyncio.get_running_loop()
    devnull = subprocess.DEVNULL
    process = subprocess.Popen(
        argv, stdin=devnull, stdout=devnull, stderr=devnull, cwd=cwd, env=env, start_new_session=True
    )
    exited: asyncio.Future[int | None] = loop.create_future()
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd here (not Linux, or a kernel before 5.3): a thread waits
        waiting = loop.run_in_executor(None, process.wait)
        waiting.add_done_callback(lambda done: None if exited.done() else exited.set_result(done.result()))
        return process.pid, exited

    def reap() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(process.pid, os.WNOHANG)
        except ChildProcessError:
            code = None
        else:
            code = os.waitstatus_to_exitcode(status)
        process.returncode = code if code is not None else -1  # reaped: Popen must not wait for it again
        if not exited.done():
            exited.set_result(code)

    loop.add_reader(pidfd, reap)
    return process.pid, exited


class LocalExecutor:
    """Starts trial processes on this machine and finds them again after a restart (a ``base.Executor``)."""

    async def start(self, name: str, trial_dir: Path, launches: list[LaunchSpec]) -> RunningTrial:
        trial_dir.mkdir(parents=True, exist_ok=True)
        records: list[ProcessRecord] = []
        exits: dict[int, asyncio.Future[int | None]] = {}
        try:
            for launch in launches:
                exit_file = trial_dir / f".{launch.key}.exit"
                exit_file.unlink(missing_ok=True)
                log_file = str(launch.log_file)
                argv = ["/bin/sh", "-c", WRAPPER, str(exit_file), log_file, *launch.argv]
                pid, exited = _spawn(argv, cwd=launch.cwd, env=launch.env)
                exits[pid] = exited
                records.append(ProcessRecord(launch.key, pid, str(exit_file), log_file, launch.primary, launch.sidecar,
                                             launch.ends_with_primary))  # fmt: skip
                # Recorded as each starts: a controller that dies mid-way leaves every started pid findable,
                # and the expected count tells a restarted one that the start was not complete.
                _write_records(trial_dir, records, expected=len(launches))
        except BaseException:
            await RunningTrial(name, trial_dir, records, exits).stop(grace=0)
            raise
        return RunningTrial(name, trial_dir, records, exits)

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

    def remove(self, trial_dir: Path) -> None:
        """Forget the trial's files; a process still running for it is stopped first."""
        self.discard(trial_dir)
        shutil.rmtree(trial_dir, ignore_errors=True)

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
    data = json.dumps({"expected": expected, "processes": [asdict(r) for r in records]}).encode()
    tmp = f"{trial_dir}/{PROCESSES_FILE}.tmp"
    # os-level calls: a text-mode open costs more than the write itself, once per trial start.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, f"{trial_dir}/{PROCESSES_FILE}")
