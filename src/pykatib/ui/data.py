"""The UI's data, read from the store in bulk and sent as columns (one array per field, not one object per
trial): the experiment page of a 10,000-trial experiment is a few queries and a few MB of JSON.

An experiment's trials come in full once, then as changes: ``since`` (microseconds: the time of the last
answer) asks for the trials whose row changed since then, less WATCH_SLACK_MICROS (a change committed late
carries an earlier time; the page merges rows by id, so a row sent twice is harmless), and those still running,
whose observations arrive without changing their row. The objective's reports of those trials come as one flat
float32 array with offsets (``series``).
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from pykatib.control.status import UNAVAILABLE
from pykatib.spec.conditions import ACTIVE_PHASES, TrialPhase
from pykatib.store import ExperimentRecord, MetricStats, Store, TrialRecord

WATCH_SLACK_MICROS = 2_000_000
NUMERIC_TYPES = ("double", "int", "discrete")
STOP_ANNOTATION = "pykatib.kubeflow.org/stop"  # server.names' (that layer is above this one; a test compares them)
# Status fields listed per trial name (10,000 names for 10,000 trials): the page counts, it does not list.
_NAME_LISTS = "TrialList"


def millis(value: datetime | None) -> int | None:
    """Whole milliseconds since the epoch (what JavaScript's Date takes); None stays None."""
    return None if value is None else int(value.timestamp() * 1000)


def micros(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def status_of(record: ExperimentRecord) -> tuple[str, str, str]:
    """The experiment's last true condition, as ``kubectl get experiments`` shows it: type, reason, message."""
    true = [c for c in (record.status or {}).get("conditions") or [] if str(c.get("status")) == "True"]
    if not true:
        return "Created", "", ""
    last = true[-1]
    return str(last.get("type") or ""), str(last.get("reason") or ""), str(last.get("message") or "")


# Phases whose trials reported their metrics (a failed one may have none: no summary is asked for).
REPORTED = frozenset({TrialPhase.SUCCEEDED, TrialPhase.EARLY_STOPPED})


def objective_of(record: ExperimentRecord) -> dict[str, Any]:
    return dict((record.spec.get("spec") or {}).get("objective") or {})


def optimal_value(record: ExperimentRecord) -> float | str | None:
    """The optimal trial's objective value, reduced by the objective metric's strategy (min for minimize, max for
    maximize, unless ``metricStrategies`` says otherwise), as Katib compares trials."""
    objective = objective_of(record)
    name = objective.get("objectiveMetricName")
    optimal = (record.status or {}).get("currentOptimalTrial") or {}
    metrics = (optimal.get("observation") or {}).get("metrics") or []
    found = next((m for m in metrics if m.get("name") == name), None)
    if found is None:
        return None
    strategy = "min" if objective.get("type") == "minimize" else "max"
    for given in objective.get("metricStrategies") or []:
        if given.get("name") == name and given.get("value") in ("min", "max", "latest"):
            strategy = given["value"]
    for value in (found.get(strategy), found.get("latest")):
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    latest = found.get("latest")  # a text value (a DARTS genotype) is shown as it is; "unavailable" is none
    return latest if isinstance(latest, str) and latest not in ("", UNAVAILABLE) else None


def experiment_row(record: ExperimentRecord) -> dict[str, Any]:
    """One line of the experiments list: read from the experiment's row alone (its status counts the trials)."""
    status = record.status or {}
    spec = record.spec.get("spec") or {}
    phase, reason, message = status_of(record)
    objective = objective_of(record)
    annotations = (record.spec.get("metadata") or {}).get("annotations") or {}
    return {
        "namespace": record.namespace,
        "name": record.name,
        "status": phase,
        "reason": reason,
        "message": message,
        "created": millis(record.created_at),
        "trials": status.get("trials") or 0,
        "succeeded": status.get("trialsSucceeded") or 0,
        "running": status.get("trialsRunning") or 0,
        "pending": status.get("trialsPending") or 0,
        "failed": status.get("trialsFailed") or 0,
        "killed": status.get("trialsKilled") or 0,
        "earlyStopped": status.get("trialsEarlyStopped") or 0,
        "optimal": optimal_value(record),
        "objectiveMetric": objective.get("objectiveMetricName"),
        "objectiveType": objective.get("type"),
        "algorithm": (spec.get("algorithm") or {}).get("algorithmName"),
        "maxTrialCount": spec.get("maxTrialCount"),
        "ended": bool(status.get("completionTime")),
        "stopRequested": str(annotations.get(STOP_ANNOTATION, "")).lower() == "true",
    }


def experiment_view(record: ExperimentRecord) -> dict[str, Any]:
    """The experiment page's overview: the list's line, the spec's parts the page shows, and the status
    without its per-trial name lists."""
    spec = record.spec.get("spec") or {}
    status = {k: v for k, v in (record.status or {}).items() if not k.endswith(_NAME_LISTS)}
    shown = ("objective", "algorithm", "earlyStopping", "parameters", "maxTrialCount", "parallelTrialCount",
             "maxFailedTrialCount", "resumePolicy", "metricsCollectorSpec")  # fmt: skip
    return {
        **experiment_row(record),
        "resourceVersion": str(micros(record.updated_at)),
        "spec": {key: spec[key] for key in shown if key in spec},
        "statusBlock": status,
    }


def _parameter(value: str, kind: str) -> float | str | None:
    if kind not in NUMERIC_TYPES:
        return value
    try:
        return float(value)
    except ValueError:
        return None


def trial_columns(
    record: ExperimentRecord, trials: Sequence[TrialRecord], summaries: dict[int, dict[str, MetricStats]]
) -> dict[str, Any]:
    """The trials as columns: ids, names, phases, times (ms), objective values, each parameter (numbers for
    numeric parameters), each label and each metric's min/max/latest; null where a trial has none."""
    parameters = {
        str(p.get("name")): str(p.get("parameterType") or "")
        for p in (record.spec.get("spec") or {}).get("parameters") or []
    }
    count = len(trials)
    names = list(parameters)
    for trial in trials:
        names.extend(n for n in trial.parameter_assignments if n not in parameters and n not in names)
    params: dict[str, list[Any]] = {name: [None] * count for name in names}
    labels: dict[str, list[Any]] = {}
    metrics: dict[str, dict[str, list[Any]]] = {}
    for row, trial in enumerate(trials):
        for name, value in trial.parameter_assignments.items():
            params[name][row] = _parameter(value, parameters.get(name, "categorical"))
        for key, value in trial.labels.items():
            if key not in labels:
                labels[key] = [None] * count
            labels[key][row] = value
        for name, stats in (summaries.get(trial.id) or {}).items():
            if name not in metrics:
                metrics[name] = {"min": [None] * count, "max": [None] * count, "latest": [None] * count}
            columns = metrics[name]
            columns["min"][row] = stats.min
            columns["max"][row] = stats.max
            columns["latest"][row] = stats.latest
    return {
        "id": [t.id for t in trials],
        "name": [t.name for t in trials],
        "phase": [t.phase.value for t in trials],
        "reason": [t.reason for t in trials],
        "created": [millis(t.created_at) for t in trials],
        "start": [millis(t.start_time) for t in trials],
        "end": [millis(t.completion_time) for t in trials],
        "objective": [t.objective_value for t in trials],
        "params": params,
        "labels": labels,
        "metrics": metrics,
    }


def series_payload(metric: str | None, trial_ids: Sequence[int], values: Sequence[float]) -> dict[str, Any]:
    """One metric's reports, per trial in order: ``trial[i]``'s are ``values[offset[i]:offset[i + 1]]``, the
    values little-endian float32, base64 (a quarter of their JSON size, decoded at once by the page)."""
    trial: list[int] = []
    offset: list[int] = []
    last = None
    for index, trial_id in enumerate(trial_ids):
        if trial_id != last:
            trial.append(trial_id)
            offset.append(index)
            last = trial_id
    offset.append(len(trial_ids))
    packed = np.asarray(values, dtype="<f4").tobytes()
    return {"metric": metric, "trial": trial, "offset": offset, "values": base64.b64encode(packed).decode("ascii")}


def _trials_part(store: Store, record: ExperimentRecord, since: int | None) -> bytes:
    """``"trials":...,"series":...`` of an answer, as JSON: every trial, or those changed ``since``."""
    if since:
        stamp = datetime.fromtimestamp(max(0, since - WATCH_SLACK_MICROS) / 1_000_000, UTC)
        trials = store.trials_changed_since(record.id, stamp)
        ids: Sequence[int] | None = [t.id for t in trials]
    else:
        trials = store.list_trials(record.id)
        ids = None
    objective = objective_of(record)
    metric = objective.get("objectiveMetricName")
    series_ids, values = store.observation_series(record.id, metric, ids) if metric and trials else ([], [])
    if objective.get("additionalMetricNames") or not metric:
        summaries = store.metric_summaries(record.id, ids) if trials else {}
    else:  # the objective is the only metric kept (collectors keep no other): its reports hold every summary
        summaries = summaries_of(metric, series_ids, values)
        # ... of numbers: a trial whose objective is text (a DARTS genotype) has no series, its summary is read
        texts = [t.id for t in trials if t.id not in summaries and t.objective_value is None and t.phase in REPORTED]
        if texts:
            summaries.update(store.metric_summaries(record.id, texts))
    part = {"trials": trial_columns(record, trials, summaries), "series": series_payload(metric, series_ids, values)}
    return orjson.dumps(part)[1:-1]


def summaries_of(metric: str, trial_ids: Sequence[int], values: Sequence[float]) -> dict[int, dict[str, MetricStats]]:
    """``Store.metric_summaries`` of one metric from its series (each trial's reports in order: the last one is
    the latest), without another query."""
    if not trial_ids:
        return {}
    ids = np.asarray(trial_ids)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    array = np.asarray(values, dtype=float)
    low, high = np.minimum.reduceat(array, starts), np.maximum.reduceat(array, starts)
    return {
        int(ids[start]): {metric: MetricStats(float(low[i]), float(high[i]), float(array[end - 1]), int(end - start))}
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    }


class ExperimentAnswers:
    """The experiment page's answers (JSON): its overview, and its trials, all of them or those changed ``since``.

    The trials' part of a full answer is kept per experiment (KEPT of them) while none of its trials changes
    (one cheap query tells: nothing changed since it was read, less the slack, and none is running): another
    page of a finished 10,000-trial experiment then costs that query, not a few hundred milliseconds."""

    KEPT = 8

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[int, datetime], tuple[int, bytes]] = OrderedDict()

    def answer(self, record: ExperimentRecord, since: int | None) -> bytes:
        now = micros(datetime.now(UTC))  # before reading: what changes meanwhile is sent next time
        part = _trials_part(self.store, record, since) if since else self._full(record, now)
        head = {"experiment": experiment_view(record), "full": not since, "since": now}
        return orjson.dumps(head)[:-1] + b"," + part + b"}"

    def _full(self, record: ExperimentRecord, now: int) -> bytes:
        key = (record.id, record.created_at)  # a deleted experiment's id may be given to a new one
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None:
            read_at, part = kept
            stamp = datetime.fromtimestamp((read_at - WATCH_SLACK_MICROS) / 1_000_000, UTC)
            if not self.store.trials_changed_since(record.id, stamp):
                return part
        part = _trials_part(self.store, record, None)
        with self._lock:
            self._kept[key] = (now, part)
            self._kept.move_to_end(key)
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
        return part


def trial_data(store: Store, record: ExperimentRecord, trial: TrialRecord) -> dict[str, Any]:
    """A trial page's data: its row, and every metric's reports as times (ms) and values, in order."""
    rows = store.list_observations(trial.id)
    metrics: dict[str, dict[str, list[Any]]] = {}
    for row in rows:
        if isinstance(row.value, str):
            continue  # a text value (a genotype) is no point of a curve; the trial's row shows the latest
        series = metrics.setdefault(row.metric_name, {"time": [], "value": []})
        series["time"].append(millis(row.time))
        series["value"].append(row.value)
    return {
        "experiment": experiment_row(record),
        "name": trial.name,
        "phase": str(trial.phase),
        "active": trial.phase in ACTIVE_PHASES,
        "reason": trial.reason,
        "message": trial.message,
        "created": millis(trial.created_at),
        "start": millis(trial.start_time),
        "end": millis(trial.completion_time),
        "objective": trial.objective_value,
        "exitCode": trial.exit_code,
        "assignments": trial.parameter_assignments,
        "labels": trial.labels,
        "observations": metrics,
    }
