"""Value and timestamp parsing shared by the collectors (private).

Both helpers return ``None`` instead of raising: a trial's output is untrusted text, and one bad
line must never stop metrics collection.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

# RFC 3339 (what Go's time.Parse(time.RFC3339Nano, ...) accepts in Katib), anchored on both ends.
# datetime.fromisoformat alone is too lenient (it also takes a bare date, no offset, or the basic
# format 20240102T030405), so the shape is checked first; fromisoformat then does the fast C parse
# and the range checks (month 13, second 60, ...).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})\Z")


def parse_rfc3339(text: str) -> datetime | None:
    """Parse an RFC 3339 timestamp into an aware UTC datetime, or return None."""
    if _RFC3339.match(text) is None:
        return None
    try:
        # upper(): RFC 3339 allows a lowercase t/z, fromisoformat does not. Digits beyond
        # microseconds (Go keeps nanoseconds) are truncated by fromisoformat.
        dt = datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    if dt.tzinfo is not UTC:
        try:
            dt = dt.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before datetime.min in UTC
            return None
    return dt


def parse_epoch(seconds: float) -> datetime | None:
    """Unix seconds (cloudml-hypertune's ``time.time()``) to aware UTC datetime, or None."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):  # NaN, inf, or outside datetime's range
        return None


def parse_value(text: str) -> float | None:
    """Parse a metric value as a finite float, or return None.

    ``float()`` alone is too lenient for values coming from regex groups or JSON strings: it
    accepts ``1_000``, non-ASCII digits and ``nan``/``inf``, none of which is a metric value.
    """
    if not text.isascii() or "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
