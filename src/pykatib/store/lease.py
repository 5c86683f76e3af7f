"""Who may drive an experiment: the owner lease, one row per experiment, kept by the store.

A controller (``pykatib run``, later the server) takes the lease before it touches an experiment and renews
it while it runs; a second controller finds it held and refuses, naming the owner. A lease is free when it
has expired (its owner stopped renewing: dead, hung or cut off) or when its owner ran on this host and its
process is gone (a ``kill -9`` need not wait for the expiry). A process is recognised by its pid together
with its start time, the boot and the pid namespace it started in: a pid reused by another program does not
count as alive, and an owner in another container of the same hostname (another pid namespace, whose pids
mean other processes here) is left to its lease's expiry.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from pykatib.procs import process_alive, process_key

# How long a lease lasts without renewal, and how often its owner renews it. The expiry bounds how long a
# controller that hangs (or loses the database) blocks another from taking over; renewal every few seconds
# keeps the lease alive through a slow write or a busy machine.
LEASE_SECONDS = 15.0
RENEW_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class LeaseOwner:
    """A controller: a random id per controller, and where it runs."""

    id: str
    host: str
    pid: int
    process_key: str | None
    # What the owning process is, for the user told it holds the experiment ("pykatib server at URL").
    holder: str | None = None

    @classmethod
    def this_process(cls, holder: str | None = None) -> LeaseOwner:
        """A new owner id for a controller in this process."""
        pid = os.getpid()
        return cls(uuid.uuid4().hex, _hostname(), pid, process_key(pid), holder)

    def describe(self) -> str:
        where = f"pid {self.pid} on host {self.host}"
        return f"{self.holder}, {where}" if self.holder else where


@dataclass(frozen=True, slots=True)
class Lease:
    experiment_id: int
    owner: LeaseOwner
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime

    def held_by_another(self, owner: LeaseOwner, now: datetime) -> bool:
        """Whether a controller other than ``owner`` still holds this lease at ``now``."""
        if self.owner.id == owner.id or self.expires_at <= now:
            return False
        if self.owner.host == _hostname():
            return process_alive(self.owner.pid, self.owner.process_key)
        return True


@cache
def _hostname() -> str:
    return socket.gethostname()
