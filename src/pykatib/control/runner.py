"""The controller: Katib's reconcile loop for one experiment, on asyncio.

One step per event (a trial ended, the experiment started or resumed): count trials, check termination in
Katib's order, ask the suggester for ``min(parallel, max - completed) - active`` assignments, create and
start those trials. Each running trial has a task that follows its metrics while its processes run, and
reports its end. Everything is written to the store as it happens, so a controller that dies is replaced
by one that reads the store, re-attaches to trials still running and carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pykatib.control.launch import TrialLaunchError, prepare_trial
from pykatib.control.status import (
    ACTIVE_PHASES,
    CREATED,
    DEADLINE_EXCEEDED,
    EARLY_STOPPED,
    END_MESSAGES,
    EXPERIMENT_CREATED,
    EXPERIMENT_FAILED,
    EXPERIMENT_RESTARTING,
    EXPERIMENT_RUNNING,
    FAILED,
    KILLED,
    METRICS_UNAVAILABLE,
    RUNNING,
    SUCCEEDED,
    TRIAL_EARLY_STOPPED,
    TRIAL_FAILED,
    TRIAL_INTERRUPTED,
    TRIAL_KILLED,
    TRIAL_LOST,
    TRIAL_METRICS_UNAVAILABLE,
    TRIAL_RUNNING,
    TRIAL_SUCCEEDED,
    TrialTally,
    TrialView,
    condition,
    end_reason_of,
    now_rfc3339,
    objective_value,
    set_condition,
    status_block,
    trials_to_create,
)
from pykatib.control.store_queue import StoreQueue
from pykatib.earlystop.medianstop import MedianStop
from pykatib.execute.local import LocalExecutor, RunningTrial
from pykatib.execute.localize import ImageMap
from pykatib.metrics.observation import Observation
from pykatib.metrics.strategy import MetricSummary, summarize
from pykatib.spec.models import Experiment
from pykatib.store import (
    LEASE_SECONDS,
    RENEW_SECONDS,
    ExperimentOwnedError,
    LeaseOwner,
    NewTrial,
    ObservationRow,
    Store,
    StoreError,
    TrialRecord,
    experiment_dir,
)
from pykatib.suggest.base import Suggester, TrialResult
from pykatib.suggest.grid import GridSuggester
from pykatib.suggest.random import RandomSuggester
from pykatib.suggest.registry import experiment_suggester
from pykatib.suggest.settings import early_stopping_settings
from pykatib.trial.render import new_trial_name

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_SECONDS = 0.1
STATUS_SECONDS = 0.25
HALT_SECONDS = 10.0
REPLACES_LABEL = "pykatib.kubeflow.org/replaces"


class ExperimentController:
    """Drives one experiment to its end; ``run()`` returns the final status block."""

    def __init__(
        self,
        experiment: Experiment,
        store: Store,
        *,
        workdir: Path,
        image_map: ImageMap | None = None,
        executor: LocalExecutor | None = None,
        trial_spec: dict[str, Any] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
        owner: LeaseOwner | None = None,
    ) -> None:
        self.experiment = experiment
        self.store = store
        # Absolute: trials run in their own directories, where a relative path would mean something else.
        self.experiment_dir = experiment_dir(workdir, str(experiment.metadata.namespace), str(experiment.metadata.name))
        self.image_map = image_map or ImageMap()
        self.executor = executor or LocalExecutor()
        self.trial_spec = trial_spec
        self.on_change = on_change
        self._db = StoreQueue(store)
        self._record_id = 0
        self._status: dict[str, Any] = {}
        self._trials: dict[str, TrialRecord] = {}
        self._metrics: dict[str, dict[str, MetricSummary]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, RunningTrial] = {}
        self._ended: asyncio.Queue[str] = asyncio.Queue()
        self._suggester: Suggester | None = None
        self._suggestion_end = False
        self._skip: dict[str, dict[str, int]] = {}
        self._exited: set[str] = set()  # trials whose processes ended, being concluded
        self._objective: dict[str, float | None] = {}
        self._view_cache: dict[str, TrialView] = {}
        self._trial_dirs: dict[str, Path] = {}
        self._tally = TrialTally(experiment)  # counts and optimal trial, updated per touched trial
        self._dirty: dict[str, None] = {}  # trials touched since the tally last saw them, in order
        self._replaced: set[str] = set()  # trials that a newer trial replaces (its REPLACES_LABEL)
        self._lost: dict[str, None] = {}  # trials that ended TrialLost
        # Early stopping (medianstop): each trial's first objective reports, their count, the trials to stop.
        self._median: MedianStop | None = None
        self._head: dict[str, list[float]] = {}
        self._reports: dict[str, int] = {}
        self._early_stopped: set[str] = set()
        objective = experiment.spec.objective
        self._objective_metric = str(objective.objective_metric_name) if objective else ""
        self._result_cache: dict[str, TrialResult] = {}
        self._status_flush: asyncio.Task[None] | None = None
        # The experiment's owner lease (store.lease): taken in _open, renewed by _keep_lease, released at the end.
        self.owner = owner or LeaseOwner.this_process()
        self._lease_task: asyncio.Task[None] | None = None
        self._owns_lease = False
        self._fatal: BaseException | None = None  # why the run must stop (lease lost, store gone), set by a task
        # Trials the controller decided to stop (the experiment's end, Ctrl-C): their own outcome no longer
        # counts, and one whose start was still under way stops as soon as it has started.
        self._halted: set[str] = set()

    async def _db_call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store call whose result the controller needs (see StoreQueue)."""
        return await self._db.call(fn, *args, **kwargs)

    def _db_later(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A write the controller need not wait for (see StoreQueue.later): a controller killed before it
        lands loses nothing, because a trial's outcome and observations are read again from its files."""
        self._db.later(fn, *args, **kwargs)

    # --- lifecycle ------------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        try:
            await self._open()
            while True:
                tally = self._tallied()
                best = tally.best()
                reason = end_reason_of(
                    self.experiment, tally.counts, best[1] if best else None, suggestion_end=self._suggestion_end
                )
                if reason is not None:
                    await self._finish(reason)
                    return self._status
                await self._create_trials()
                if self._suggestion_end and not self._active():
                    continue  # the end check above now reports ExperimentSuggestionEndReached
                if not self._active() and self._ended.empty():
                    # The algorithm waits for results while no trial is active or just ended: nothing would
                    # ever wake this loop. A suggester bug, but the user gets an ended experiment, not a hang.
                    log.warning("the algorithm waits for results while no trial is active; ending the search")
                    self._suggestion_end = True
                    continue
                name = await self._ended.get()
                self._tasks.pop(name, None)
                if self._fatal is not None:
                    raise self._fatal
                self._db.raise_error()
        except asyncio.CancelledError:
            await self._interrupt()
            raise
        finally:
            if self._status_flush is not None:
                self._status_flush.cancel()
            await self._end_lease()
            self._db.close()
            self._db.raise_error()

    async def _open(self) -> None:
        name, namespace = str(self.experiment.metadata.name), str(self.experiment.metadata.namespace)
        record = await self._db_call(self.store.get_experiment, name, namespace)
        spec = self.experiment.to_dict()
        if record is None:
            record = await self._db_call(self.store.create_experiment, name, namespace, spec)
            await self._take_lease(record.id)
            stamp = now_rfc3339()
            self._status = {"startTime": stamp, "conditions": []}
            set_condition(
                self._status["conditions"],
                condition("Created", True, EXPERIMENT_CREATED, "Experiment is created", stamp),
            )
        else:
            # Before anything of the experiment is read: another live controller may be driving it.
            await self._take_lease(record.id)
            record = await self._db_call(self.store.get_experiment, name, namespace) or record
            self._status = dict(record.status or {})
            self._status.setdefault("conditions", [])
            if self._status.get("completionTime"):
                # Ended before and resumed with a larger budget: Katib's restart of a LongRunning experiment.
                set_condition(
                    self._status["conditions"],
                    condition("Restarting", True, EXPERIMENT_RESTARTING, "Experiment is restarting"),
                )
                for kind in ("Succeeded", "Failed"):
                    self._status["conditions"] = [c for c in self._status["conditions"] if c["type"] != kind]
                self._status.pop("completionTime", None)
        self._record_id = record.id
        await self._db_call(self.store.update_experiment, record.id, spec=spec)
        set_condition(
            self._status["conditions"], condition("Running", True, EXPERIMENT_RUNNING, "Experiment is running")
        )
        self._status["conditions"] = [c for c in self._status["conditions"] if c["type"] != "Restarting"]
        self._build_suggester(await self._db_call(self.store.load_algorithm_state, record.id))
        self._build_early_stopping()
        await self._resume_trials()
        await self._save_status(now=True)

    async def _take_lease(self, experiment_id: int) -> None:
        """Become the experiment's one controller (ExperimentOwnedError while another live one is), and keep
        renewing the lease while the run lasts."""
        await self._db_call(self.store.acquire_lease, experiment_id, self.owner)
        self._owns_lease = True
        self._lease_task = asyncio.create_task(self._keep_lease(experiment_id), name="lease")

    async def _keep_lease(self, experiment_id: int) -> None:
        """Renew the lease every RENEW_SECONDS. Lost to another controller (this one hung past its expiry), or
        the store unreachable for longer than the lease lasts (another may have taken it over): the run stops
        and leaves the trials to whoever owns the experiment now."""
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                lease = await self._db_call(self.store.renew_lease, experiment_id, self.owner)
                self.store.check_file()  # the SQLite file deleted or replaced under the run
            except StoreError as exc:
                self._stop_run(exc)
                return
            except Exception as exc:
                if time.monotonic() - renewed > LEASE_SECONDS:
                    self._stop_run(StoreError(f"the store could not be reached for {LEASE_SECONDS:g} s: {exc}"))
                    return
                continue
            if lease is None:
                self._owns_lease = False
                self._stop_run(ExperimentOwnedError("the experiment's lease was taken over by another controller"))
                return
            renewed = time.monotonic()

    def _stop_run(self, error: BaseException) -> None:
        """End run() with ``error`` at its next step (it waits on the queue of ended trials)."""
        if self._fatal is None:
            self._fatal = error
        self._ended.put_nowait("")

    async def _end_lease(self) -> None:
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._lease_task
        if self._owns_lease:
            self._owns_lease = False
            with contextlib.suppress(Exception):  # a dead store: the lease expires, and our pid is gone anyway
                await self._db_call(self.store.release_lease, self._record_id, self.owner)

    def _build_suggester(self, state: dict[str, Any] | None) -> None:
        self._suggester = experiment_suggester(self.experiment.spec, state)

    def _build_early_stopping(self) -> None:
        early = self.experiment.spec.early_stopping
        if early is None or not early.algorithm_name:
            return
        objective = self.experiment.spec.objective
        assert objective is not None and objective.type is not None
        settings = early_stopping_settings(early.algorithm_name, early.algorithm_settings or [])
        self._median = MedianStop(objective.type, settings)

    async def _resume_trials(self) -> None:
        """Trials of an earlier run: keep the finished, re-attach the running, start the never-started."""
        records = await self._db_call(self.store.list_trials, self._record_id)
        summaries = await self._db_call(self.store.metric_summaries, self._record_id)
        for record in records:
            self._trials[record.name] = record
            self._note_labels(record)
            self._touch(record.name)
            self._metrics[record.name] = {
                metric: MetricSummary(metric, s.min, s.max, s.latest, record.completion_time or datetime.now(UTC))
                for metric, s in summaries.get(record.id, {}).items()
            }
            self._objective[record.name] = objective_value(self.experiment, self._metrics[record.name])
            if record.phase == SUCCEEDED and self._median is not None:
                rows = await self._db_call(self.store.list_observations, record.id, self._objective_metric)
                self._median.record_succeeded(record.name, [r.value for r in rows])
            if record.phase not in ACTIVE_PHASES:
                continue
            # A pending trial may have been started just before the crash: its processes file says so.
            running = self.executor.reattach(record.name, self._trial_dir(record.name))
            if record.phase == RUNNING and running is None:
                await self._end_trial(
                    record.name, KILLED, TRIAL_LOST, "the trial's processes were not found after a restart"
                )
                continue
            if running is None:
                self._reset_trial_files(record.name)  # pending, or its start was cut short
                self._spawn(record.name, None)
                continue
            # The collector reads the trial's files again from the start (they are the record): the first
            # observations it finds are those already stored, so they are counted off, not stored twice.
            rows = await self._db_call(self.store.list_observations, record.id)
            stored = [Observation(r.metric_name, r.value, r.time) for r in rows]
            self._metrics[record.name] = summarize(stored)
            self._objective[record.name] = objective_value(self.experiment, self._metrics[record.name])
            self._touch(record.name)
            self._skip[record.name] = dict(Counter(o.metric_name for o in stored))
            self._watch_reports(record.name, stored)
            self._spawn(record.name, running)

    # --- creating and running trials ------------------------------------------------------------------

    def _active(self) -> int:
        return self._tallied().counts.active

    def _view(self, name: str) -> TrialView:
        view = self._view_cache.get(name)
        if view is None:
            t = self._trials[name]
            view = TrialView(t.name, t.phase, t.reason, t.parameter_assignments, self._metrics.get(name, {}),
                             self._objective.get(name))  # fmt: skip
            self._view_cache[name] = view
        return view

    def _views(self) -> list[TrialView]:
        # In creation order, whatever order the cache was refilled in: suggesters index into this list.
        return [self._view(name) for name in self._trials]

    def _tallied(self) -> TrialTally:
        """Counts and optimal trial, brought up to date with the trials touched since the last call."""
        for name in self._dirty:
            self._tally.update(self._view(name))
        self._dirty.clear()
        return self._tally

    def _note_labels(self, record: TrialRecord) -> None:
        replaced = record.labels.get(REPLACES_LABEL)
        if replaced is not None:
            self._replaced.add(replaced)
        if record.reason == TRIAL_LOST:
            self._lost[record.name] = None

    def _results(self) -> list[TrialResult]:
        results = self._result_cache
        for name, t in self._trials.items():
            if name not in results:
                results[name] = TrialResult(name, t.parameter_assignments, t.phase, self._objective.get(name), t.labels)
        return [results[name] for name in self._trials]

    def _touch(self, name: str) -> None:
        """The trial's record, metrics or objective changed: rebuild its views when next asked. (Rebuilding
        every trial's views on every event made a long experiment quadratic.)"""
        self._view_cache.pop(name, None)
        self._result_cache.pop(name, None)
        self._dirty[name] = None

    async def _create_trials(self) -> None:
        wanted = trials_to_create(self.experiment, self._tallied().counts)
        if wanted <= 0:
            return
        # A lost trial is run again with the same assignment before anything new is asked for (in creation
        # order; looked for only when there is one, so that a step does not cost a pass over every trial).
        # Its replacement exists before the suggester is asked, so that a staged algorithm (hyperband's
        # rungs, PBT's generations) sees the slot taken again instead of closing the stage without it.
        unreplaced = {n for n in self._lost if n not in self._replaced}
        lost = [t for n, t in self._trials.items() if n in unreplaced][:wanted] if unreplaced else []
        await self._add_trials([(dict(t.parameter_assignments), {**t.labels, REPLACES_LABEL: t.name}) for t in lost])
        wanted -= len(lost)
        if wanted <= 0 or self._suggestion_end:
            return
        assert self._suggester is not None
        suggester = self._suggester
        if isinstance(suggester, RandomSuggester | GridSuggester):
            # pykatib's own draws take microseconds, less than handing them to a thread and back.
            suggestions = suggester.suggest(wanted, self._results())
        else:  # a model-based algorithm can take seconds: the loop keeps following the running trials
            suggestions = await asyncio.to_thread(suggester.suggest, wanted, self._results())
        self._db_later(self.store.save_algorithm_state, self._record_id, suggester.state())
        if len(suggestions) < wanted and not suggester.waiting():
            self._suggestion_end = True
        await self._add_trials([(s.assignment, dict(s.labels)) for s in suggestions])

    async def _add_trials(self, new: list[tuple[dict[str, str], dict[str, str]]]) -> None:
        """Create these trials in the store and start them."""
        if not new:
            return
        name = str(self.experiment.metadata.name)
        trials = []
        for assignment, labels in new:
            trial_name = new_trial_name(name)
            trials.append(NewTrial(trial_name, assignment, labels, work_dir=str(self._trial_dir(trial_name))))
        records = await self._db_call(self.store.create_trials, self._record_id, trials)
        for record in records:
            self._trials[record.name] = record
            self._note_labels(record)
            self._touch(record.name)
            self._metrics[record.name] = {}
            self._spawn(record.name, None)
        await self._save_status()

    def _trial_dir(self, name: str) -> Path:
        path = self._trial_dirs.get(name)
        if path is None:
            # A trial of an earlier run keeps the directory it was created with (an older layout included).
            stored = self._trials[name].work_dir if name in self._trials else None
            path = self._trial_dirs[name] = Path(stored) if stored else self.experiment_dir / "trials" / name
        return path

    def _spawn(self, name: str, running: RunningTrial | None) -> None:
        self._tasks[name] = asyncio.create_task(self._run_trial(name, running), name=f"trial {name}")

    async def _run_trial(self, name: str, running: RunningTrial | None) -> None:
        """Start (or follow) one trial to its end, streaming its observations into the store."""
        record = self._trials[name]
        if name in self._halted:
            return  # stopped before it started: the controller records why
        try:
            try:
                launch = prepare_trial(
                    self.experiment, name, record.parameter_assignments, self._trial_dir(name), self.image_map,
                    labels=record.labels, trial_spec=self.trial_spec, reattach=running is not None,
                )  # fmt: skip
            except (TrialLaunchError, ValueError) as exc:
                await self._end_trial(name, FAILED, TRIAL_FAILED, f"the trial could not be started: {exc}")
                return
            if running is None:
                running = await self.executor.start(name, self._trial_dir(name), launch.launches)
            if name in self._halted:
                await running.stop()  # halted while its processes were starting
            elif self._trials[name].phase != RUNNING:
                await self._update_trial(name, phase=RUNNING, reason=TRIAL_RUNNING, message="Trial is running",
                                         start_time=datetime.now(UTC), pid=running.records[0].pid)  # fmt: skip
            self._running[name] = running
            waiter = asyncio.ensure_future(running.wait())
            started = record.start_time or datetime.now(UTC)
            deadline = launch.deadline_seconds
            timed_out = False
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=POLL_SECONDS)
                if waiter.done():
                    break  # finish() below reads the rest: polling now would only read the files twice
                await self._store_observations(name, launch.collector.poll())
                if name in self._early_stopped and not running.stopping:
                    await running.stop()
                overdue = deadline is not None and (datetime.now(UTC) - started).total_seconds() > deadline
                if overdue and not waiter.done():
                    timed_out = True
                    await running.stop()
            codes = await waiter
            self._exited.add(name)
            await self._store_observations(name, launch.collector.finish())
            launch.collector.close()
            await self._conclude(name, codes, running, timed_out, deadline)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in one trial's handling must not take the experiment down
            log.exception("trial %s", name)
            try:
                await self._end_trial(name, FAILED, TRIAL_FAILED, f"pykatib could not run the trial: {exc}")
            except Exception:
                # The store failed as well (a write nobody awaited): wake the main loop, which raises that
                # error and ends the run, instead of waiting forever for this trial's end. The trial's
                # files stay the record for --resume.
                self._ended.put_nowait(name)
        finally:
            self._running.pop(name, None)
            self._exited.discard(name)

    async def _conclude(
        self, name: str, codes: dict[str, int | None], running: RunningTrial, timed_out: bool, deadline: float | None
    ) -> None:
        if name in self._halted:
            return  # stopped by the controller, which records why: an end after its decision changes nothing
        if name in self._early_stopped:
            await self._end_trial(name, EARLY_STOPPED, TRIAL_EARLY_STOPPED, "Trial is early stopped")
            return
        if running.stopping and not timed_out and any(c != 0 for c in codes.values()):
            return  # stopped by the controller, which records why; all zeros: it had finished just before
        primary = next(r.key for r in running.records if r.primary)
        code = codes.get(primary)
        if timed_out:
            await self._end_trial(
                name,
                FAILED,
                DEADLINE_EXCEEDED,
                f"the trial ran longer than activeDeadlineSeconds ({deadline:g})",
                exit_code=code,
            )
        elif any(c is None for c in codes.values()):
            await self._end_trial(
                name, KILLED, TRIAL_LOST, "the trial's process vanished without an exit status", exit_code=code
            )
        elif any(c != 0 for c in codes.values()):
            failed = ", ".join(f"{k} exited with {c}" for k, c in codes.items() if c != 0)
            await self._end_trial(name, FAILED, TRIAL_FAILED, f"Trial has failed: {failed}", exit_code=code)
        elif self._objective.get(name) is None:
            objective = self.experiment.spec.objective
            assert objective is not None
            await self._end_trial(
                name, METRICS_UNAVAILABLE, TRIAL_METRICS_UNAVAILABLE,
                f"Metrics are not available: {objective.objective_metric_name} was never reported", exit_code=code,
            )  # fmt: skip
        else:
            await self._end_trial(name, SUCCEEDED, TRIAL_SUCCEEDED, "Trial has succeeded", exit_code=code)

    async def _store_observations(self, name: str, observations: list[Observation]) -> None:
        skip = self._skip.get(name)
        if skip and observations:
            fresh = []
            for observation in observations:
                if skip.get(observation.metric_name, 0) > 0:
                    skip[observation.metric_name] -= 1
                else:
                    fresh.append(observation)
            observations = fresh
        if not observations:
            return
        metrics = summarize(observations, into=self._metrics.setdefault(name, {}))
        self._objective[name] = objective_value(self.experiment, metrics)
        self._touch(name)
        if self._median is not None:
            self._watch_reports(name, observations)
        trial_id = self._trials[name].id
        rows = [ObservationRow(trial_id, o.metric_name, o.value, o.timestamp) for o in observations]
        self._db_later(self.store.add_observations, rows)

    def _watch_reports(self, name: str, observations: list[Observation]) -> None:
        """Medianstop: keep each trial's first start_step objective reports; at the start_step-th, check it."""
        median = self._median
        if median is None:
            return
        head = self._head.setdefault(name, [])
        for observation in observations:
            if observation.metric_name != self._objective_metric:
                continue
            self._reports[name] = reports = self._reports.get(name, 0) + 1
            if len(head) < median.start_step:
                head.append(observation.value)
            best = max(head) if median.maximize else min(head)
            if self._trials[name].phase == RUNNING and median.should_stop(reports, best):
                self._early_stopped.add(name)

    async def _update_trial(self, name: str, **fields: Any) -> None:
        self._db_later(self.store.update_trial, self._trials[name].id, **fields)
        self._trials[name] = _replace(self._trials[name], **fields)
        if "reason" in fields:
            if fields["reason"] == TRIAL_LOST:
                self._lost[name] = None
            else:
                self._lost.pop(name, None)
        self._touch(name)

    async def _end_trial(self, name: str, phase: str, reason: str, message: str, exit_code: int | None = None) -> None:
        if phase == SUCCEEDED and self._median is not None:
            self._median.record_succeeded(name, self._head.get(name, []))
        value = self._objective.get(name)
        await self._update_trial(name, phase=phase, reason=reason, message=message, completion_time=datetime.now(UTC),
                                 exit_code=exit_code, objective_value=value)  # fmt: skip
        await self._save_status()
        self._ended.put_nowait(name)

    # --- ending ---------------------------------------------------------------------------------------

    async def _stop_all(self, reason: str, message: str) -> None:
        """Stop every active trial (Katib leaves them running; pykatib does not)."""
        names = [n for n, t in self._trials.items() if t.phase in ACTIVE_PHASES]
        await self._halt(names)
        for name in names:
            if self._trials[name].phase in ACTIVE_PHASES:
                await self._end_trial(name, KILLED, reason, message)

    async def _halt(self, names: list[str]) -> None:
        """Stop these trials' processes (all at once) and let their tasks finish. A trial whose processes
        exited on their own before the stop records its own outcome: it finished before the experiment.
        A trial still starting (its task not yet run, or inside the executor's start) is halted too: it stops
        as soon as its start returns, and whatever it does after this decision is not recorded."""
        self._halted.update(n for n in names if n not in self._exited)
        stops = [self._running[n].stop() for n in names if n in self._running and n not in self._exited]
        await asyncio.gather(*stops)
        tasks = [self._tasks.pop(n) for n in names if n in self._tasks]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=HALT_SECONDS)
            for task in late:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _interrupt(self) -> None:
        """Ctrl-C: stop the running trials and put them back to pending, to be run again on --resume."""
        names = [n for n, t in self._trials.items() if t.phase in ACTIVE_PHASES]
        await self._halt(names)
        names = [n for n in names if self._trials[n].phase in ACTIVE_PHASES]
        for name in names:
            message = "the controller was interrupted; the trial runs again on --resume"
            await self._update_trial(
                name, phase=CREATED, reason=TRIAL_INTERRUPTED, message=message, start_time=None, pid=None
            )
            self._reset_trial_files(name)
        await self._save_status(now=True)

    def _reset_trial_files(self, name: str) -> None:
        """A trial about to run again from nothing: its old files and observations would be mistaken for the
        new run's (the collector reads a trial's files from the start)."""
        self._db_later(self.store.delete_observations, self._trials[name].id)
        self._metrics[name], self._objective[name] = {}, None
        self._skip.pop(name, None)
        self._head.pop(name, None)
        self._reports.pop(name, None)
        self._touch(name)
        shutil.rmtree(self._trial_dir(name), ignore_errors=True)

    async def _finish(self, reason: str) -> None:
        await self._stop_all(TRIAL_KILLED, "the experiment has ended")
        stamp = now_rfc3339()
        conditions = self._status.setdefault("conditions", [])
        set_condition(conditions, condition("Running", False, reason, END_MESSAGES[reason], stamp))
        kind = "Failed" if reason == EXPERIMENT_FAILED else "Succeeded"
        set_condition(conditions, condition(kind, True, reason, END_MESSAGES[reason], stamp))
        self._status["completionTime"] = stamp
        await self._save_status(now=True)

    async def _save_status(self, *, now: bool = False) -> None:
        """Write the status block. Trials are the record and are written as they change; the status is
        derived from them, so during a run it is written at most every STATUS_SECONDS (on a 300-trial
        experiment rewriting it per event was most of the controller's time)."""
        if not now:
            if self._status_flush is None or self._status_flush.done():
                self._status_flush = asyncio.create_task(self._flush_status_later())
            return
        if self._status_flush is not None and not self._status_flush.done():
            self._status_flush.cancel()
        await self._write_status()

    async def _flush_status_later(self) -> None:
        await asyncio.sleep(STATUS_SECONDS)
        await self._write_status()

    async def _write_status(self) -> None:
        self._status = status_block(self.experiment, self._views(), self._status)
        self._status["lastReconcileTime"] = now_rfc3339()
        # A copy: the write runs later on the store's thread, and _finish changes the conditions in place.
        snapshot = {**self._status, "conditions": [dict(c) for c in self._status.get("conditions", [])]}
        self._db_later(self.store.update_experiment, self._record_id, status=snapshot)
        if self.on_change is not None:
            self.on_change(self._status)


def _replace(record: TrialRecord, **fields: Any) -> TrialRecord:
    return dataclasses.replace(record, **fields)
