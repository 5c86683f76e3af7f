"""The controller's store calls: run on one thread, in order, batched into shared transactions.

The event loop never waits on the database: every call is queued, and the store's own thread runs whatever
is queued as one :meth:`Store.batch` (one commit). A commit and a thread hand-off per call cost more than
the small statements themselves, so a reconcile step (a trial's end, its observations, the algorithm's
state, the next trial's creation) and the previous trial's start usually share one transaction.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from pykatib.store import BatchOutcome, Store

T = TypeVar("T")
WRITE_DELAY_SECONDS = 0.05


class StoreQueue:
    """Store calls of one controller. Must be used from one event loop; :meth:`close` before it ends."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pykatib-store")
        self._queue: list[tuple[Callable[[], Any], asyncio.Future[Any] | None]] = []
        self._lock = threading.Lock()
        self._flush_soon = False  # a _flush is scheduled on the loop's next iteration
        self._flush_later: asyncio.TimerHandle | None = None  # a _flush is scheduled WRITE_DELAY_SECONDS on
        self._drain_queued = False  # a _drain is submitted and has not taken the queue yet
        self._drains: list[Future[None]] = []
        self._error: Exception | None = None  # the first failed write that nobody awaited
        # A call run first in every transaction; when it raises, nothing of that transaction lands (the
        # controller's owner lease: see control.lease).
        self.fence: Callable[[], Any] | None = None

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store call whose result the caller needs; it goes out once the loop has run its current callbacks."""
        self.raise_error()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._enqueue(functools.partial(fn, *args, **kwargs), future)
        return await future

    def later(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A write nobody waits for: it goes out at most WRITE_DELAY_SECONDS later, or with the next awaited
        call. Calls run in order, so every later read sees it. Its failure is raised by the next call."""
        self.raise_error()
        self._enqueue(functools.partial(fn, *args, **kwargs), None)

    def raise_error(self) -> None:
        """Raise the first failure of a write nobody awaited, if there was one."""
        if self._error is not None:
            raise self._error
        for future in self._drains:
            error = future.exception() if future.done() else None
            if error is not None:
                raise error

    def close(self) -> None:
        """Every queued write lands before this returns (shutdown waits for the store's thread)."""
        if self._flush_later is not None:
            self._flush_later.cancel()
            self._flush_later = None
        with self._lock:
            queued = bool(self._queue)
            if queued:
                self._drain_queued = True
        if queued:
            self._drains.append(self._thread.submit(self._drain, asyncio.get_running_loop()))
        self._thread.shutdown(wait=True)

    def _enqueue(self, call: Callable[[], Any], future: asyncio.Future[Any] | None) -> None:
        with self._lock:
            self._queue.append((call, future))
        if self._flush_soon:
            return
        loop = asyncio.get_running_loop()
        if future is not None:
            self._flush_soon = True
            loop.call_soon(self._flush)
        elif self._flush_later is None:
            self._flush_later = loop.call_later(WRITE_DELAY_SECONDS, self._flush)

    def _flush(self) -> None:
        """Hand the queued calls to the store's thread (which takes whatever is queued when it runs)."""
        self._flush_soon = False
        if self._flush_later is not None:
            self._flush_later.cancel()
            self._flush_later = None
        with self._lock:
            if not self._queue or self._drain_queued:
                return
            self._drain_queued = True
        drain = self._thread.submit(self._drain, asyncio.get_running_loop())
        self._drains = [f for f in self._drains if not f.done() or f.exception()]
        self._drains.append(drain)

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the store's thread: run every queued call in one batch, then settle the awaited ones at once."""
        with self._lock:
            work, self._queue = self._queue, []
            self._drain_queued = False
        try:
            calls = [call for call, _ in work]
            fence = self.fence
            outcomes = self.store.batch([fence, *calls])[1:] if fence is not None else self.store.batch(calls)
        except Exception as error:  # not a call's own failure (batch reports those): every call gets it
            outcomes = [BatchOutcome(error=error)] * len(work)
        settle: list[tuple[asyncio.Future[Any], BatchOutcome]] = []
        for (_, future), outcome in zip(work, outcomes, strict=True):
            if future is not None:
                settle.append((future, outcome))
            elif outcome.error is not None and self._error is None:
                self._error = outcome.error
        if settle:
            loop.call_soon_threadsafe(_settle, settle)


def _settle(results: list[tuple[asyncio.Future[Any], BatchOutcome]]) -> None:
    for future, outcome in results:
        if future.cancelled():
            continue
        if outcome.error is not None:
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome.value)
