"""One running DB manager: the gRPC server, its port on 127.0.0.1, and what trials need to reach it.

Katib's gRPC API has no authentication, so the port listens on loopback only. The gRPC server itself listens
on another loopback port that only the DB manager's port dials. grpc is imported when a DB manager is made,
not with this module: ``pykatib run`` and the server import it at start, and their other paths (``--help``, a
refused file) stay cheap.

A DB manager that may be restarted while its trials run (``pykatib run --resume``, a server's next start)
listens on its port of last time again (``listen_again``): the trials keep ``grpc_proxy`` with that port in
their environment, and would fail to report to any other.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from pykatib.dbmanager.port import HEAD_TIMEOUT, PortFront
from pykatib.dbmanager.trials import TrialResolver
from pykatib.store import Store

if TYPE_CHECKING:
    import grpc

HOST = "127.0.0.1"
DEFAULT_PORT = 6789  # Katib's
WORKERS = 8
STOP_GRACE = 1.0
# The trial's sitecustomize (Katib's SDK outside a pod); see its docstring.
TRIAL_SITE_DIR = Path(__file__).resolve().parent / "trial_site"
# Loopback targets a trial dials itself (TFJob replicas talk gRPC on localhost): never through the proxy.
NO_PROXY = ("localhost", "127.0.0.1", "::1")
# The user's direct targets: gRPC reads no_grpc_proxy, and only when it is unset no_proxy (then NO_PROXY).
NO_PROXY_ENV = ("no_grpc_proxy", "no_proxy", "NO_PROXY")
# Where a DB manager records its port for the next one (``listen_again``): in the experiment's directory for
# ``pykatib run``, in the home for the server.
PORT_FILE = "db-manager.port"


class DBManager:
    """Katib's DB manager for one store, on ``127.0.0.1:port`` (0: a free port). Binding happens here
    (OSError when the port is taken); ``start()`` serves, ``stop()`` ends it. A context manager does both.
    ``head_timeout``: how long a new connection may take to say what it wants before it is closed."""

    def __init__(self, store: Store, resolve: TrialResolver, port: int = 0, head_timeout: float = HEAD_TIMEOUT) -> None:
        from pykatib.dbmanager.servicer import DBManagerServicer  # grpc, with the generated stubs

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
        self._head_timeout = head_timeout
        self._grpc: grpc.Server | None = None
        self._front: PortFront | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: what server.json and gRPC clients use."""
        return f"{HOST}:{self.port}"

    def start(self) -> None:
        import grpc

        from pykatib.api import api_pb2_grpc
        from pykatib.dbmanager.servicer import NotServed

        server = grpc.server(ThreadPoolExecutor(WORKERS, thread_name_prefix="pykatib-db-manager"))
        api_pb2_grpc.add_DBManagerServicer_to_server(self._servicer, server)
        server.add_generic_rpc_handlers([NotServed()])
        backend = server.add_insecure_port(f"{HOST}:0")
        if not backend:
            raise OSError(f"the DB manager's gRPC server cannot listen on {HOST}")
        server.start()
        self._grpc = server
        self._front = PortFront(self._sock, backend, self._head_timeout)
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
        launch puts it before the trial's own entries). The user's direct targets (``no_grpc_proxy``, and
        ``no_proxy``, which gRPC no longer reads once ``no_grpc_proxy`` is set) stay direct."""
        direct = dict.fromkeys(NO_PROXY)
        for name in NO_PROXY_ENV:
            direct.update(dict.fromkeys(p.strip() for p in os.environ.get(name, "").split(",") if p.strip()))
        return {
            "grpc_proxy": f"http://{self.address}",
            "no_grpc_proxy": ",".join(direct),
            "PYTHONPATH": str(TRIAL_SITE_DIR),
        }


def listen_again(
    store: Store,
    resolve: TrialResolver,
    record: Path,
    preferred: Sequence[int] = (),
    head_timeout: float = HEAD_TIMEOUT,
) -> tuple[DBManager, int | None]:
    """A DB manager on the port ``record`` names (the last one's: trials it served may still run, with that port
    in their ``grpc_proxy``), else on the first of ``preferred`` that is free, else on a free port; its port is
    written to ``record`` for the next one. Returns it and the port ``record`` named (None: none); when that
    port was taken, the trials still running from then cannot report: the caller warns. OSError when no port
    can be bound."""
    last = _recorded_port(record)
    manager: DBManager | None = None
    for port in dict.fromkeys(p for p in (last, *preferred) if p):
        with contextlib.suppress(OSError):
            manager = DBManager(store, resolve, port, head_timeout)
            break
    if manager is None:
        manager = DBManager(store, resolve, 0, head_timeout)
    remember_port(record, manager.port)
    return manager, last


def remember_port(record: Path, port: int) -> None:
    """Write ``port`` to ``record`` (its directory made when missing); a file that cannot be written is left
    alone: the next DB manager then picks another port, as it would without one."""
    if _recorded_port(record) == port:
        return
    with contextlib.suppress(OSError):
        record.parent.mkdir(parents=True, exist_ok=True)
        temporary = record.with_name(f".{record.name}.{os.getpid()}")
        temporary.write_text(f"{port}\n")
        os.replace(temporary, record)  # a reader never sees half a number


def _recorded_port(record: Path) -> int | None:
    try:
        text = record.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None
