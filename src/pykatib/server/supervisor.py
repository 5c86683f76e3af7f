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
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pykatib.control.runner import ExperimentController
from pykatib.execute.localize import ImageMap
from pykatib.server.objects import SOURCE_DIR_ANNOTATION, STOP_ANNOTATION, ExperimentParser
from pykatib.spec.loader import ConfigMaps
from pykatib.store import ExperimentOwnedError, ExperimentRecord, LeaseOwner, Store

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
    ) -> None:
        self.store = store
        self.workdir = workdir
        self.image_map = image_map
        self.owner = owner
        self._config_maps = config_maps
        self._parser = ExperimentParser()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pykatib-controllers", daemon=True)
        self._controllers: dict[Key, ExperimentController] = {}
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._starting: set[Key] = set()
        self.problems: dict[Key, str] = {}  # why an experiment's controller is not running

    # --- from any thread ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop and drive every unfinished experiment in the store (as after a restart)."""
        self._thread.start()
        for record in self.store.list_experiments():
            if not (record.status or {}).get("completionTime"):
                self.drive(record.namespace, record.name)

    def drive(self, namespace: str, name: str) -> None:
        """Run the experiment's controller, unless one runs already."""
        self._submit(self._drive((namespace, name)))

    def running(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self._controllers

    def stop_experiment(self, namespace: str, name: str) -> bool:
        """End the experiment as ``pykatib stop`` asks; False when no controller runs it here."""
        return self._call((namespace, name), lambda c: c.request_stop())

    def set_budget(self, namespace: str, name: str, budget: Budget) -> bool:
        """Give a running controller its new budget; False when none runs it here."""
        return self._call(
            (namespace, name),
            lambda c: c.set_budget(
                max_trial_count=budget.max_trial_count,
                parallel_trial_count=budget.parallel_trial_count,
                max_failed_trial_count=budget.max_failed_trial_count,
            ),
        )

    def halt(self, namespace: str, name: str) -> None:
        """Stop the experiment's controller and its trials (before it is deleted); waits until they are."""
        self._submit(self._halt((namespace, name))).result(HALT_TIMEOUT + 10)

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
        controller = self._controllers.get(key)
        if controller is None:
            return False
        self._loop.call_soon_threadsafe(action, controller)
        return True

    async def _drive(self, key: Key) -> None:
        if key in self._tasks or key in self._starting:
            return
        self._starting.add(key)
        try:
            await self._start(key)
        finally:
            self._starting.discard(key)

    async def _start(self, key: Key) -> None:
        namespace, name = key
        record = await asyncio.to_thread(self.store.get_experiment, name, namespace)
        if record is None:
            return
        try:
            controller = await asyncio.to_thread(self._controller, record)
        except Exception as exc:  # a stored document that no longer loads (its ConfigMap deleted)
            self.problems[key] = f"cannot run: {exc}"
            log.error("experiment %s/%s cannot run: %s", namespace, name, exc)
            return
        self.problems.pop(key, None)
        annotations = (record.spec.get("metadata") or {}).get("annotations") or {}
        if str(annotations.get(STOP_ANNOTATION, "")).lower() == "true":
            controller.request_stop()
        self._controllers[key] = controller
        self._tasks[key] = asyncio.create_task(self._run(key, controller), name=f"experiment {namespace}/{name}")

    def _controller(self, record: ExperimentRecord) -> ExperimentController:
        parsed = self._parser.parse(record, self._config_maps())
        if parsed.experiment is None or parsed.errors:
            raise ValueError("; ".join(parsed.errors) or "the stored experiment does not load")
        annotations = (record.spec.get("metadata") or {}).get("annotations") or {}
        source = annotations.get(SOURCE_DIR_ANNOTATION)
        source_dir = Path(source) if isinstance(source, str) and Path(source).is_dir() else None
        return ExperimentController(
            parsed.experiment.model_copy(deep=True), self.store, workdir=self.workdir, image_map=self.image_map,
            trial_spec=parsed.trial_spec, owner=self.owner, source_dir=source_dir,
        )  # fmt: skip

    async def _run(self, key: Key, controller: ExperimentController) -> None:
        namespace, name = key
        try:
            await controller.run()
            log.info("experiment %s/%s ended", namespace, name)
        except asyncio.CancelledError:
            pass  # halted: deleted, or the server stops
        except ExperimentOwnedError as exc:
            self.problems[key] = str(exc)
            log.warning("experiment %s/%s: %s", namespace, name, exc)
        except Exception as exc:
            self.problems[key] = f"its controller failed: {exc}"
            log.exception("experiment %s/%s: its controller failed", namespace, name)
        finally:
            self._controllers.pop(key, None)
            self._tasks.pop(key, None)

    async def _halt(self, key: Key) -> None:
        task = self._tasks.get(key)
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(task), HALT_TIMEOUT)

    async def _halt_all(self) -> None:
        await asyncio.gather(*(self._halt(key) for key in list(self._tasks)))
