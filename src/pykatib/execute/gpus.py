"""GPUs on one machine: each trial replica gets the devices its container asks for (``nvidia.com/gpu``), as
Kubernetes' device plugin would hand them out, through ``CUDA_VISIBLE_DEVICES``; a replica that asks for none
sees none. Trials wait for free devices rather than share them.

The devices are ``$PYKATIB_GPUS`` (a comma-separated list: what a test or a user wants handed out), else
pykatib's own ``CUDA_VISIBLE_DEVICES``, else what ``nvidia-smi`` lists. A device is taken by an ``flock`` on a
file named after it in one directory per user on this machine, so every pykatib process here (a server, a
``pykatib run``) shares the same devices, and the lock of a controller that dies is free at once; a
restarted controller takes again the devices its re-attached trials hold (recorded in their directories).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pykatib.execute.base import Executor, LaunchSpec, TrialHandle
from pykatib.execute.resources import ResourceError
from pykatib.procs import process_alive, process_key

GPU_RESOURCE = "nvidia.com/gpu"
GPUS_ENV = "PYKATIB_GPUS"
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
# The NVIDIA container runtime's variable, set beside CUDA_VISIBLE_DEVICES as the device plugin does.
NVIDIA_VISIBLE_ENV = "NVIDIA_VISIBLE_DEVICES"
GPUS_FILE = "gpus.json"  # in a trial's directory: the devices each replica holds
POLL_SECONDS = 0.2


class GpuRequestError(ResourceError):
    """A container's GPU request cannot be met here (not an integer, or more devices than the machine has)."""


def container_gpus(container: Mapping[str, Any], where: str) -> int:
    """The ``nvidia.com/gpu`` a container asks for: its limit, else its request (Kubernetes wants them equal
    for extended resources), 0 when it names none."""
    resources = container.get("resources") or {}
    if not isinstance(resources, dict):
        return 0
    for section in ("limits", "requests"):
        value = (resources.get(section) or {}).get(GPU_RESOURCE)
        if value is None:
            continue
        text = str(value).strip()
        if not text.isdigit():
            raise GpuRequestError(f"{where}: resources.{section}.{GPU_RESOURCE} must be a whole number, got {value!r}")
        return int(text)
    return 0


def detect_gpus(environ: Mapping[str, str] | None = None) -> list[str]:
    """The devices this machine hands out, as CUDA_VISIBLE_DEVICES names them."""
    env = os.environ if environ is None else environ
    for variable in (GPUS_ENV, VISIBLE_ENV):
        listed = env.get(variable)
        if listed is not None:
            return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()] if out.returncode == 0 else []


