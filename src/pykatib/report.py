"""``report_metrics``: the Push collector's side in the trial process, as in Katib's SDK.

Katib pushes to its DB manager over gRPC; here the trial appends one JSON line to a file in its own
directory, which the controller follows. No server is needed and nothing is lost if the controller is
restarted meanwhile: the file is still there to read.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

from pykatib.metrics.collector import PUSH_METRICS_FILE

TRIAL_NAME_ENV = "KATIB_TRIAL_NAME"
TRIAL_DIR_ENV = "PYKATIB_TRIAL_DIR"


def report_metrics(metrics: Mapping[str, object]) -> None:
    """Record ``{metric name: value}`` for the current trial. Values must convert to float."""
    if not os.environ.get(TRIAL_NAME_ENV):
        raise ValueError(f"{TRIAL_NAME_ENV} is not set: report_metrics() must be called from inside a trial")
    trial_dir = os.environ.get(TRIAL_DIR_ENV)
    if not trial_dir:
        raise ValueError(f"{TRIAL_DIR_ENV} is not set: this trial was not started by pykatib")
    record: dict[str, object] = {}
    for name, value in metrics.items():
        try:
            number = float(value)  # type: ignore[arg-type]  # any value: float() refuses what it cannot convert
        except (TypeError, ValueError) as exc:
            raise ValueError(f"metric {name!r}: value {value!r} cannot be converted to float") from exc
        record[str(name)] = str(number)
    record["timestamp"] = time.time()
    line = (json.dumps(record) + "\n").encode()
    # One write() on an O_APPEND descriptor: concurrent reporters never interleave within a line.
    fd = os.open(Path(trial_dir) / PUSH_METRICS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
