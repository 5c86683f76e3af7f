"""The contract between the controller and whatever runs a trial's processes: local processes today
(``execute.local``), a Ray cluster or another executor later. The controller never sees pids or hosts.

Call order for one trial, as the controller makes it:

1. ``Executor.start(name, trial_dir, launches)`` once, with the replicas that ``control.launch`` prepared
   (one LaunchSpec per process, exactly one of them primary); it returns a :class:`TrialHandle` as soon as
   every replica has started. An exception leaves nothing running. A ``sidecar`` launch (a Custom metrics
   collector) runs beside the replicas: it is not a replica, and gets SIGTERM once they have all ended.
   A replica that ``ends_with_primary`` (an MPIJob's worker) is stopped as soon as the primary has ended.
2. ``TrialHandle.wait()`` once, while the controller polls the trial's metrics collector; it returns each
   replica's exit code when all have ended (None for a replica that vanished without one: a lost trial).
   When the primary fails, the handle stops the other replicas (the job has failed), and when they have
   all ended it stops whatever they left behind, as a pod's teardown would. The exit of a replica that
   ends with the primary is not in the result: the job's outcome is the primary's.
3. ``TrialHandle.stop()`` at any time (early stopping, deadline, the experiment's end): stops every
   replica; ``wait()`` then returns.

After a controller restart: ``Executor.reattach(name, trial_dir)`` for each trial the store says was started
gives a handle to its processes if they run or ran (their exit codes survive the controller), or None when
the trial never started or its start was cut short (whatever did start is stopped). A trial to run again
from nothing first has its files removed with ``Executor.remove(trial_dir)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class LaunchSpec:
    """One process of a trial: its argv (never passed through a shell), environment, working directory,
    the file its stdout and stderr go to, and whether it is the primary replica (whose exit decides), a
    sidecar (it runs until the replicas have ended, then has a grace period to finish; its code is not
    reported), or a replica that ends with the primary (stopped once the primary has ended, as the MPI
    operator deletes the workers once the launcher is done; its code is not reported)."""

    key: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_file: Path
    primary: bool
    sidecar: bool = False
    ends_with_primary: bool = False
    gpus: int = 0  # the nvidia.com/gpu its container asks for (execute.gpus hands them out)
    # What its container asks for (execute.resources: cpu in cores, memory in bytes, extended resources).
    resources: dict[str, float] = field(default_factory=dict)


class TrialHandle(Protocol):
    """The processes of one started (or re-attached) trial."""

    @property
    def stopping(self) -> bool:
        """Whether stop() was called already (the controller asks before stopping an early-stopped trial)."""
        ...

    @property
    def primary_key(self) -> str:
        """The LaunchSpec key of the primary replica (its exit code decides the trial's outcome)."""
        ...

    @property
    def pid(self) -> int | None:
        """The primary replica's process id where that means something to a user (recorded in the store);
        None for an executor whose processes are not on this machine."""
        ...

    @property
    def replicas_ended(self) -> bool:
        """Whether every replica has exited (sidecars may still be reporting): the trial no longer runs, so
        its deadline and early stopping no longer apply."""
        ...

    async def wait(self) -> dict[str, int | None]:
        """Each replica's exit code once all have ended (and any sidecar after them); None for one that
        vanished without a code. Sidecars are not in the result."""
        ...

    async def stop(self) -> None:
        """Stop every replica (a grace period, then for good); safe to call more than once."""
        ...


class Executor(Protocol):
    """Starts trials, and finds them again after a controller restart."""

    async def start(self, name: str, trial_dir: Path, launches: list[LaunchSpec]) -> TrialHandle: ...

    def reattach(self, name: str, trial_dir: Path) -> TrialHandle | None: ...

    def remove(self, trial_dir: Path) -> None:
        """Forget a trial's files (its log, outputs, process records) before it runs again from nothing."""
        ...
