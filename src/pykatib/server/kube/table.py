"""Objects as a ``meta.k8s.io/v1`` ``Table``: the rows ``kubectl get`` prints, computed by the server.

kubectl asks for a Table in its Accept header (``application/json;as=Table;v=v1;g=meta.k8s.io``) and prints
the cells it gets, so the columns here are the output of ``kubectl get``: NAME, then a kind's printer columns.
Cells follow the CRD table convertor of Kubernetes: a column's JSONPath takes its first result; a missing
value (or a path that does not apply) is a null cell, which kubectl prints as an empty cell; a ``string`` column
holds the value as Go prints it (JSON for a map or a list); a ``date`` column holds the age ("5m", "3h2m").
Columns whose path starts with ``@`` are computed (kinds.py lists them).

The JSONPath evaluator covers what printer columns use: ``.a.b``, ``['key']``, ``[N]`` (negative counts
from the end), slices ``[start:end:step]`` (``[-1:]``: the last element) and ``[*]``/``.*``, with the
semantics of k8s.io/client-go/util/jsonpath with missing keys allowed: a key missing or a null value yields
nothing, an index out of range is an error (a null cell).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pykatib.server.kube.errors import bad_request
from pykatib.server.kube.kinds import Column, KindInfo

INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": (
        "Name must be unique within a namespace. Is required when creating resources, although some resources "
        "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
        "intended for creation idempotence and configuration definition. Cannot be updated."
    ),
    "priority": 0,
}


def parse_include_object(value: str | None) -> str:
    """The ``includeObject`` query parameter: "Metadata" when absent or empty, else "None", "Metadata" or
    "Object"; anything else is a 400."""
    if not value:
        return "Metadata"
    if value not in INCLUDE_OBJECT_VALUES:
        supported = ", ".join(f'"{choice}"' for choice in INCLUDE_OBJECT_VALUES)
        raise bad_request(f'includeObject: Unsupported value: "{value}": supported values: {supported}')
    return value


def wants_table(accept: str | None) -> bool:
    """Whether an Accept header asks for a Table: a media range with ``as=Table`` and ``g=meta.k8s.io``
    (kubectl sends v=v1, then v=v1beta1, then plain application/json as a fallback)."""
    for media_range in (accept or "").split(","):
        parameters = {}
        for part in media_range.split(";")[1:]:
            key, _, value = part.partition("=")
            parameters[key.strip().lower()] = value.strip()
        if parameters.get("as") == "Table" and parameters.get("g") == "meta.k8s.io":
            return parameters.get("v", "v1") in ("v1", "v1beta1")
    return False


def table(
    kind: KindInfo,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    resource_version: str = "",
    continue_token: str = "",
    remaining: int | None = None,
    no_headers: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A Table of ``objects`` (all of ``kind``): column definitions (unless ``no_headers``), one row per object
    with the object as ``include_object`` says ("None", "Metadata" or "Object", see ``table_row``). The list
    metadata as a list's: ``resource_version``, ``continue_token`` and ``remaining`` (remainingItemCount).
    ``now`` is the time ages are counted to (the current time when None)."""
    moment = now or datetime.now(UTC)
    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None:
        metadata["remainingItemCount"] = remaining
    result: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
    result["columnDefinitions"] = [] if no_headers else column_definitions(kind)
    result["rows"] = [table_row(kind, obj, include_object, now=moment) for obj in objects]
    return result


def column_definitions(kind: KindInfo) -> list[dict[str, Any]]:
    """NAME (format "name"), then the kind's columns."""
    columns = [dict(_NAME_COLUMN)]
    for column in kind.columns:
        columns.append(
            {
                "name": column.name,
                "type": column.type,
                "format": column.format,
                "description": column.description,
                "priority": column.priority,
            }
        )
    return columns


def table_row(
    kind: KindInfo, obj: Mapping[str, Any], include_object: str = "Metadata", *, now: datetime | None = None
) -> dict[str, Any]:
    """One row: its ``cells`` (the name, then each column's value) and its ``object``: a
    ``PartialObjectMetadata`` of the object's metadata for "Metadata", the whole object for "Object", none
    for "None"."""
    moment = now or datetime.now(UTC)
    metadata = _mapping(obj.get("metadata"))
    cells: list[Any] = [metadata.get("name", "")]
    cells.extend(cell(column, obj, now=moment) for column in kind.columns)
    row: dict[str, Any] = {"cells": cells}
    if include_object == "Object":
        row["object"] = obj
    elif include_object == "Metadata":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
    return row


