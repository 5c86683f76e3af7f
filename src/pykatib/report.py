"""``report_metrics``: the Push collector's side in the trial process, with Katib's SDK signature.

Inside a trial that pykatib started (``PYKATIB_TRIAL_DIR`` set) the report is one JSON line appended to a file
in the trial's own directory, which the controller follows: no server is needed and nothing is lost if the
controller is restarted meanwhile. Anywhere else with ``KATIB_TRIAL_NAME`` set (a process pykatib did not
start) it goes, as Katib's does, to a DB manager over gRPC (``DBManager.ReportObservationLog``): the one at
``db_manager_address``, or for Katib's default address the local ``pykatib server``'s (its ``server.json``).
grpc is imported only then, so a trial's ``import pykatib`` stays cheap.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pykatib.home import SERVER_FILE, db_manager_address, default_home
from pykatib.metrics.pushed import append_pushed_lines, pushed_line

TRIAL_NAME_ENV = "KATIB_TRIAL_NAME"
TRIAL_DIR_ENV = "PYKATIB_TRIAL_DIR"
DEFAULT_DB_MANAGER_ADDRESS = "katib-db-manager.kubeflow:6789"  # Katib's, in a cluster
DEFAULT_TIMEOUT = 120
RFC3339_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def report_metrics(
    metrics: Mapping[str, object],
    db_manager_address: str = DEFAULT_DB_MANAGER_ADDRESS,
    timeout: int = DEFAULT_TIMEOUT,
) -> None:
    """Record ``{metric name: value}`` for the current trial (``KATIB_TRIAL_NAME``). ValueError when there is
    no trial name or a value does not convert to float; RuntimeError when the DB manager cannot be reached."""
    name = os.environ.get(TRIAL_NAME_ENV)
    if not name:
        raise ValueError(
            f"The Trial name is not passed to environment variables ({TRIAL_NAME_ENV} is not set): "
            "report_metrics() must be called from inside a trial"
        )
    values: dict[str, float] = {}
    for metric, value in metrics.items():
        try:
            values[str(metric)] = float(value)  # type: ignore[arg-type]  # float() refuses what it cannot convert
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Invalid value {value!r} for metric {metric!r}. The metrics value should have or can be converted "
                "to type `float`."
            ) from exc
    trial_dir = os.environ.get(TRIAL_DIR_ENV)
    if trial_dir:
        append_pushed_lines(Path(trial_dir), [pushed_line(values, time.time())])
        return
    if db_manager_address == DEFAULT_DB_MANAGER_ADDRESS and not os.environ.get("grpc_proxy"):  # noqa: SIM112 (gRPC reads it in lower case)
        # Katib's cluster name resolves nowhere here (a pykatib trial reaches it through grpc_proxy).
        db_manager_address = local_db_manager() or db_manager_address
    _push(name, values, db_manager_address, timeout)


def local_db_manager(home: str | Path | None = None) -> str | None:
    """The DB manager address (``host:port``) the local ``pykatib server`` lists in its ``server.json``
    (``home``, else ``$PYKATIB_HOME``, else ``~/.pykatib``), or None."""
    try:
        return db_manager_address(json.loads((default_home(home) / SERVER_FILE).read_text()))
    except (OSError, ValueError):
        return None


def db_manager_call(address: str, call: Callable[[Any], Any], failed: str) -> Any:
    """``call(stub)`` with a ``DBManager`` stub on a channel to ``address``: its reply, or RuntimeError
    ``<failed>. Exception: <gRPC's details>`` (Katib's SDK's wording) when the call fails."""
    import grpc

    from pykatib.api import api_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            return call(api_pb2_grpc.DBManagerStub(channel))
        except grpc.RpcError as exc:
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise RuntimeError(f"{failed}. Exception: {details}") from exc


def _push(trial: str, values: Mapping[str, float], address: str, timeout: float) -> None:
    """``DBManager.ReportObservationLog`` of ``values`` for ``trial`` at ``address``, as Katib's SDK sends it."""
    from pykatib.api import api_pb2

    stamp = datetime.now(UTC).strftime(RFC3339_FORMAT)
    logs = [api_pb2.MetricLog(time_stamp=stamp, metric=api_pb2.Metric(name=metric, value=str(value)))
            for metric, value in values.items()]  # fmt: skip
    request = api_pb2.ReportObservationLogRequest(trial_name=trial,
                                                  observation_log=api_pb2.ObservationLog(metric_logs=logs))  # fmt: skip
    db_manager_call(address, lambda stub: stub.ReportObservationLog(request, timeout=timeout),
                    f"Unable to push metrics to Katib DB for Trial {trial} at {address}")  # fmt: skip
