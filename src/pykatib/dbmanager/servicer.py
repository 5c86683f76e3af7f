"""Katib's ``DBManager`` gRPC service (api.proto) over pykatib's store and trial files.

The controller is the single writer of a trial's observations: ``ReportObservationLog`` does not write to
the store but appends the report to the trial's Push file (``metrics.pushed``), which the controller follows
as it follows ``report_metrics``. So a report survives a controller restart and early stopping sees it live.
``GetObservationLog`` and ``DeleteObservationLog`` work on the store, as Katib's do on its database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc
from sqlalchemy.exc import SQLAlchemyError

from pykatib.api import api_pb2, api_pb2_grpc
from pykatib.dbmanager.trials import TrialResolver, TrialTarget
from pykatib.metrics._parse import parse_rfc3339, parse_value
from pykatib.metrics.jsonl import TIMESTAMP_KEY
from pykatib.metrics.pushed import append_pushed_lines, pushed_line
from pykatib.spec.conditions import ACTIVE_PHASES
from pykatib.store import ObservationRow, Store, StoreError

log = logging.getLogger(__name__)


class DBManagerServicer(api_pb2_grpc.DBManagerServicer):
    """ReportObservationLog, GetObservationLog and DeleteObservationLog of Katib's DBManager service."""

    def __init__(self, store: Store, resolve: TrialResolver) -> None:
        self.store = store
        self.resolve = resolve

    def ReportObservationLog(self, request: Any, context: Any) -> Any:
        target = self._trial(request.trial_name, context)
        if target.record.phase not in ACTIVE_PHASES:
            _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                   f"trial {target.record.name} has ended ({target.record.phase}): its metrics are no longer "
                   "collected")  # fmt: skip
        lines = _pushed_lines(request.observation_log.metric_logs, context)
        if not lines:
            return api_pb2.ReportObservationLogReply()
        try:
            append_pushed_lines(target.directory, lines)
        except OSError as exc:
            _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                   f"trial {target.record.name}: cannot write to its directory {target.directory}: "
                   f"{exc.strerror or exc}")  # fmt: skip
        return api_pb2.ReportObservationLogReply()

    def GetObservationLog(self, request: Any, context: Any) -> Any:
        target = self._trial(request.trial_name, context)
        start = _time_bound(request.start_time, "start_time", context)
        end = _time_bound(request.end_time, "end_time", context)
        rows = self._store_call(context, self.store.list_observations, target.record.id, request.metric_name or None)
        logs = [
            api_pb2.MetricLog(time_stamp=rfc3339(row.time), metric=api_pb2.Metric(name=row.metric_name,
                                                                                  value=_text(row.value)))
            for row in _between(rows, start, end)
        ]  # fmt: skip
        return api_pb2.GetObservationLogReply(observation_log=api_pb2.ObservationLog(metric_logs=logs))

    def DeleteObservationLog(self, request: Any, context: Any) -> Any:
        target = self._trial(request.trial_name, context)
        if target.record.phase in ACTIVE_PHASES:
            # Its controller writes them while it runs; it would also find them missing at a restart.
            _abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                   f"trial {target.record.name} is {target.record.phase}: its observations are deleted only once "
                   "it has ended")  # fmt: skip
        self._store_call(context, self.store.delete_observations, target.record.id)
        return api_pb2.DeleteObservationLogReply()

    def _trial(self, name: str, context: Any) -> TrialTarget:
        if not name:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "trial_name is empty")
        target = self._store_call(context, self.resolve, name)
        if target is None:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"trial {name} not found")
        return target

    def _store_call(self, context: Any, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except (StoreError, SQLAlchemyError) as exc:
            log.warning("DB manager: the store failed: %s", exc)
            _abort(context, grpc.StatusCode.UNAVAILABLE, f"the store failed: {exc}")


class NotServed(grpc.GenericRpcHandler):
    """Every other method (of Suggestion, EarlyStopping, or unknown): UNIMPLEMENTED, saying what is served."""

    def service(self, handler_call_details: Any) -> Any:
        method = handler_call_details.method

        def refuse(request: bytes, context: Any) -> None:
            _abort(context, grpc.StatusCode.UNIMPLEMENTED,
                   f"{method} is not served: pykatib's DB manager serves only Katib's DBManager service "
                   "(ReportObservationLog, GetObservationLog, DeleteObservationLog); its algorithms and early "
                   "stopping run inside its controller")  # fmt: skip

        return grpc.unary_unary_rpc_method_handler(refuse)


def _abort(context: Any, code: Any, details: str) -> NoReturn:
    context.abort(code, details)
    raise AssertionError("context.abort returned")  # it raises; this tells the type checker so


def _pushed_lines(metric_logs: Iterable[Any], context: Any) -> list[str]:
    """The Push file's lines of a report, every value checked before anything is written (all or nothing).
    Consecutive metrics of one time share a line, as ``report_metrics`` writes them."""
    lines: list[str] = []
    values: dict[str, float] = {}
    current: float | None = None
    received = time.time()
    for metric_log in metric_logs:
        name, raw = metric_log.metric.name, metric_log.metric.value
        if not name:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "a metric without a name")
        if name == TIMESTAMP_KEY:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                   f"metric {name!r}: the name is reserved for the report's time")  # fmt: skip
        value = _float(raw.strip())
        if value is None:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"metric {name!r}: value {raw!r} is not a float")
        stamp = metric_log.time_stamp
        when = parse_rfc3339(stamp.strip()) if stamp else None
        if stamp and when is None:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                   f"metric {name!r}: time_stamp {stamp!r} is not an RFC 3339 time")  # fmt: skip
        seconds = when.timestamp() if when is not None else received  # no time: when it arrived
        if current is not None and (seconds != current or name in values):
            lines.append(pushed_line(values, current))
            values = {}
        values[name], current = value, seconds
    if current is not None:
        lines.append(pushed_line(values, current))
    return lines


def _text(value: float | str) -> str:
    """A stored value as Katib's MetricLog carries it: a string (text values as they were reported)."""
    return value if isinstance(value, str) else repr(value)


def _float(text: str) -> float | None:
    """A reported value: a float as the collectors read one, or NaN or an infinity (Katib's SDK sends
    ``str(float(value))``, ``nan`` too). Non-finite values are written as ``report_metrics`` writes them, and
    the Push collector skips them as it does in the file. None for anything else (``1_000``, ``abc``)."""
    value = parse_value(text)
    if value is not None or not text.isascii() or "_" in text:
        return value
    try:
        return float(text)  # finite ones were parsed above: here only nan, inf and their spellings
    except ValueError:
        return None


def _time_bound(text: str, field: str, context: Any) -> datetime | None:
    if not text:
        return None
    when = parse_rfc3339(text.strip())
    if when is None:
        _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{field} {text!r} is not an RFC 3339 time")
    return when


def _between(rows: list[ObservationRow], start: datetime | None, end: datetime | None) -> list[ObservationRow]:
    """Rows from ``start`` to ``end``, both included (Katib's ``time >= start AND time <= end``)."""
    return [r for r in rows if (start is None or _aware(r.time) >= start) and (end is None or _aware(r.time) <= end)]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def rfc3339(when: datetime) -> str:
    """``when`` as Katib's DB manager writes times (Go's RFC3339Nano in UTC: no trailing zeros in the fraction)."""
    when = _aware(when).astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z"
