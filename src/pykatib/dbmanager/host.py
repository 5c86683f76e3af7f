"""One running DB manager: the gRPC server, its port on 127.0.0.1, and what trials need to reach it.

Katib's gRPC API has no authentication, so the port listens on loopback only. The gRPC server itself listens
on another loopback port that only the DB manager's port dials.
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from pykatib.api import api_pb2_grpc
from pykatib.dbmanager.port import PortFront
from pykatib.dbmanager.servicer import DBManagerServicer, NotServed, TrialResolver, TrialTarget
from pykatib.store import Store, experiment_dir

HOST = "127.0.0.1"
DEFAULT_PORT = 6789  # Katib's
WORKERS = 8
STOP_GRACE = 1.0
# The trial's sitecustomize (Katib's SDK outside a pod); see its docstring.
TRIAL_SITE_DIR = Path(__file__).resolve().parent / "trial_site"
# Loopback targets a trial dials itself (TFJob replicas talk gRPC on localhost): never through the proxy.
NO_PROXY = ("localhost", "127.0.0.1", "::1")


class DBManager:
    """Katib's DB manager for one store, on ``127.0.0.1:port`` (0: a free port). Binding happens here
    (OSError when the port is taken); ``start()`` serves, ``stop()`` ends it. A context manager does both."""

    def __init__(self, store: Store, resolve: TrialResolver, port: int = 0) -> None:
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets (gRPC's small frames would wait for ACKs).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((HOST, port))
            self._sock.listen(128)
        except OSError:
            self._sock.close()
            raise
        self._sock.set_inheritable(False)
        self.port: int = self._sock.getsockname()[1]
        self._servicer = DBManagerServicer(store, resolve)
        self._grpc: grpc.Server | None = None
        self._front: PortFront | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: what server.json and gRPC clients use."""
        return f"{HOST}:{self.port}"

    def start(self) -> None:
        server = grpc.server(ThreadPoolExecutor(WORKERS, thread_name_prefix="pykatib-db-manager"))
        api_pb2_grpc.add_DBManagerServicer_to_server(self._servicer, server)
        server.add_generic_rpc_handlers([NotServed()])
        backend = server.add_insecure_port(f"{HOST}:0")
        if not backend:
            raise OSError(f"the DB manager's gRPC server cannot listen on {HOST}")
        server.start()
        self._grpc = server
        self._front = PortFront(self._sock, backend)
        try:
            self._front.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._front is not None:
            self._front.stop()
        else:
            self._sock.close()
        if self._grpc is not None:
            self._grpc.stop(STOP_GRACE).wait()

    def __enter__(self) -> DBManager:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def trial_env(self) -> dict[str, str]:
        """What every trial process gets (``ExperimentController(trial_env=...)``): gRPC's proxy, so that
        Katib's default address reaches this DB manager, and the SDK shim first on ``PYTHONPATH`` (the
        launch puts it before the trial's own entries)."""
        own = os.environ.get("no_grpc_proxy", "")  # noqa: SIM112 (gRPC reads the lowercase name first)
        return {
            "grpc_proxy": f"http://{self.address}",
            "no_grpc_proxy": ",".join([*NO_PROXY, *(p for p in own.split(",") if p.strip())]),
            "PYTHONPATH": str(TRIAL_SITE_DIR),
        }


def trial_resolver(store: Store, workdir: Path) -> TrialResolver:
    """Trials by name in ``store``, with the directory their controller gives them (the one in their record;
    for a record of an older layout without one, ``<experiment dir>/trials/<name>`` under ``workdir``)."""

    def resolve(name: str) -> TrialTarget | None:
        record = store.get_trial(name)
        if record is None:
            return None
        if record.work_dir:
            return TrialTarget(record, Path(record.work_dir))
        for experiment in store.list_experiments():
            if experiment.id == record.experiment_id:
                trials = experiment_dir(workdir, experiment.namespace, experiment.name) / "trials"
                return TrialTarget(record, trials / name)
        return None

    return resolve
