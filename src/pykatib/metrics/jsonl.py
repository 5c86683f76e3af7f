"""Katib's File metrics collector in JSON format: one JSON object per line.

This is what ``cloudml-hypertune`` (``hpt.report_hyperparameter_tuning_metric``) writes::

    {"loss": "0.23", "global_step": "1", "timestamp": 1700000000.5, "trial": "0"}

Mirrors ``parseLogsInJsonFormat`` in Katib's file-metricscollector.go, with two deliberate
differences: a line that is not a JSON object yields nothing instead of failing the whole file,
and JSON numbers are accepted as metric values besides Katib's strings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from pykatib.metrics._parse import parse_epoch, parse_rfc3339, parse_value
from pykatib.metrics.observation import Observation

# Katib's common.TimeStampJsonKey.
TIMESTAMP_KEY = "timestamp"


def parse_json_line(line: str, metric_names: Sequence[str], now: datetime | None = None) -> list[Observation]:
    """Observations of ``metric_names`` in one JSON line; never raises on bad input.

    The time is the object's ``timestamp`` (RFC 3339 string or Unix seconds), else ``now``
    (default: the current UTC time).
    """
    line = line.strip()
    if not line.startswith("{"):  # also skips blank lines without paying for json.loads
        return []
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; deep nesting recurses
        return []
    if not isinstance(obj, dict):
        return []

    found: list[tuple[str, float]] = []
    for name in dict.fromkeys(metric_names):  # a name listed twice is still reported once
        value = _metric_value(obj.get(name))
        if value is not None:
            found.append((name, value))
    if not found:
        return []

    timestamp = _timestamp(obj.get(TIMESTAMP_KEY))
    if timestamp is None:
        timestamp = now if now is not None else datetime.now(UTC)
    return [Observation(name, value, timestamp) for name, value in found]


def _metric_value(raw: object) -> float | None:
    if isinstance(raw, str):
        return parse_value(raw.strip())
    # bool is an int subclass, but true/false is not a metric value.
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            value = float(raw)
        except OverflowError:  # an integer too large for a float
            return None
        return value if math.isfinite(value) else None  # json.loads accepts NaN and Infinity
    return None


def _timestamp(raw: object) -> datetime | None:
    if isinstance(raw, str):
        return parse_rfc3339(raw.strip())
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return parse_epoch(raw)
    return None
