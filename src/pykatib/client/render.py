"""How the server verbs print, as kubectl does: a ``meta.k8s.io/v1`` Table as aligned columns (ages like
``3m12s``), ``describe``'s indented key/value rendering, and the kubeconfig document for a server.

Pure functions of plain dicts, so they are tested without a server.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

NONE = "<none>"
_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
_ACRONYMS = {"Api": "API", "Uid": "UID", "Id": "ID", "Url": "URL", "Cpu": "CPU", "Gpu": "GPU"}
# Katib's status counters, in the order describe lists them.
TRIAL_COUNTS = [
    ("trialsSucceeded", "Succeeded"),
    ("trialsFailed", "Failed"),
    ("trialsRunning", "Running"),
    ("trialsPending", "Pending"),
    ("trialsKilled", "Killed"),
    ("trialsEarlyStopped", "EarlyStopped"),
    ("trialMetricsUnavailable", "MetricsUnavailable"),
]


def human_duration(seconds: float) -> str:
    """kubectl's age (apimachinery's ``duration.HumanDuration``): 5s, 119s, 3m12s, 45m, 2h, 7h30m, 36h, 4d,
    3d5h, 40d, 2y90d, 9y."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: str, now: datetime | None = None) -> str:
    """The age of an RFC 3339 timestamp (``2024-05-01T12:00:00Z``); the text itself when it is not one."""
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return human_duration(((now or datetime.now(UTC)) - then).total_seconds())