def cell(column: Column, obj: Mapping[str, Any], *, now: datetime | None = None) -> Any:
    """The value of one column for ``obj`` (None: a null cell)."""
    if column.computed:
        return _COMPUTED[column.json_path](obj)
    try:
        results = evaluate(column.json_path, obj)
    except JsonPathError:
        return None
    if not results:
        return None
    value = results[0]
    if column.type == "string":
        return go_text(value)
    return _typed_cell(column.type, value, now or datetime.now(UTC))


def _typed_cell(column_type: str, value: Any, now: datetime) -> Any:
    """``cellForJSONValue`` of Kubernetes' CRD table convertor: the value if it fits the type, else null."""
    if value is None:
        return None
    if column_type == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) if not isinstance(value, float) or math.isfinite(value) else None
    if column_type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if column_type == "boolean" and isinstance(value, bool):
        return value
    if column_type == "date" and isinstance(value, str):
        return human_age(value, now)
    return None


# Age ---------------------------------------------------------------------------------------------------------


def parse_timestamp(text: str) -> datetime | None:
    """An RFC 3339 timestamp as a timezone-aware datetime; None when it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment


def human_age(timestamp: str, now: datetime) -> str:
    """A ``date`` cell: "<unknown>" for no time, "<invalid>" for text that is not one, else the age."""
    if timestamp in ("", "null"):
        return "<unknown>"
    moment = parse_timestamp(timestamp)
    if moment is None:
        return "<invalid>"
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return human_duration((now - moment).total_seconds())


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: two or three significant figures ("90s", "5m3s", "3h2m",
    "4d5h", "2y30d")."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


# Values as Go prints them ------------------------------------------------------------------------------------


def go_text(value: Any) -> str:
    """A value as a ``string`` printer column shows it: text as is, numbers and booleans as Go prints them,
    maps and lists as compact JSON with sorted keys."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def go_float(value: float) -> str:
    """Go's ``%v`` of a float64 (strconv's 'g' with the shortest digits): "0.5", "123456", "1e+06", "1e-05"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(str(digit) for digit in digit_tuple)
    if digits == "0":
        return "-0" if sign else "0"
    prefix = "-" if sign else ""
    point = len(digits) + exponent  # the decimal point's place: digits[:point] is the integer part
    scientific = point - 1
    if scientific < -4 or scientific >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if scientific < 0 else '+'}{abs(scientific):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{prefix}{digits}{'0' * (point - len(digits))}"
    return f"{prefix}{digits[:point]}.{digits[point:]}"


# JSONPath ----------------------------------------------------------------------------------------------------


class JsonPathError(ValueError):
    """A path that cannot be parsed, or that does not apply to the value (an index out of range)."""


@dataclass(frozen=True)
class _Field:
    name: str  # "*": every value of a map


@dataclass(frozen=True)
class _Slice:
    start: int | None
    end: int | None
    step: int | None
    index: bool  # [N] rather than [start:end]


@dataclass(frozen=True)
class _Wildcard:
    pass


_Step = _Field | _Slice | _Wildcard


def evaluate(path: str, data: Any) -> list[Any]:
    """The values ``path`` selects in ``data`` (in order; [] when none). Raises JsonPathError for a path this
    evaluator does not parse, or an index out of range."""
    values = [data]
    for step in _compile(path):
        values = _apply(step, values)
    return values


@lru_cache(maxsize=256)
def _compile(path: str) -> tuple[_Step, ...]:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[_Step] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == ".":
            i += 1
            if text.startswith(".", i):
                raise JsonPathError(f"recursive descent is not supported: {path!r}")
            name, i = _read_name(text, i)
            if not name:
                if i >= len(text):
                    break  # a path of "." alone, or a trailing dot: the value itself
                raise JsonPathError(f"an empty field name in {path!r}")
            steps.append(_Wildcard() if name == "*" else _Field(name))
        elif char == "[":
            end = text.find("]", i)
            if end < 0:
                raise JsonPathError(f"unterminated [ in {path!r}")
            steps.append(_bracket(text[i + 1 : end].strip(), path))
            i = end + 1
        else:
            raise JsonPathError(f"unexpected {char!r} at {i} in {path!r}")
    return tuple(steps)


def _read_name(text: str, i: int) -> tuple[str, int]:
    name: list[str] = []
    while i < len(text) and text[i] not in ".[":
        if text[i] == "\\" and i + 1 < len(text):
            i += 1  # an escaped character (kubernetes\.io): taken literally
        name.append(text[i])
        i += 1
    return "".join(name), i


def _bracket(inner: str, path: str) -> _Step:
    if inner == "*":
        return _Wildcard()
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _Field(inner[1:-1])
    parts = inner.split(":")
    if len(parts) > 3:
        raise JsonPathError(f"unsupported subscript [{inner}] in {path!r}")
    try:
        numbers = [int(part) if part.strip() else None for part in parts]
    except ValueError:
        raise JsonPathError(f"unsupported subscript [{inner}] in {path!r}") from None
    if len(numbers) == 1:
        if numbers[0] is None:
            raise JsonPathError(f"an empty subscript in {path!r}")
        return _Slice(numbers[0], None, None, index=True)
    return _Slice(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None, index=False)


def _apply(step: _Step, values: list[Any]) -> list[Any]:
    results: list[Any] = []
    for value in values:
        if value is None:
            continue
        if isinstance(step, _Field):
            if isinstance(value, Mapping) and step.name in value and value[step.name] is not None:
                results.append(value[step.name])
        elif isinstance(step, _Wildcard):
            if isinstance(value, Mapping):
                results.extend(item for _, item in sorted(value.items()) if item is not None)
            elif isinstance(value, list):
                results.extend(item for item in value if item is not None)
        else:
            results.extend(item for item in _slice(step, value) if item is not None)
    return results


def _slice(step: _Slice, value: Any) -> list[Any]:
    """``evalArray`` of client-go's jsonpath: indexes out of range are errors, not clamped."""
    if not isinstance(value, list):
        raise JsonPathError(f"{type(value).__name__} is not an array")
    length = len(value)
    start = step.start if step.start is not None else 0
    if start < 0:
        start += length
    if step.index:
        end = start + 1
    else:
        end = step.end if step.end is not None else length
        if end < 0:
            end += length
    if start == end:
        return []
    if not 0 <= start < length or not 0 <= end <= length:
        raise JsonPathError(f"array index out of bounds: index {start}, length {length}")
    if start > end:
        raise JsonPathError(f"starting index {start} is greater than ending index {end}")
    stride = step.step if step.step is not None else 1
    if stride <= 0:
        raise JsonPathError("step must be > 0")
    return value[start:end:stride]


