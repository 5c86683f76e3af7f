"""The controller's hold on its experiment's owner lease (``store.lease``): take it before touching the
experiment, renew it while the run lasts, give it up at the end.

Every transaction the controller writes starts by renewing the lease (``Store.hold_lease`` as the store
queue's fence): once another controller has taken the lease over, nothing more of this one lands. A timer
sends a call that does nothing every few seconds, so that the fence renews the lease while nothing else is
written. When renewal finds the lease taken over (this controller hung past the expiry and another took
it), the SQLite file gone or replaced, or the store unreachable for longer than a lease lasts (another
controller may have taken over meanwhile), the keeper reports the error once through ``on_lost``; the
controller then stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable

from pykatib.control.store_queue import StoreQueue
from pykatib.store import LEASE_SECONDS, RENEW_SECONDS, ExperimentOwnedError, LeaseOwner, Store, StoreError


class LeaseKeeper:
    def __init__(self, store: Store, db: StoreQueue, owner: LeaseOwner, on_lost: Callable[[Exception], None]) -> None:
        self.store = store
        self.owner = owner
        self._db = db
        self._on_lost = on_lost
        self._experiment_id: int | None = None
        self._renewing: asyncio.Task[None] | None = None

    async def take(self, experiment_id: int) -> None:
        """Become the experiment's one controller; ExperimentOwnedError, naming the holder, while another
        live controller is."""
        await self._db.call(self.store.acquire_lease, experiment_id, self.owner)
        self._experiment_id = experiment_id
        self._db.fence = functools.partial(self.store.hold_lease, experiment_id, self.owner)
        self._renewing = asyncio.create_task(self._renew(), name="lease")

    async def confirm(self) -> None:
        """ExperimentOwnedError when the lease is no longer ours: asked before acting on trials that another
        controller may own by now (stopping them at the experiment's end or on Ctrl-C)."""
        if self._db.fence is not None:
            await self._db.call(_nothing)

    async def release(self) -> None:
        """Stop renewing and give the lease up (if it is still ours). A store that fails here is not an
        error of the run: the lease expires, and a dead owner's lease is free at once on its host anyway."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewing
        self._db.fence = None
        if self._experiment_id is not None:
            experiment_id, self._experiment_id = self._experiment_id, None
            with contextlib.suppress(Exception):
                await self._db.call(self.store.release_lease, experiment_id, self.owner)

    async def _renew(self) -> None:
        """Renew the lease every RENEW_SECONDS: a call that does nothing, behind the fence that renews it."""
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self._db.call(_nothing)
                self.store.check_file()
            except StoreError as error:
                if isinstance(error, ExperimentOwnedError):
                    self._experiment_id = None  # not ours to release any more
                self._on_lost(error)
                return
            except Exception as error:
                if time.monotonic() - renewed > LEASE_SECONDS:
                    self._on_lost(StoreError(f"the store could not be reached for {LEASE_SECONDS:g} s: {error}"))
                    return
                continue
            renewed = time.monotonic()


def _nothing() -> None:
    """A store call that does nothing: it runs behind the fence, which is the point."""
