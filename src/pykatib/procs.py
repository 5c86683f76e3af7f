"""A process of this machine by what tells it from a later one with its pid: its start time, the boot and
the pid namespace it started in (Linux /proc). What the owner lease (``store.lease``) and a GPU's lock file
(``execute.gpus``) record of their holder, so that a reused pid does not count as the holder alive."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


def process_key(pid: int) -> str | None:
    """The boot, pid namespace and start time of a process of this one's namespace, or None where they
    cannot be read."""
    try:
        start_ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
    return f"{_machine()}:{start_ticks}"


def process_alive(pid: int, key: str | None) -> bool:
    """Whether process ``pid`` of this host still runs and is the same process that ``key`` recorded."""
    if key is not None and not key.startswith(f"{_machine()}:"):
        return True  # another boot or pid namespace: its pid cannot be looked up here; the expiry decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True  # no /proc here: the pid exists, which is all that can be known
    if fields[0] in ("Z", "X"):
        return False  # exited, not yet reaped by its parent
    return key is None or f"{_machine()}:{fields[19]}" == key


@cache
def _machine() -> str:
    """This boot and pid namespace: where a pid means the same process."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot}:{namespace}"
