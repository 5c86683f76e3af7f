"""The controller: Katib's reconcile loop for one experiment, on asyncio.

One step per event (a trial ended, the experiment started or resumed): count trials, check termination in
Katib's order, ask the suggester for ``min(parallel, max - completed) - active`` assignments, create and
start those trials. Each running trial has a task that follows its metrics while its processes run, and
reports its end. Everything is written to the store as it happens, so a controller that dies is replaced
by one that reads the store, re-attaches to trials still running and carries on.

The controller receives what it plugs together: the store, an ``execute.base.Executor`` (local processes
by default), an ``earlystop.base.EarlyStopper`` (the experiment's own rule by default) and the suggester
built from the experiment. It knows neither pids nor paths inside a trial.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pykatib.control.launch import TrialLaunch, TrialLaunchError, prepare_trial
from pykatib.control.lease import LeaseKeeper
from pykatib.control.render import new_trial_name
from pykatib.control.status import (
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
from pykatib.control.trial_state import TrialState
from pykatib.earlystop import EarlyStopper, create_early_stopper
from pykatib.execute.base import Executor, LaunchSpec, TrialHandle
from pykatib.execute.gpus import GpuExecutor
from pykatib.execute.local import LocalExecutor
from pykatib.execute.localize import ImageMap
from pykatib.execute.resources import ResourceError
from pykatib.execute.trial_venv import TrialVenv
from pykatib.metrics.observation import Observation
from pykatib.metrics.strategy import MetricSummary, summarize
from pykatib.spec.conditions import (
    ACTIVE_PHASES,
    END_MESSAGES,
    ExperimentCondition,
    ExperimentReason,
    TrialPhase,
    TrialReason,
)
from pykatib.spec.models import Experiment
from pykatib.store import (
    ExperimentNotFoundError,
    ExperimentOwnedError,
    LeaseOwner,
    NewTrial,
    ObservationRow,
    Store,
    TrialRecord,
    experiment_dir,
)
from pykatib.suggest.base import Suggester, TrialResult
from pykatib.suggest.registry import experiment_suggester

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
        executor: Executor | None = None,
        early_stopper: EarlyStopper | None = None,
        trial_spec: dict[str, Any] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
        owner: LeaseOwner | None = None,
        source_dir: Path | None = None,
        stored: bool = False,
        trial_env: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.experiment = experiment
        self.store = store
        namespace, name = str(experiment.metadata.namespace), str(experiment.metadata.name)
        self.experiment_dir = experiment_dir(workdir, namespace, name)
        # Where its trials' directories go: beside its existing trials (an older layout included), so that
        # a PBT child finds its parent's checkpoint next to its own directory.
        self._trials_root = self.experiment_dir / "trials"
        self.image_map = image_map or ImageMap()
        self.executor: Executor = executor or GpuExecutor(LocalExecutor())
        self.stopper = early_stopper if early_stopper is not None else create_early_stopper(experiment.spec)
        self.trial_spec = trial_spec
        self.source_dir = source_dir
        # What every trial process gets (the DB manager's address). A callable is called once the lease is held:
        # a controller refused for another's lease must not take over what that one's trials report to.
        self._trial_env_source = trial_env
        self.trial_env: dict[str, str] = {}
        # The experiment is in the store already and its stored document is the truth (a server's controller):
        # a missing record was deleted and is not created again, the stored document is not overwritten, and
        # its budget is read from the store once the lease is held (an edit may have landed meanwhile).
        self.stored = stored
        self.on_change = on_change
        self._db = StoreQueue(store)
        self._lease = LeaseKeeper(store, self._db, owner or LeaseOwner.this_process(), self._stop_run)
        self._record_id = 0
        self._status: dict[str, Any] = {}
        self._trials: dict[str, TrialState] = {}  # every trial, in creation order
        self._dirty: dict[str, None] = {}  # trials changed since the tally last saw them, in order
        self._lost: dict[str, None] = {}  # trials that ended TrialLost and have no replacement yet
        self._tally = TrialTally(experiment)  # counts and optimal trial, updated per changed trial
        self._ended: asyncio.Queue[str] = asyncio.Queue()  # names of trials that ended ("" wakes the loop)
        self._suggester: Suggester | None = None
        self._suggestion_end = False
        self._stop_requested = False
        self._fatal: Exception | None = None  # why the run must stop (lease lost, store gone), set by a task
        objective = experiment.spec.objective
        self._objective_metric = str(objective.objective_metric_name) if objective else ""
        self._status_flush: asyncio.Task[None] | None = None

    async def _db_call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store call whose result the controller needs (see StoreQueue)."""
        return await self._db.call(fn, *args, **kwargs)

    def _db_later(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A write the controller need not wait for (see StoreQueue.later): a controller killed before it
        lands loses nothing, because a trial's outcome and observations are read again from its files."""
        self._db.later(fn, *args, **kwargs)

    # --- the reconcile loop ---------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        try:
            await self._open()
            while (reason := self._end_reason()) is None:
                await self._create_trials()
                if self._active() or not self._ended.empty():
                    await self._next_event()
                elif not self._suggestion_end:
                    # The algorithm waits for results while no trial is active or just ended: nothing would
                    # ever wake this loop. A suggester bug, but the user gets an ended experiment, not a hang.
                    log.warning("the algorithm waits for results while no trial is active; ending the search")
                    self._suggestion_end = True
            await self._finish(reason)
            return self._status
        except asyncio.CancelledError:
            if self._record_id == 0:
                raise  # stopped while opening: nothing of the experiment is this controller's yet
            try:
                await self._lease.confirm()
            except ExperimentOwnedError:
                raise asyncio.CancelledError from None  # its trials are another controller's now: untouched
            await self._interrupt()
            raise
        finally:
            if self._status_flush is not None:
                self._status_flush.cancel()
            await self._lease.release()
            self._db.close()
            self._db.raise_error()

    def request_stop(self) -> None:
        """End the experiment at the next step, its active trials killed and its results kept (``pykatib
        stop``). Called on the controller's event loop."""
        self._stop_requested = True
        self._ended.put_nowait("")

    def set_budget(
        self, *, max_trial_count: int | None, parallel_trial_count: int | None, max_failed_trial_count: int | None
    ) -> None:
        """Katib's editable budget, changed while the experiment runs: the next step creates trials (or ends
        the experiment) by the new counts; running trials are left alone. Called on the controller's loop."""
        spec = self.experiment.spec
        spec.max_trial_count = max_trial_count
        spec.parallel_trial_count = parallel_trial_count
        spec.max_failed_trial_count = max_failed_trial_count
        self._ended.put_nowait("")

    def _adopt_budget(self, document: dict[str, Any]) -> None:
        spec = document.get("spec") or {}
        self.set_budget(
            max_trial_count=spec.get("maxTrialCount"),
            parallel_trial_count=spec.get("parallelTrialCount"),
            max_failed_trial_count=spec.get("maxFailedTrialCount"),
        )

    def _end_reason(self) -> ExperimentReason | None:
        """Katib's termination check, in its order: goal, failures, budget (and the end of the search)."""
        if self._stop_requested:
            return ExperimentReason.STOPPED
        tally = self._tallied()
        best = tally.best()
        return end_reason_of(
            self.experiment, tally.counts, best[1] if best else None, suggestion_end=self._suggestion_end
        )

    async def _next_event(self) -> None:
        """Wait for a trial to end (or for a task that must stop the run)."""
        name = await self._ended.get()
        if name in self._trials:
            self._trials[name].task = None
        if self._fatal is not None:
            raise self._fatal
        self._db.raise_error()

    def _stop_run(self, error: Exception) -> None:
        """End run() with ``error`` at its next step; the trials are left to whoever owns the experiment now
        (they outlive the controller, and --resume re-attaches to them)."""
        if self._fatal is None:
            self._fatal = error
        self._ended.put_nowait("")

    # --- opening --------------------------------------------------------------------------------------

    def _resolve_trial_env(self) -> None:
        source = self._trial_env_source
        self.trial_env = dict((source() if callable(source) else source) or {})

    async def _open(self) -> None:
        name, namespace = str(self.experiment.metadata.name), str(self.experiment.metadata.namespace)
        record = await self._db_call(self.store.get_experiment, name, namespace)
        spec = self.experiment.to_dict()
        if record is None and self.stored:
            raise ExperimentNotFoundError(f"experiment {namespace}/{name} is no longer in the store")
        if record is None:
            record = await self._db_call(self.store.create_experiment, name, namespace, spec)
            await self._lease.take(record.id)
            self._resolve_trial_env()
            stamp = now_rfc3339()
            self._status = {"startTime": stamp, "conditions": []}
            set_condition(
                self._status["conditions"],
                condition(ExperimentCondition.CREATED, True, ExperimentReason.CREATED, "Experiment is created", stamp),
            )
        else:
            # Before anything of the experiment is read: another live controller may be driving it.
            await self._lease.take(record.id)
            self._resolve_trial_env()
            record = await self._db_call(self.store.get_experiment, name, namespace) or record
            if self.stored:
                self._adopt_budget(record.spec)
            self._status = dict(record.status or {})
            if not self._status.get("conditions"):  # created through the server's API, never run yet
                stamp = now_rfc3339()
                self._status.setdefault("startTime", stamp)
                self._status["conditions"] = [condition(ExperimentCondition.CREATED, True, ExperimentReason.CREATED,
                                                        "Experiment is created", stamp)]  # fmt: skip
            if self._status.get("completionTime"):
                # Ended before and resumed with a larger budget: Katib's restart of a LongRunning experiment.
                set_condition(
                    self._status["conditions"],
                    condition(
                        ExperimentCondition.RESTARTING, True, ExperimentReason.RESTARTING, "Experiment is restarting"
                    ),
                )
                for kind in (ExperimentCondition.SUCCEEDED, ExperimentCondition.FAILED):
                    self._status["conditions"] = [c for c in self._status["conditions"] if c["type"] != kind]
                self._status.pop("completionTime", None)
        self._record_id = record.id
        if not self.stored:
            await self._db_call(self.store.update_experiment, record.id, spec=spec)
        set_condition(
            self._status["conditions"],
            condition(ExperimentCondition.RUNNING, True, ExperimentReason.RUNNING, "Experiment is running"),
        )
        self._status["conditions"] = [
            c for c in self._status["conditions"] if c["type"] != ExperimentCondition.RESTARTING
        ]
        state = await self._db_call(self.store.load_algorithm_state, record.id)
        self._suggester = experiment_suggester(self.experiment.spec, state)
        await self._resume_trials()
        await self._save_status(now=True)

    async def _resume_trials(self) -> None:
        """Trials of an earlier run: keep the finished, re-attach the running, start the never-started."""
        records = await self._db_call(self.store.list_trials, self._record_id)
        summaries = await self._db_call(self.store.metric_summaries, self._record_id)
        replaced = {r.labels[REPLACES_LABEL] for r in records if REPLACES_LABEL in r.labels}
        if records and records[-1].work_dir:
            self._trials_root = Path(records[-1].work_dir).parent
        for record in records:
            trial = self._add_state(record)
            trial.metrics = {
                metric: MetricSummary(metric, s.min, s.max, s.latest, record.completion_time or datetime.now(UTC))
                for metric, s in summaries.get(record.id, {}).items()
            }
            trial.objective = objective_value(self.experiment, trial.metrics)
            if record.reason == TrialReason.LOST and record.name not in replaced:
                self._lost[record.name] = None
            if record.phase == TrialPhase.SUCCEEDED and self.stopper is not None:
                rows = await self._db_call(self.store.list_observations, record.id, self._objective_metric)
                self.stopper.observe(record.name, [r.value for r in rows if not isinstance(r.value, str)])
                self.stopper.succeeded(record.name)
            if record.phase not in ACTIVE_PHASES:
                continue
            # A pending trial may have been started just before the crash: the executor knows.
            handle = self.executor.reattach(record.name, trial.directory)
            if record.phase == TrialPhase.RUNNING and handle is None:
                await self._end_trial(
                    trial, TrialPhase.KILLED, TrialReason.LOST, "the trial's processes were not found after a restart"
                )
                continue
            if handle is None:
                self._reset(trial)  # pending, or its start was cut short
                self._spawn(trial, None)
                continue
            # The collector reads the trial's files again from the start (they are the record): the first
            # observations it finds are those already stored, so they are counted off, not stored twice.
            rows = await self._db_call(self.store.list_observations, record.id)
            stored = [Observation(r.metric_name, r.value, r.time) for r in rows]
            trial.metrics = summarize(stored)
            trial.objective = objective_value(self.experiment, trial.metrics)
            trial.skip = dict(Counter(o.metric_name for o in stored))
            self._touch(trial)
            self._observe_objective(trial, stored)
            self._spawn(trial, handle)

    # --- counting -------------------------------------------------------------------------------------

    def _active(self) -> int:
        return self._tallied().counts.active

    def _tallied(self) -> TrialTally:
        """Counts and optimal trial, brought up to date with the trials changed since the last call."""
        for name in self._dirty:
            self._tally.update(self._trials[name].view())
        self._dirty.clear()
        return self._tally

    def _views(self) -> list[TrialView]:
        return [trial.view() for trial in self._trials.values()]

    def _results(self) -> list[TrialResult]:
        # In creation order: suggesters index into this list.
        return [trial.result() for trial in self._trials.values()]

    def _touch(self, trial: TrialState) -> None:
        trial.changed()
        self._dirty[trial.name] = None

    # --- creating trials ------------------------------------------------------------------------------

    async def _create_trials(self) -> None:
        wanted = trials_to_create(self.experiment, self._tallied().counts)
        if wanted <= 0:
            return
        # A lost trial is run again with the same assignment before anything new is asked for (in creation
        # order). Its replacement exists before the suggester is asked, so that a staged algorithm
        # (hyperband's rungs, PBT's generations) sees the slot taken again instead of closing the stage.
        lost = [t.record for name, t in self._trials.items() if name in self._lost][:wanted] if self._lost else []
        await self._add_trials([(dict(t.parameter_assignments), {**t.labels, REPLACES_LABEL: t.name}) for t in lost])
        wanted -= len(lost)
        if wanted <= 0 or self._suggestion_end:
            return
        assert self._suggester is not None
        suggester = self._suggester
        if suggester.inline:  # its suggest() takes microseconds: no thread hand-off
            suggestions = suggester.suggest(wanted, self._results())
        else:  # a model-based algorithm can take seconds: the loop keeps following the running trials
            suggestions = await asyncio.to_thread(suggester.suggest, wanted, self._results())
        self._db_later(self.store.save_algorithm_state, self._record_id, suggester.state())
        if len(suggestions) < wanted and not suggester.waiting():
            self._suggestion_end = True
        await self._add_trials([(s.assignment, dict(s.labels)) for s in suggestions])

    async def _add_trials(self, new: Sequence[tuple[dict[str, str], dict[str, str]]]) -> None:
        """Create these trials in the store and start them."""
        if not new:
            return
        name = str(self.experiment.metadata.name)
        trials = []
        for assignment, labels in new:
            trial_name = new_trial_name(name)
            directory = self._trials_root / trial_name
            trials.append(NewTrial(trial_name, assignment, labels, work_dir=str(directory)))
        records = await self._db_call(self.store.create_trials, self._record_id, trials)
        for record in records:
            self._lost.pop(record.labels.get(REPLACES_LABEL, ""), None)
            self._spawn(self._add_state(record), None)
        await self._save_status()

    def _add_state(self, record: TrialRecord) -> TrialState:
        # A trial keeps the directory it was created with (an older layout included).
        directory = Path(record.work_dir) if record.work_dir else self._trials_root / record.name
        trial = self._trials[record.name] = TrialState(record, directory)
        self._dirty[record.name] = None
        return trial

    # --- running one trial ----------------------------------------------------------------------------

    def _spawn(self, trial: TrialState, handle: TrialHandle | None) -> None:
        trial.task = asyncio.create_task(self._run_trial(trial, handle), name=f"trial {trial.name}")

    async def _run_trial(self, trial: TrialState, handle: TrialHandle | None) -> None:
        """Start (or follow) one trial to its end, streaming its observations into the store."""
        if trial.halted:
            if handle is not None:  # re-attached: its processes run, and hold what they took (GPUs)
                await handle.stop()
                await handle.wait()
            return  # stopped before it started: the controller records why
        try:
            try:
                # The trials' Python, beside their directories: made by the first trial to start.
                venv = TrialVenv.of_experiment(self._trials_root.parent)
                if not venv.ready():
                    await asyncio.to_thread(venv.ensure)
                launch = prepare_trial(
                    self.experiment, trial.name, trial.record.parameter_assignments, trial.directory,
                    self.image_map, labels=trial.record.labels, trial_spec=self.trial_spec,
                    reattach=handle is not None, source_dir=self.source_dir, venv=venv, env=self.trial_env,
                )  # fmt: skip
            except (TrialLaunchError, ValueError) as exc:
                await self._end_trial(
                    trial, TrialPhase.FAILED, TrialReason.FAILED, f"the trial could not be started: {exc}"
                )
                return
            if handle is None:
                try:
                    handle = await self._start(trial, launch.launches)
                except ResourceError as exc:  # more GPUs than the machine has, no node that fits
                    await self._end_trial(
                        trial, TrialPhase.FAILED, TrialReason.FAILED, f"the trial could not be started: {exc}"
                    )
                    return
                if handle is None:
                    return  # halted while it waited for its devices: the controller records why
            if trial.halted:
                await handle.stop()  # halted while its processes were starting
            elif trial.phase != TrialPhase.RUNNING:
                await self._update_trial(
                    trial, phase=TrialPhase.RUNNING, reason=TrialReason.RUNNING, message="Trial is running",
                    start_time=datetime.now(UTC), pid=handle.pid,
                )  # fmt: skip
            trial.handle = handle
            codes, timed_out = await self._follow(trial, handle, launch)
            trial.exited = True
            await self._store_observations(trial, launch.collector.finish())
            launch.collector.close()
            await self._conclude(trial, codes, handle, timed_out, launch.deadline_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in one trial's handling must not take the experiment down
            log.exception("trial %s", trial.name)
            try:
                await self._end_trial(
                    trial, TrialPhase.FAILED, TrialReason.FAILED, f"pykatib could not run the trial: {exc}"
                )
            except Exception:
                # The store failed as well (a write nobody awaited): wake the main loop, which raises that
                # error and ends the run, instead of waiting forever for this trial's end. The trial's
                # files stay the record for --resume.
                self._ended.put_nowait(trial.name)
        finally:
            trial.handle = None
            trial.exited = False

    async def _start(self, trial: TrialState, launches: list[LaunchSpec]) -> TrialHandle | None:
        """The executor's start, given up when the trial is halted meanwhile (it may wait long: for free GPUs)."""
        starting = asyncio.ensure_future(self.executor.start(trial.name, trial.directory, launches))
        while not starting.done():
            await asyncio.wait({starting}, timeout=POLL_SECONDS)
            if trial.halted and not starting.done():
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
                if starting.cancelled():
                    return None
        return starting.result()

    async def _follow(
        self, trial: TrialState, handle: TrialHandle, launch: TrialLaunch
    ) -> tuple[dict[str, int | None], bool]:
        """Poll the trial's metrics while its processes run; stop it when the early-stopping rule says so
        or its deadline passes. Its exit codes, and whether the deadline stopped it."""
        waiter = asyncio.ensure_future(handle.wait())
        started = trial.record.start_time or datetime.now(UTC)
        deadline = launch.deadline_seconds
        timed_out = False
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=POLL_SECONDS)
            if waiter.done():
                break  # collector.finish() reads the rest: polling now would only read the files twice
            await self._store_observations(trial, launch.collector.poll())
            if handle.replicas_ended:
                continue  # only a collector sidecar still reports: the trial itself has ended
            if trial.early_stopped and not handle.stopping:
                await handle.stop()
            overdue = deadline is not None and (datetime.now(UTC) - started).total_seconds() > deadline
            if overdue and not waiter.done():
                timed_out = True
                await handle.stop()
        return await waiter, timed_out

    async def _conclude(
        self, trial: TrialState, codes: dict[str, int | None], handle: TrialHandle, timed_out: bool,
        deadline: float | None,
    ) -> None:  # fmt: skip
        """The trial's outcome from its exit codes and metrics, in Katib's terms."""
        if trial.early_stopped:  # decided before anything else stopped it
            await self._end_trial(trial, TrialPhase.EARLY_STOPPED, TrialReason.EARLY_STOPPED, "Trial is early stopped")
            return
        if trial.halted:
            return  # stopped by the controller, which records why: an end after its decision changes nothing
        code = codes.get(handle.primary_key)
        if timed_out:
            message = f"the trial ran longer than activeDeadlineSeconds ({deadline:g})"
            await self._end_trial(trial, TrialPhase.FAILED, TrialReason.DEADLINE_EXCEEDED, message, exit_code=code)
        elif any(c is None for c in codes.values()):
            message = "the trial's process vanished without an exit status"
            await self._end_trial(trial, TrialPhase.KILLED, TrialReason.LOST, message, exit_code=code)
        elif any(c != 0 for c in codes.values()):
            failed = ", ".join(f"{k} exited with {c}" for k, c in codes.items() if c != 0)
            await self._end_trial(
                trial, TrialPhase.FAILED, TrialReason.FAILED, f"Trial has failed: {failed}", exit_code=code
            )
        elif self._objective_metric not in trial.metrics:  # a text value counts, as in Katib
            message = f"Metrics are not available: {self._objective_metric} was never reported"
            await self._end_trial(
                trial, TrialPhase.METRICS_UNAVAILABLE, TrialReason.METRICS_UNAVAILABLE, message, exit_code=code
            )
        else:
            await self._end_trial(
                trial, TrialPhase.SUCCEEDED, TrialReason.SUCCEEDED, "Trial has succeeded", exit_code=code
            )

    async def _store_observations(self, trial: TrialState, observations: list[Observation]) -> None:
        skip = trial.skip
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
        trial.metrics = summarize(observations, into=trial.metrics)
        trial.objective = objective_value(self.experiment, trial.metrics)
        self._touch(trial)
        self._observe_objective(trial, observations)
        trial_id = trial.record.id
        rows = [ObservationRow(trial_id, o.metric_name, o.value, o.timestamp) for o in observations]
        self._db_later(self.store.add_observations, rows)

    def _observe_objective(self, trial: TrialState, observations: Sequence[Observation]) -> None:
        """Tell the early-stopping rule the trial's new objective reports; it decides whether to stop it."""
        if self.stopper is None:
            return
        objective = self._objective_metric
        values = [o.value for o in observations if o.metric_name == objective and not isinstance(o.value, str)]
        ended = trial.handle is not None and trial.handle.replicas_ended  # a sidecar's last reports
        if values and self.stopper.observe(trial.name, values) and trial.phase == TrialPhase.RUNNING and not ended:
            trial.early_stopped = True

    # --- recording ------------------------------------------------------------------------------------

    async def _update_trial(self, trial: TrialState, **fields: Any) -> None:
        self._db_later(self.store.update_trial, trial.record.id, **fields)
        trial.update(**fields)
        self._dirty[trial.name] = None

    async def _end_trial(
        self, trial: TrialState, phase: TrialPhase, reason: TrialReason, message: str, exit_code: int | None = None
    ) -> None:
        if phase == TrialPhase.SUCCEEDED and self.stopper is not None:
            self.stopper.succeeded(trial.name)
        await self._update_trial(trial, phase=phase, reason=reason, message=message, completion_time=datetime.now(UTC),
                                 exit_code=exit_code, objective_value=trial.objective)  # fmt: skip
        if reason == TrialReason.LOST:
            self._lost[trial.name] = None
        await self._save_status()
        self._ended.put_nowait(trial.name)

    def _reset(self, trial: TrialState) -> None:
        """A trial about to run again from nothing: its old files and observations would be mistaken for the
        new run's (the collector reads a trial's files from the start)."""
        self._db_later(self.store.delete_observations, trial.record.id)
        trial.reset()
        self._touch(trial)
        if self.stopper is not None:
            self.stopper.forget(trial.name)
        self.executor.remove(trial.directory)

    # --- ending ---------------------------------------------------------------------------------------

    async def _finish(self, reason: ExperimentReason) -> None:
        await self._lease.confirm()  # the trials to stop are still this controller's
        await self._stop_all(TrialReason.KILLED, "the experiment has ended")
        stamp = now_rfc3339()
        conditions = self._status.setdefault("conditions", [])
        set_condition(conditions, condition(ExperimentCondition.RUNNING, False, reason, END_MESSAGES[reason], stamp))
        kind = ExperimentCondition.FAILED if reason == ExperimentReason.FAILED else ExperimentCondition.SUCCEEDED
        set_condition(conditions, condition(kind, True, reason, END_MESSAGES[reason], stamp))
        self._status["completionTime"] = stamp
        await self._save_status(now=True)

    async def _stop_all(self, reason: TrialReason, message: str) -> None:
        """Stop every active trial (Katib leaves them running; pykatib does not)."""
        active = [t for t in self._trials.values() if t.active]
        await self._halt(active)
        for trial in active:
            if trial.active:
                await self._end_trial(trial, TrialPhase.KILLED, reason, message)

    async def _halt(self, trials: list[TrialState]) -> None:
        """Stop these trials' processes (all at once) and let their tasks finish. A trial whose processes
        exited on their own before the stop records its own outcome: it finished before the experiment.
        A trial still starting (its task not yet run, or inside the executor's start) is halted too: it stops
        as soon as its start returns, and whatever it does after this decision is not recorded."""
        halted = [t for t in trials if not t.exited]
        for trial in halted:
            trial.halted = True
        await asyncio.gather(*(t.handle.stop() for t in halted if t.handle is not None))
        tasks = [t.task for t in trials if t.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=HALT_SECONDS)
            for task in late:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _interrupt(self) -> None:
        """Ctrl-C: stop the running trials and put them back to pending, to be run again on --resume."""
        active = [t for t in self._trials.values() if t.active]
        await self._halt(active)
        for trial in active:
            if trial.active:
                message = "the controller was interrupted; the trial runs again on --resume"
                await self._update_trial(
                    trial,
                    phase=TrialPhase.CREATED,
                    reason=TrialReason.INTERRUPTED,
                    message=message,
                    start_time=None,
                    pid=None,
                )
                self._reset(trial)
        await self._save_status(now=True)

    # --- status ---------------------------------------------------------------------------------------

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
