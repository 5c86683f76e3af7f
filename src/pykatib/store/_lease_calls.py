"""The Store's owner-lease calls (the lease itself: ``store.lease``), kept apart from the rest of the Store.

Taking a lease is one transaction that reads the row FOR UPDATE (on SQLite, BEGIN IMMEDIATE serialises it)
and then inserts it or swaps its owner on the owner it read; a racing taker loses the insert or the swap, or
(MariaDB, PostgreSQL) the lock, and is told who won. ``hold_lease`` is the controller's fence: it runs first
in every transaction the controller writes.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from pykatib.store._values import now as _now
from pykatib.store.errors import ExperimentNotFoundError, ExperimentOwnedError
from pykatib.store.lease import LEASE_SECONDS, Lease, LeaseOwner
from pykatib.store.models import experiment_leases


class LeaseCalls:
    """Mixed into Store: its lease calls, on its connections and transactions."""

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _read(self) -> AbstractContextManager[Connection]: ...

        def _in_transaction(self) -> bool: ...

        def _experiment_id_exists(self, experiment_id: int) -> bool: ...

    def acquire_lease(self, experiment_id: int, owner: LeaseOwner, ttl: float = LEASE_SECONDS) -> Lease:
        """Take the experiment's lease for ``owner``, in one transaction; ExperimentOwnedError, naming the
        holder, while another controller holds it. Taking a lease one already holds renews it."""
        attempts = 3
        for attempt in range(attempts):
            now = _now()
            try:
                with self._write() as conn:
                    current = self._lease_row(conn, experiment_id, lock=True)
                    if current is not None and current.held_by_another(owner, now):
                        raise ExperimentOwnedError(
                            f"experiment is being run by another controller ({current.owner.describe()}, since "
                            f"{current.acquired_at:%Y-%m-%d %H:%M:%S} UTC; its lease expires "
                            f"{current.expires_at:%H:%M:%S} UTC unless renewed)"
                        )
                    acquired = current.acquired_at if current is not None and current.owner.id == owner.id else now
                    values = _lease_values(owner, acquired, now, ttl)
                    if current is None:
                        conn.execute(insert(experiment_leases).values(experiment_id=experiment_id, **values))
                    else:
                        # Compare-and-swap on the owner read above: a racing taker that won makes this a no-op.
                        taken = conn.execute(
                            update(experiment_leases)
                            .where(experiment_leases.c.experiment_id == experiment_id)
                            .where(experiment_leases.c.owner_id == current.owner.id)
                            .values(**values)
                        ).rowcount
                        if taken != 1:
                            raise _LeaseRaceError
                return Lease(experiment_id, owner, acquired, now, now + timedelta(seconds=ttl))
            except (IntegrityError, _LeaseRaceError, DBAPIError) as error:
                race = isinstance(error, IntegrityError | _LeaseRaceError) or _lock_conflict(error)
                if self._in_transaction() or not race:
                    raise
                if not self._experiment_id_exists(experiment_id):
                    raise ExperimentNotFoundError(f"no experiment with id {experiment_id}") from error
                if attempt == attempts - 1:
                    raise ExperimentOwnedError("another controller took the experiment's lease meanwhile") from error
                # Another controller inserted or took the lease at the same moment (MariaDB reports two inserts
                # under FOR UPDATE gap locks as a deadlock): read again, and refuse.
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def renew_lease(self, experiment_id: int, owner: LeaseOwner, ttl: float = LEASE_SECONDS) -> Lease | None:
        """Extend ``owner``'s lease; None when another owner has taken it over (or it was released),
        ExperimentNotFoundError when the experiment was deleted."""
        now = _now()
        with self._write() as conn:
            renewed = conn.execute(
                update(experiment_leases)
                .where(experiment_leases.c.experiment_id == experiment_id)
                .where(experiment_leases.c.owner_id == owner.id)
                .values(renewed_at=now, expires_at=now + timedelta(seconds=ttl))
            ).rowcount
            if renewed == 1:
                return self._lease_row(conn, experiment_id)
        if not self._experiment_id_exists(experiment_id):
            raise ExperimentNotFoundError(f"the experiment (id {experiment_id}) was deleted while it ran")
        return None

    def hold_lease(self, experiment_id: int, owner: LeaseOwner, ttl: float = LEASE_SECONDS) -> None:
        """Renew ``owner``'s lease, or raise ExperimentOwnedError when another owner has taken it over. The
        controller runs this first in every transaction it writes (a fence): a controller that was stalled
        past its lease's expiry cannot write anything once another controller has taken over."""
        if self.renew_lease(experiment_id, owner, ttl) is None:
            holder = self.get_lease(experiment_id)
            named = f" ({holder.owner.describe()})" if holder is not None else ""
            raise ExperimentOwnedError(f"the experiment's lease was taken over by another controller{named}")

    def release_lease(self, experiment_id: int, owner: LeaseOwner) -> None:
        """Give the lease up (a no-op when ``owner`` does not hold it)."""
        with self._write() as conn:
            conn.execute(
                delete(experiment_leases)
                .where(experiment_leases.c.experiment_id == experiment_id)
                .where(experiment_leases.c.owner_id == owner.id)
            )

    def get_lease(self, experiment_id: int) -> Lease | None:
        """The experiment's lease as stored (possibly expired, or held by a dead process)."""
        with self._read() as conn:
            return self._lease_row(conn, experiment_id)

    @staticmethod
    def _lease_row(conn: Connection, experiment_id: int, *, lock: bool = False) -> Lease | None:
        query = select(experiment_leases).where(experiment_leases.c.experiment_id == experiment_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            return None
        m = row._mapping
        owner = LeaseOwner(m["owner_id"], m["host"], m["pid"], m["process_key"], m["holder"])
        return Lease(experiment_id, owner, m["acquired_at"], m["renewed_at"], m["expires_at"])


def _lock_conflict(error: Exception) -> bool:
    """A deadlock or serialization failure: the transaction lost a race and may simply run again."""
    driver = error.orig if isinstance(error, DBAPIError) else None
    if getattr(driver, "sqlstate", None) in ("40001", "40P01"):  # PostgreSQL (psycopg)
        return True
    code = driver.args[0] if driver is not None and driver.args else None
    return code in (1205, 1213)  # MySQL/MariaDB: lock wait timeout, deadlock


class _LeaseRaceError(Exception):
    """The lease changed hands between reading it and taking it."""


def _lease_values(owner: LeaseOwner, acquired: datetime, now: datetime, ttl: float) -> dict[str, Any]:
    return {
        "owner_id": owner.id, "host": owner.host, "pid": owner.pid, "process_key": owner.process_key,
        "holder": owner.holder,
        "acquired_at": acquired, "renewed_at": now, "expires_at": now + timedelta(seconds=ttl),
    }  # fmt: skip