class GpuPool:
    """This machine's devices, taken and freed with one lock file each (shared by every pykatib process).

    A device is taken while a process holds the flock on its file, and also while the file names a live
    trial process (written once the trial has started): a trial whose controller died keeps its devices
    until it ends or a restarted controller takes them back.
    """

    def __init__(self, devices: Sequence[str], lock_dir: Path | None = None) -> None:
        self.devices = list(devices)
        self.lock_dir = lock_dir or Path(tempfile.gettempdir()) / f"pykatib-gpus-{os.getuid()}"
        self._held: dict[str, int] = {}  # device -> the open lock file
        self._checked = False

    def _lock_path(self, device: str) -> Path:
        return self.lock_dir / (re.sub(r"[^A-Za-z0-9._-]", "_", device) + ".lock")

    def _check_dir(self) -> None:
        """The lock directory is this user's own (in a shared /tmp, another user could make it first)."""
        if self._checked:
            return
        self.lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(self.lock_dir)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise GpuRequestError(
                f"{self.lock_dir} (where pykatib locks GPUs) must be a directory of this user's with mode 0700"
            )
        self._checked = True

    def _try_lock(self, device: str, owner: int | None = None) -> bool:
        if device in self._held:
            return False
        self._check_dir()
        fd = os.open(self._lock_path(device), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        holder = _holder(os.pread(fd, 64, 0))
        if holder is not None and holder != owner:  # a trial left running by a controller that died
            os.close(fd)
            return False
        self._held[device] = fd
        return True

    def try_take(self, count: int) -> list[str] | None:
        """``count`` free devices, now, or None (nothing taken)."""
        taken: list[str] = []
        for device in self.devices:
            if len(taken) == count:
                break
            if self._try_lock(device):
                taken.append(device)
        if len(taken) == count:
            return taken
        self.release(taken)
        return None

    async def take(self, count: int) -> list[str]:
        """``count`` devices, waiting until they are free."""
        if count > len(self.devices):
            have = ", ".join(self.devices) or "none"
            raise GpuRequestError(
                f"asks for {count} {GPU_RESOURCE}, and this machine has {len(self.devices)} ({have}); "
                f"set {GPUS_ENV} or {VISIBLE_ENV} to the devices pykatib may hand out"
            )
        while (taken := self.try_take(count)) is None:
            await asyncio.sleep(POLL_SECONDS)
        return taken

    def mark(self, devices: Sequence[str], pid: int | None) -> None:
        """Name the trial process that uses these devices in their lock files (it outlives a controller)."""
        if pid is None:
            return
        record = f"{pid} {process_key(pid) or '-'}".encode()
        for device in devices:
            fd = self._held.get(device)
            if fd is not None:
                os.ftruncate(fd, 0)
                os.pwrite(fd, record, 0)

    def retake(self, devices: Sequence[str], owner: int | None) -> list[str]:
        """Take again what a re-attached trial (process ``owner``) holds; the devices taken. One another
        controller took meanwhile stays shared (and is not given back by this trial)."""
        return [device for device in devices if self._try_lock(device, owner)]

    def release(self, devices: Sequence[str]) -> None:
        for device in devices:
            fd = self._held.pop(device, None)
            if fd is not None:
                os.ftruncate(fd, 0)
                os.close(fd)  # closing the only descriptor releases the flock


def _holder(record: bytes) -> int | None:
    """The live trial process a lock file names (``GpuPool.mark``), or None (none named, or it has ended)."""
    try:
        pid_text, key = record.decode().split()
        pid = int(pid_text)
    except ValueError:
        return None
    return pid if process_alive(pid, None if key == "-" else key) else None


class _HandleWithGpus:
    """A trial's handle that gives its devices back once the trial has ended."""

    def __init__(self, inner: TrialHandle, pool: GpuPool, devices: list[str]) -> None:
        self._inner = inner
        self._pool = pool
        self._devices = devices

    @property
    def stopping(self) -> bool:
        return self._inner.stopping

    @property
    def primary_key(self) -> str:
        return self._inner.primary_key

    @property
    def pid(self) -> int | None:
        return self._inner.pid

    @property
    def replicas_ended(self) -> bool:
        return self._inner.replicas_ended

    async def wait(self) -> dict[str, int | None]:
        try:
            return await self._inner.wait()
        finally:
            self._pool.release(self._devices)

    async def stop(self) -> None:
        await self._inner.stop()


class GpuExecutor:
    """Wraps an executor of this machine's processes: hands each launch the devices it asks for, waiting for
    them, and frees them when the trial ends (a ``base.Executor``)."""

    def __init__(self, inner: Executor, pool: GpuPool | None = None) -> None:
        self.inner = inner
        self._pool = pool
        self._devices: list[str] | None = None

    @property
    def pool(self) -> GpuPool:
        if self._pool is None:
            self._pool = GpuPool(detect_gpus())
        return self._pool

    async def start(self, name: str, trial_dir: Path, launches: list[LaunchSpec]) -> TrialHandle:
        wanted = sum(launch.gpus for launch in launches)
        if wanted == 0 and not self._machine_has_gpus():
            return await self.inner.start(name, trial_dir, launches)
        taken = await self.pool.take(wanted) if wanted else []
        try:
            given: dict[str, list[str]] = {}
            rest = list(taken)
            for launch in launches:
                given[launch.key], rest = rest[: launch.gpus], rest[launch.gpus :]
            # An MPIJob's launcher runs the ranks itself (mpirun starts them as its children, where the operator
            # would exec them in the workers' pods): it sees the devices of the workers that end with it.
            hosted = [d for launch in launches if launch.ends_with_primary for d in given[launch.key]]
            placed = []
            for launch in launches:
                mine = given[launch.key] + (hosted if launch.primary else [])
                env = dict(launch.env)
                if VISIBLE_ENV not in env:  # the container's own setting wins
                    env[VISIBLE_ENV] = ",".join(mine)
                    env[NVIDIA_VISIBLE_ENV] = ",".join(mine) if mine else "void"
                placed.append(dataclasses.replace(launch, env=env))
            trial_dir.mkdir(parents=True, exist_ok=True)
            (trial_dir / GPUS_FILE).write_text(json.dumps(given))
            handle = await self.inner.start(name, trial_dir, placed)
        except BaseException:
            self.pool.release(taken)
            raise
        self.pool.mark(taken, handle.pid)
        return _HandleWithGpus(handle, self.pool, taken)

    def _machine_has_gpus(self) -> bool:
        if self._devices is None:
            self._devices = self.pool.devices
        return bool(self._devices)

    def reattach(self, name: str, trial_dir: Path) -> TrialHandle | None:
        handle = self.inner.reattach(name, trial_dir)
        if handle is None:
            return None
        devices: list[str] = []
        with contextlib.suppress(OSError, ValueError, AttributeError):
            given = json.loads((trial_dir / GPUS_FILE).read_text())
            devices = [str(d) for held in given.values() for d in held]
        if not devices:
            return handle
        return _HandleWithGpus(handle, self.pool, self.pool.retake(devices, handle.pid))

    def remove(self, trial_dir: Path) -> None:
        self.inner.remove(trial_dir)
