"""The server's controllers: one ExperimentController per unfinished experiment, on one event loop.

The loop runs in a thread of its own, apart from the API's: a request never waits for a controller and a
controller never waits for a request. Each experiment is a task of its own; one that fails (its store rows
gone, its lease taken over, a bug) is logged and ends alone, and a model-based suggester runs in a worker
thread (the controller's own rule), so a slow one stalls nothing else. Every controller holds its
experiment's owner lease as this server (``LeaseOwner.holder``), so ``pykatib run --resume`` and a second
server refuse it, naming the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pykatib.control.runner import ExperimentController
from pykatib.execute.base import Executor
from pykatib.execute.localize import ImageMap
from pykatib.server.names import SOURCE_DIR_ANNOTATION, STOP_ANNOTATION
from pykatib.server.objects import ExperimentParser
from pykatib.spec.loader import ConfigMaps
from pykatib.store import (
    LEASE_SECONDS,
    ExperimentNotFoundError,
    ExperimentOwnedError,
    ExperimentRecord,
    LeaseOwner,
    Store,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Key = tuple[str, str]  # (namespace, name)
HALT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Budget:
    max_trial_count: int | None
    parallel_trial_count: int | None
    max_failed_trial_count: int | None


class Supervisor:
    """Starts, follows, stops and forgets the server's experiment controllers."""

    def __init__(
        self,
        store: Store,
        *,
        workdir: Path,
        image_map: ImageMap,
        owner: LeaseOwner,
        config_maps: Callable[[], ConfigMaps],
        rescan_seconds: float = LEASE_SECONDS,
        trial_env: Mapping[str, str] | None = None,
        executor: Executor | None = None,
    ) -> None:
        """``trial_env``: what every trial process gets (the DB manager's address, see ``dbmanager.host``);
        ``executor``: what runs every experiment's trials (default: this machine's processes)."""
        self.store = store
        self.executor = executor
        self.trial_env = dict(trial_env or {})
        self.workdir = workdir
        self.image_map = image_map
        self.owner = owner
        self._config_maps = config_maps
        self._rescan_seconds = rescan_seconds
        self._parser = ExperimentParser()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pykatib-controllers", daemon=True)
        # Only touched on the loop: the controllers, their tasks, the starts under way (with the actions asked
        # for meanwhile, applied once the controller exists), and the experiments being deleted.
        self._controllers: dict[Key, ExperimentController] = {}
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._starting: dict[Key, asyncio.Future[None]] = {}
        self._pending: dict[Key, list[Callable[[ExperimentController], None]]] = {}
        self._deleting: set[Key] = set()
        self._refused: dict[Key, str] = {}  # why an experiment is not run here (logged once per reason)
        self._rescan: asyncio.Task[None] | None = None

    # --- from any thread ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop and drive every unfinished experiment in the store (as after a restart); look again
        every ``rescan_seconds`` for unfinished experiments nobody runs (their owner died or let them go)."""
        self._thread.start()
        self._loop.call_soon_threadsafe(self._start_rescan)

    def drive(self, namespace: str, name: str) -> None:
        """Run the experiment's controller, unless one runs already."""
        self._submit(self._drive((namespace, name)))

    def stop_experiment(self, namespace: str, name: str) -> bool:
        """End the experiment as ``pykatib stop`` asks; False when no controller runs (or starts) it here."""
        return self._call((namespace, name), lambda c: c.request_stop())

    def set_budget(self, namespace: str, name: str, budget: Budget) -> bool:
        """Give a running (or starting) controller its new budget; False when none runs it here."""
        return self._call(
            (namespace, name),
            lambda c: c.set_budget(
                max_trial_count=budget.max_trial_count,
                parallel_trial_count=budget.parallel_trial_count,
                max_failed_trial_count=budget.max_failed_trial_count,
            ),
        )

    def halt(self, namespace: str, name: str) -> None:
        """Stop the experiment's controller and its trials, and start none for it until ``forget``: it is
        being deleted. Waits until they are stopped."""
        self._submit(self._halt((namespace, name), deleting=True)).result(HALT_TIMEOUT + 10)

    def forget(self, namespace: str, name: str) -> None:
        """The experiment is deleted (or its deletion failed): a new one of that name may run."""
        self._loop.call_soon_threadsafe(self._deleting.discard, (namespace, name))

    def close(self) -> None:
        """Stop every controller (their running trials go back to pending, run again at the next start)."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._submit(self._halt_all()).result(HALT_TIMEOUT + 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # --- on the loop ----------------------------------------------------------------------------------

    def _submit(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def _call(self, key: Key, action: Callable[[ExperimentController], None]) -> bool:
        return bool(self._submit(self._act(key, action)).result(10))

    async def _act(self, key: Key, action: Callable[[ExperimentController], None]) -> bool:
        controller = self._controllers.get(key)
        if controller is not None:
            action(controller)
            return True
        if key in self._starting:
            self._pending.setdefault(key, []).append(action)
            return True
        return False

    def _start_rescan(self) -> None:
        self._rescan = asyncio.create_task(self._rescan_forever(), name="rescan")

    async def _rescan_forever(self) -> None:
        first = True
        while True:
            try:
                await self._drive_unfinished(everything=first)
                first = False
            except Exception:  # the store is down: try again at the next round
                log.exception("looking for unfinished experiments")
            await asyncio.sleep(self._rescan_seconds)

    async def _drive_unfinished(self, *, everything: bool) -> None:
        """At start, every unfinished experiment (as after a restart). Later, those whose controller died
        (its lease left behind, expired or its process gone) and those created here but never started: not
        one that a `pykatib run` let go on Ctrl-C (its lease released), which waits for its --resume."""
        records = await asyncio.to_thread(self.store.list_experiments)
        now = datetime.now(UTC)
        for record in records:
            if (record.status or {}).get("completionTime"):
                continue
            key = (record.namespace, record.name)
            if key in self._tasks or key in self._starting:
                continue
            try:
                if not everything and (record.status or {}).get("conditions"):
                    lease = await asyncio.to_thread(self.store.get_lease, record.id)
                    if lease is None or lease.owner.id == self.owner.id or lease.held_by_another(self.owner, now):
                        continue
                await self._drive(key)
            except Exception:  # one experiment's store error does not end the round
                log.exception("experiment %s/%s", *key)

    async def _drive(self, key: Key) -> None:
        if key in self._tasks or key in self._starting or key in self._deleting:
            return
        self._starting[key] = self._loop.create_future()
        try:
            await self._start(key)
        finally:
            self._starting.pop(key).set_result(None)
            self._pending.pop(key, None)

    async def _start(self, key: Key) -> None:
        namespace, name = key
        record = await asyncio.to_thread(self.store.get_experiment, name, namespace)
        if record is None or (record.status or {}).get("completionTime"):
            return  # deleted, or ended (a restart clears completionTime before it asks for a controller)
        lease = await asyncio.to_thread(self.store.get_lease, record.id)
        now = datetime.now(UTC)
        if lease is not None and lease.owner.id != self.owner.id and lease.held_by_another(self.owner, now):
            self._refuse(key, f"it is run by another controller ({lease.owner.describe()})")
            return
        try:
            controller = await asyncio.to_thread(self._controller, record)
        except Exception as exc:  # a stored document that no longer loads (its ConfigMap deleted)
            self._refuse(key, f"it cannot run: {exc}", level=logging.ERROR)
            return
        self._refused.pop(key, None)
        annotations = (record.spec.get("metadata") or {}).get("annotations") or {}
        if str(annotations.get(STOP_ANNOTATION, "")).lower() == "true":
            controller.request_stop()
        for action in self._pending.pop(key, []):
            action(controller)
        self._controllers[key] = controller
        self._tasks[key] = asyncio.create_task(self._run(key, controller), name=f"experiment {namespace}/{name}")

    def _refuse(self, key: Key, why: str, level: int = logging.WARNING) -> None:
        if self._refused.get(key) != why:
            self._refused[key] = why
            log.log(level, "experiment %s/%s is not run by this server: %s", *key, why)

    def _controller(self, record: ExperimentRecord) -> ExperimentController:
        parsed = self._parser.parse(record, self._config_maps())
        if parsed.experiment is None or parsed.errors:
            raise ValueError("; ".join(parsed.errors) or "the stored experiment does not load")
        annotations = (record.spec.get("metadata") or {}).get("annotations") or {}
        source = annotations.get(SOURCE_DIR_ANNOTATION)
        source_dir = Path(source) if isinstance(source, str) and Path(source).is_dir() else None
        return ExperimentController(
            parsed.experiment.model_copy(deep=True), self.store, workdir=self.workdir, image_map=self.image_map,
            trial_spec=parsed.trial_spec, owner=self.owner, source_dir=source_dir, stored=True,
            trial_env=self.trial_env, executor=self.executor,
        )  # fmt: skip

    async def _run(self, key: Key, controller: ExperimentController) -> None:
        namespace, name = key
        again = False
        try:
            await controller.run()
            log.info("experiment %s/%s ended", namespace, name)
            again = True  # a restart asked for while it was ending found this controller still here
        except asyncio.CancelledError:
            pass  # halted: deleted, or the server stops
        except ExperimentOwnedError as exc:
            self._refuse(key, str(exc))
        except ExperimentNotFoundError:
            pass  # deleted by another process meanwhile
        except Exception as exc:
            self._refuse(key, f"its controller failed: {exc}", level=logging.ERROR)
            log.exception("experiment %s/%s: its controller failed", namespace, name)
        finally:
            self._controllers.pop(key, None)
            self._tasks.pop(key, None)
        if again:
            await self._drive(key)  # a no-op unless the stored experiment is unfinished again

    async def _halt(self, key: Key, *, deleting: bool = False) -> None:
        if deleting:
            self._deleting.add(key)
        starting = self._starting.get(key)
        if starting is not None:
            await starting  # its controller exists (or will not): then it is stopped like any other
        task = self._tasks.get(key)
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(task), HALT_TIMEOUT)

    async def _halt_all(self) -> None:
        if self._rescan is not None:
            self._rescan.cancel()
        await asyncio.gather(*(self._halt(key) for key in [*self._starting, *self._tasks]))
