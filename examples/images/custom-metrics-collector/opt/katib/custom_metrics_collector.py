"""Stand-in for Katib's example Custom metrics collector (ghcr.io/kubeflow/katib/custom-metrics-collector).

It takes the example's flags (``-m accuracy -s katib-db-manager.kubeflow:6789 -path /katib/mnist.log``),
follows the metrics file while the trial runs and reports each new value to Katib's DB manager with
``DBManager.ReportObservationLog`` over gRPC, as Katib's collectors do. It understands the two line formats
of the stand-in trainers: ``{metricName: accuracy, metricValue: 0.93}`` and ``accuracy=0.93``. When the
trial has ended it gets SIGTERM: it reads the file a last time, reports, and exits.

The trial's name comes from ``KATIB_TRIAL_NAME`` (pykatib gives every trial process that variable), else
from ``TrialNamePrefix`` (the example's env: the pod's name, ``<trial>-<replica>``).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from datetime import UTC, datetime

import grpc

from pykatib.api import api_pb2, api_pb2_grpc

PATTERNS = (
    re.compile(r"\{metricName: ([\w|-]+), metricValue: ([+-]?\d*\.?\d+(?:[eE][+-]?\d+)?)\}"),
    re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*\.?\d+(?:[eE][+-]?\d+)?)"),
)
POLL_SECONDS = 0.2


def parse(line: str, names: set[str]) -> list[tuple[str, str]]:
    for pattern in PATTERNS:
        found = [(m.group(1), m.group(2)) for m in pattern.finditer(line) if m.group(1) in names]
        if found:
            return found
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-m", dest="metrics", required=True, help="metric names, comma-separated")
    parser.add_argument("-s", dest="server", default="katib-db-manager.kubeflow:6789", help="DB manager address")
    parser.add_argument("-path", dest="path", required=True, help="the file the trial writes its metrics to")
    args = parser.parse_args()
    prefix = os.environ.get("TrialNamePrefix", "")  # noqa: SIM112  (the name Katib's example gives it)
    trial = os.environ.get("KATIB_TRIAL_NAME") or prefix.rsplit("-", 2)[0]
    if not trial:
        print("no trial name: set KATIB_TRIAL_NAME or TrialNamePrefix", file=sys.stderr)
        return 2
    names = {n.strip() for n in args.metrics.split(",") if n.strip()}
    ending = False

    def end(*_: object) -> None:
        nonlocal ending
        ending = True

    signal.signal(signal.SIGTERM, end)
    stub = api_pb2_grpc.DBManagerStub(grpc.insecure_channel(args.server))
    offset, rest = 0, ""
    while True:
        last_round = ending
        try:
            with open(args.path, encoding="utf-8", errors="replace") as f:
                f.seek(offset)
                chunk = f.read()
                offset = f.tell()
        except FileNotFoundError:
            chunk = ""
        lines = (rest + chunk).split("\n")
        rest = lines.pop()
        if last_round and rest:
            lines.append(rest)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        logs = [
            api_pb2.MetricLog(time_stamp=now, metric=api_pb2.Metric(name=name, value=value))
            for line in lines
            for name, value in parse(line, names)
        ]
        if logs:
            stub.ReportObservationLog(
                api_pb2.ReportObservationLogRequest(
                    trial_name=trial, observation_log=api_pb2.ObservationLog(metric_logs=logs)
                ),
                timeout=30,
            )
            print(f"reported {len(logs)} value(s) for {trial}", flush=True)
        if last_round:
            return 0
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