def table_lines(
    table: Mapping[str, Any], *, wide: bool = False, all_namespaces: bool = False, now: datetime | None = None
) -> list[str]:
    """A ``meta.k8s.io/v1`` Table as kubectl prints it: NAME first, the priority-0 columns (all with ``wide``),
    NAMESPACE first with ``all_namespaces``, date columns as ages. No lines for no rows."""
    definitions = [d for d in table.get("columnDefinitions") or [] if isinstance(d, dict)]
    rows = [r for r in table.get("rows") or [] if isinstance(r, dict)]
    if not rows:
        return []
    shown = [i for i, d in enumerate(definitions) if wide or not d.get("priority")]
    name_column = next((i for i, d in enumerate(definitions) if _is_name_column(d)), None)
    headers = [str(definitions[i].get("name", "")).upper() for i in shown]
    if name_column is None:
        headers.insert(0, "NAME")
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    body = []
    for row in rows:
        cells = row.get("cells") or []
        meta = _row_metadata(row)
        line = [_cell(cells[i] if i < len(cells) else None, definitions[i], now) for i in shown]
        if name_column is None:
            line.insert(0, str(meta.get("name") or ""))
        if all_namespaces:
            line.insert(0, str(meta.get("namespace") or ""))
        body.append(line)
    return aligned([headers, *body])


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded as kubectl's tabwriter does (3 spaces apart, at least 6 wide), the last one unpadded."""
    widths = [max(len(row[i]) if i < len(row) else 0 for row in rows) for i in range(max(map(len, rows)))]
    lines = []
    for row in rows:
        cells = [cell.ljust(max(6, widths[i] + 3)) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("".join(cells))
    return lines


def _is_name_column(definition: Mapping[str, Any]) -> bool:
    return definition.get("format") == "name" or str(definition.get("name", "")).lower() == "name"


def _row_metadata(row: Mapping[str, Any]) -> Mapping[str, Any]:
    obj = row.get("object")
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def _cell(value: Any, definition: Mapping[str, Any], now: datetime | None) -> str:
    if value is None:
        return NONE
    if definition.get("type") == "date" and isinstance(value, str) and value:
        return age(value, now)
    return scalar(value)


def scalar(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return str(value)


def title(key: str) -> str:
    """``maxTrialCount`` → ``Max Trial Count`` (kubectl describe's way); other keys are left as they are."""
    if not _CAMEL.match(key):
        return key
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+|[A-Z]", key)
    return " ".join(_ACRONYMS.get(w.capitalize(), w.capitalize() if w.islower() else w) for w in words)


def describe_lines(obj: Mapping[str, Any]) -> list[str]:
    """kubectl describe of one object: its identity, then its metadata, spec and status as indented
    ``Key:  value`` lines, list items marked ``-``."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    assert isinstance(labels, dict) and isinstance(annotations, dict)
    head: list[tuple[str, list[str]]] = [
        ("Name", [scalar(meta.get("name"))]),
        ("Namespace", [scalar(meta.get("namespace"))]),
        ("Labels", [f"{k}={v}" for k, v in labels.items()] or [NONE]),
        ("Annotations", [f"{k}: {v}" for k, v in annotations.items()] or [NONE]),
        ("API Version", [scalar(obj.get("apiVersion"))]),
        ("Kind", [scalar(obj.get("kind"))]),
    ]
    width = max(len(key) for key, _ in head) + 3
    lines = []
    for key, values in head:
        lines.append(f"{key + ':':<{width}}{values[0]}")
        lines.extend(" " * width + value for value in values[1:])
    rest = {k: v for k, v in meta.items() if k not in ("name", "namespace", "labels", "annotations", "managedFields")}
    sections = {"metadata": rest, **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}}
    for key, value in sections.items():
        if value in ({}, [], None):
            continue
        lines.extend(_value_lines(title(key), value, 0))
    return lines


def _value_lines(key: str, value: Any, indent: int, width: int = 0) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [f"{pad}{key + ':':<{width}}{NONE}" if width else f"{pad}{key}:  {NONE}"]
        return [f"{pad}{key}:", *_mapping_lines(value, indent + 2)]
    if isinstance(value, list):
        if not value:
            return [f"{pad}{key + ':':<{width}}{NONE}" if width else f"{pad}{key}:  {NONE}"]
        lines = [f"{pad}{key}:"]
        for item in value:
            if isinstance(item, dict) and item:
                item_lines = _mapping_lines(item, indent + 4)
                item_lines[0] = f"{pad}  - {item_lines[0][indent + 4 :]}"
                lines.extend(item_lines)
            elif isinstance(item, list | dict):  # a list in a list, or an empty mapping: rare enough for JSON
                lines.append(f"{pad}  - {json.dumps(item)}")
            else:
                lines.extend(_text_lines(scalar(item), f"{pad}  "))
        return lines
    text = scalar(value)
    if "\n" in text.rstrip("\n"):
        return [f"{pad}{key}:", *_text_lines(text, pad + "  ")]
    return [f"{pad}{key + ':':<{width}}{text}" if width else f"{pad}{key}:  {text}"]


def _mapping_lines(mapping: Mapping[str, Any], indent: int) -> list[str]:
    simple = [title(str(k)) for k, v in mapping.items() if not isinstance(v, dict | list) or not v]
    width = max((len(k) for k in simple), default=0) + 3
    lines: list[str] = []
    for key, value in mapping.items():
        lines.extend(_value_lines(title(str(key)), value, indent, width))
    return lines


def _text_lines(text: str, prefix: str) -> list[str]:
    return [f"{prefix}{line}".rstrip() for line in text.rstrip("\n").split("\n")] or [prefix]


def trials_summary(experiment: Mapping[str, Any]) -> list[str]:
    """An experiment's trial counts, its latest condition and its best trial (assignments and metrics)."""
    status = experiment.get("status") if isinstance(experiment.get("status"), dict) else {}
    assert isinstance(status, dict)
    counts = ", ".join(f"{label} {status[key]}" for key, label in TRIAL_COUNTS if status.get(key))
    rows = [("Trials", f"{status.get('trials') or 0}" + (f" ({counts})" if counts else ""))]
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("status") == "True"]
    if conditions:
        last = conditions[-1]
        why = ": ".join(str(x) for x in (last.get("reason"), last.get("message")) if x)
        rows.append(("Condition", f"{last.get('type')}" + (f" ({why})" if why else "")))
    best = status.get("currentOptimalTrial")
    if isinstance(best, dict) and best.get("bestTrialName"):
        rows.append(("Best Trial", str(best["bestTrialName"])))
        assignments = [a for a in best.get("parameterAssignments") or [] if isinstance(a, dict)]
        rows.append(("Assignments", ", ".join(f"{a.get('name')}={a.get('value')}" for a in assignments) or NONE))
        observation = best.get("observation") if isinstance(best.get("observation"), dict) else {}
        assert isinstance(observation, dict)
        for metric in observation.get("metrics") or []:
            if isinstance(metric, dict):
                values = ", ".join(f"{k} {metric[k]}" for k in ("min", "max", "latest") if k in metric)
                rows.append(("Metric", f"{metric.get('name')}: {values}"))
    width = max(len(k) for k, _ in rows) + 3
    return ["Trials Summary:", *(f"  {k + ':':<{width}}{v}" for k, v in rows)]


def kubeconfig(url: str, token: str | None, namespace: str = "default", ca_pem: bytes | None = None) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context, all called ``pykatib``, for the server at ``url``;
    ``ca_pem``: the certificate an https server is verified with (its self-signed one)."""
    user: dict[str, Any] = {"token": token} if token else {}
    cluster: dict[str, Any] = {"server": url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "pykatib", "cluster": cluster}],
        "users": [{"name": "pykatib", "user": user}],
        "contexts": [{"name": "pykatib", "context": {"cluster": "pykatib", "user": "pykatib", "namespace": namespace}}],
        "current-context": "pykatib",
        "preferences": {},
    }