# Computed columns --------------------------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _configmap_data(obj: Mapping[str, Any]) -> int:
    """kubectl's DATA of a configmap: how many keys ``data`` and ``binaryData`` have together."""
    return len(_mapping(obj.get("data"))) + len(_mapping(obj.get("binaryData")))


def _container_statuses(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [_mapping(status) for status in _list(_mapping(obj.get("status")).get("containerStatuses"))]


def _pod_ready(obj: Mapping[str, Any]) -> str:
    """READY: containers ready and running, of the pod's containers (of its container statuses when its spec
    lists fewer)."""
    total = len(_list(_mapping(obj.get("spec")).get("containers")))
    statuses = _container_statuses(obj)
    ready = sum(1 for status in statuses if status.get("ready") and "running" in _mapping(status.get("state")))
    return f"{ready}/{max(total, len(statuses))}"


def _pod_status(obj: Mapping[str, Any]) -> str:
    """STATUS as kubectl shows it (printPod of Kubernetes, without init containers): the phase, or the pod's
    reason, or the reason a container waits or ended; Terminating once the pod is being deleted."""
    status = _mapping(obj.get("status"))
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or "") or phase
    has_running = False
    for container in reversed(_container_statuses(obj)):
        state = _mapping(container.get("state"))
        waiting = _mapping(state.get("waiting"))
        terminated = state.get("terminated")
        if waiting.get("reason"):
            reason = str(waiting["reason"])
        elif isinstance(terminated, Mapping) and terminated.get("reason"):
            reason = str(terminated["reason"])
        elif isinstance(terminated, Mapping):
            signal = terminated.get("signal") or 0
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode') or 0}"
        elif container.get("ready") and "running" in state:
            has_running = True
    if reason == "Completed" and has_running:
        conditions = [_mapping(condition) for condition in _list(status.get("conditions"))]
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        reason = "Running" if ready else "NotReady"
    if _mapping(obj.get("metadata")).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason


def _pod_restarts(obj: Mapping[str, Any]) -> str:
    """RESTARTS: the containers' restarts, summed."""
    total = 0
    for status in _container_statuses(obj):
        count = status.get("restartCount")
        if isinstance(count, int) and not isinstance(count, bool):
            total += count
    return str(total)


_COMPUTED: dict[str, Callable[[Mapping[str, Any]], int | str]] = {
    "@configmap.data": _configmap_data,
    "@pod.ready": _pod_ready,
    "@pod.status": _pod_status,
    "@pod.restarts": _pod_restarts,
}
