"""The Push collector's file: what ``report_metrics`` and the DB manager append, what the controller follows.

One JSON object per line in the trial's directory, in the File JSON collector's format (``metrics.jsonl``):
``{"loss": "0.25", "timestamp": 1700000000.5}``, values as strings of floats, the time in Unix seconds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pykatib.metrics.jsonl import TIMESTAMP_KEY

# The file in the trial's directory (the Push collector reads it).
PUSH_METRICS_FILE = "pushed-metrics.jsonl"


def pushed_line(values: Mapping[str, float], timestamp: float) -> str:
    """One line of the file: ``values`` (metric name -> float) reported at ``timestamp`` (Unix seconds)."""
    record: dict[str, object] = {str(name): str(float(value)) for name, value in values.items()}
    record[TIMESTAMP_KEY] = timestamp
    return json.dumps(record) + "\n"


def append_pushed_lines(trial_dir: Path, lines: Sequence[str]) -> None:
    """Append ``lines`` to the trial's file in one write() on an O_APPEND descriptor: concurrent reporters
    never interleave within a report, and a reader never sees half of one. OSError when it cannot be written
    (the trial's directory is gone)."""
    data = "".join(lines).encode()
    fd = os.open(Path(trial_dir) / PUSH_METRICS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        while written < len(data):  # only on a full disk or a signal: better a split line than a lost one
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)
