"""``KatibClient.get_trial_metrics``: a trial's metric logs from the DB manager, over gRPC as Katib's SDK asks.

Katib's default address (``katib-db-manager.kubeflow:6789``) names a cluster's service; here it means the DB
manager of the client's server when that server is the local one (``db_manager`` in its ``server.json``).
grpc and the generated stubs are imported only when this is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pykatib.client.connection import home_dir, read_server_file
from pykatib.report import local_db_manager
from pykatib.sdk.constants import DEFAULT_DB_MANAGER_ADDRESS

if TYPE_CHECKING:
    from pykatib.sdk.client import KatibClient


def db_manager_of(client: KatibClient) -> str | None:
    """The DB manager address of the client's server, when it is the local server (else None)."""
    home = home_dir(client.home)
    info = read_server_file(home)
    if info is None or info.url.rstrip("/") != client.connection.url.rstrip("/"):
        return None
    return local_db_manager(home)


def trial_metric_logs(client: KatibClient, name: str, namespace: str, address: str, timeout: float) -> Any:
    """``GetObservationLog(trial_name=name).observation_log.metric_logs``; RuntimeError when it fails."""
    import grpc

    from pykatib.api import api_pb2, api_pb2_grpc

    if address == DEFAULT_DB_MANAGER_ADDRESS:
        address = db_manager_of(client) or address
    with grpc.insecure_channel(address) as channel:
        try:
            reply = api_pb2_grpc.DBManagerStub(channel).GetObservationLog(
                api_pb2.GetObservationLogRequest(trial_name=name), timeout=timeout
            )
        except grpc.RpcError as exc:
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise RuntimeError(
                f"Unable to get metrics for Trial {namespace}/{name} from the DB manager at {address}. "
                f"Exception: {details}"
            ) from exc
    return reply.observation_log.metric_logs
