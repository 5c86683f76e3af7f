"""``KatibClient.get_trial_metrics``: a trial's metric logs from the DB manager, over gRPC as Katib's SDK asks.

Katib's default address (``katib-db-manager.kubeflow:6789``) names a cluster's service; here it means the DB
manager of the client's server when that server is the local one (``db_manager`` in its ``server.json``).
grpc and the generated stubs are imported only when this is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pykatib.client.connection import home_dir, read_server_file
from pykatib.report import db_manager_call
from pykatib.sdk.constants import DEFAULT_DB_MANAGER_ADDRESS

if TYPE_CHECKING:
    from pykatib.sdk.client import KatibClient


def db_manager_of(client: KatibClient) -> str | None:
    """The DB manager address of the client's server, when it is the local server (else None)."""
    info = read_server_file(home_dir(client.home))
    if info is None or info.url.rstrip("/") != client.connection.url.rstrip("/"):
        return None
    return info.db_manager


def trial_metric_logs(client: KatibClient, name: str, namespace: str, address: str, timeout: float) -> Any:
    """``GetObservationLog(trial_name=name).observation_log.metric_logs``; RuntimeError when it fails."""
    from pykatib.api import api_pb2

    if address == DEFAULT_DB_MANAGER_ADDRESS:
        address = db_manager_of(client) or address
    request = api_pb2.GetObservationLogRequest(trial_name=name)
    failed = f"Unable to get metrics for Trial {namespace}/{name} from the DB manager at {address}"
    reply = db_manager_call(address, lambda stub: stub.GetObservationLog(request, timeout=timeout), failed)
    return reply.observation_log.metric_logs
