"""``pykatib server``: open the store, start the controllers, serve the API on uvicorn until stopped.

Security: it binds 127.0.0.1 unless told otherwise, and refuses any other address without a token; with a
token every request but ``/healthz`` needs ``Authorization: Bearer <token>`` (compared in constant time).
Request bodies over MAX_BODY_BYTES get 413. While it listens, ``<home>/server.json`` (mode 0600: it holds
the token) tells pykatib's own verbs and ``pykatib kubeconfig`` where it is. Katib's DB manager (gRPC, no
authentication, as in Katib) listens on 127.0.0.1 only, whatever ``--host`` is.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hmac
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from pykatib.dbmanager import DEFAULT_PORT as DB_MANAGER_PORT
from pykatib.dbmanager import PORT_FILE, DBManager, listen_again, remember_port, trial_resolver
from pykatib.execute.choice import create_executor
from pykatib.execute.localize import ImageMap, default_image_map
from pykatib.procs import process_key
from pykatib.server.api import create_app
from pykatib.server.core_kinds import stored_config_maps
from pykatib.server.home import DB_MANAGER_KEY, LOCK_FILE, SERVER_FILE, default_home, write_atomically
from pykatib.server.kube.errors import too_large, unauthorized
from pykatib.server.net import is_loopback
from pykatib.server.resources import Resources
from pykatib.server.supervisor import Supervisor
from pykatib.server.tls import self_signed
from pykatib.spec.limits import MAX_FILE_BYTES
from pykatib.store import LeaseOwner, Store, open_store
from pykatib.ui import is_ui, ui_allowed
from pykatib.ui import refuse as refuse_ui

log = logging.getLogger("pykatib.server")
DEFAULT_PORT = 8090
MAX_BODY_BYTES = MAX_FILE_BYTES  # an experiment body may be as large as an experiment file, no larger
LOCK_TRIES = 5


class ServerRefused(Exception):
    """The server cannot start as asked; the message says why."""


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    db_url: str | None = None
    workdir: Path | None = None  # default: the home directory
    token: str | None = None
    home: Path | None = None
    images: Sequence[str] = ()
    tls_cert: Path | None = None  # with tls_key: the server's own certificate instead of a self-signed one
    tls_key: Path | None = None
    grpc_port: int | None = None  # the DB manager's; None: Katib's 6789, or a free port when it is taken
    executor: str = "local"  # where trials run: local processes, or "ray" (a Ray cluster at ray_address)
    ray_address: str | None = None


class Guard:
    """ASGI middleware: the bearer token and the body limit, before any handler runs."""

    def __init__(self, app: Any, token: str | None, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.token is not None and scope.get("path") != "/healthz":
            sent = headers.get(b"authorization", b"")
            scheme, _, given = sent.partition(b" ")
            bearer = scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)
            # The web UI's paths only: a browser's cookie (or ?token=) instead of the header, compared alike.
            if not bearer and not ui_allowed(scope, self.token):
                if is_ui(str(scope.get("path") or "")):
                    await refuse_ui(scope, send)  # 401: the login form for a page, a Status for data
                else:
                    await _status(send, unauthorized().status(), 401)
                return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _status(send, too_large(self.limit).status(), 413)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # The whole body first (also one sent in chunks, without a length), so that an oversized one is refused
        # before any handler reads it.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await _status(send, too_large(self.limit).status(), 413)
                return
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _status(send: Any, body: dict[str, Any], code: int) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def serve(options: ServerOptions) -> int:
    """Run the server until SIGINT/SIGTERM; ServerRefused for what the user must change."""
    if not is_loopback(options.host) and not options.token:
        raise ServerRefused(
            f"refusing to listen on {options.host} without a token: anyone who reaches it could run commands as "
            "you. Pass --token (or PYKATIB_TOKEN), or listen on 127.0.0.1"
        )
    home = default_home(options.home)
    workdir = (options.workdir or home).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    home_lock = _lock_home(home)
    try:
        return _serve_home(options, home, workdir)
    finally:
        os.close(home_lock)


def _serve_home(options: ServerOptions, home: Path, workdir: Path) -> int:
    """``serve`` once the home is this server's."""
    server_file = home / SERVER_FILE
    if options.workdir is None or options.db_url is None:
        workdir.mkdir(parents=True, exist_ok=True)
    image_map = default_image_map()
    image_map.update(ImageMap.parse_options(options.images))
    executor = create_executor(options.executor, options.ray_address)  # a missing Ray cluster: refused at start
    if (options.tls_cert is None) != (options.tls_key is None):
        raise ServerRefused("--tls-cert and --tls-key go together")
    # With a token, https: kubectl sends a token only over TLS, and a token sent in clear is no secret.
    ca: Path | None = None
    cert, key = options.tls_cert, options.tls_key
    if options.token and cert is None:
        cert, key = self_signed(home, options.host)
        ca = cert
    sock = _bind(options.host, options.port)
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    scheme = "https" if cert is not None else "http"
    url = f"{scheme}://{shown_host}:{port}"
    store = open_store(options.db_url, workdir)
    try:
        db_manager = _db_manager(store, workdir, options.grpc_port, home)
    except BaseException:
        sock.close()
        store.close()
        raise
    owner = LeaseOwner.this_process(holder=f"pykatib server at {url}")
    supervisor = Supervisor(
        store, workdir=workdir, image_map=image_map, owner=owner, config_maps=lambda: stored_config_maps(store),
        trial_env=db_manager.trial_env(), executor=executor,
    )  # fmt: skip
    resources = Resources(store, supervisor, workdir=workdir, image_map=image_map)
    closing = asyncio.Event()
    app = Guard(create_app(resources, closing=closing), options.token)
    config = uvicorn.Config(
        app, log_level="warning", timeout_graceful_shutdown=3, access_log=False, lifespan="off", ws="none",
        ssl_certfile=str(cert) if cert else None, ssl_keyfile=str(key) if key else None,
    )  # fmt: skip
    server = _Server(config)
    try:
        db_manager.start()
        supervisor.start()
        write_atomically(server_file, json.dumps({
            "url": url, "token": options.token, "pid": os.getpid(), "process_key": process_key(os.getpid()),
            "workdir": str(workdir.resolve()),
            "db": store.shown_url, "ui": f"{url}/ui/", "ca": str(ca.resolve()) if ca else None,
            DB_MANAGER_KEY: db_manager.address,
        }).encode())  # fmt: skip
        log.warning("pykatib server listening on %s (store %s, workdir %s, Katib's DB manager on %s)", url,
                    store.shown_url, workdir, db_manager.address)  # fmt: skip
        log.warning("web UI at %s/ui/%s", url, " (sign in with the server's token)" if options.token else "")
        asyncio.run(_serve(server, sock, closing))
    finally:
        supervisor.close()  # its trials stopped first: a server started next finds their leases free
        db_manager.stop()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(server_file.read_text()).get("pid") == os.getpid():
                server_file.unlink()
        store.close()
    return 0


def _db_manager(store: Store, workdir: Path, port: int | None, home: Path) -> DBManager:
    """Katib's DB manager on 127.0.0.1: on ``port`` (refused when taken), else on the port of the last start
    (``<home>/db-manager.port``: trials re-attached from then report there), else on Katib's port, else (taken:
    another server, a port-forward to a cluster's) on a free one; server.json says which, and the port is
    recorded for the next start."""
    resolve = trial_resolver(store, workdir)
    record = home / PORT_FILE
    if port is not None:
        try:
            db_manager = DBManager(store, resolve, port)
        except OSError as exc:
            raise ServerRefused(f"Katib's DB manager cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
        remember_port(record, db_manager.port)
        return db_manager
    db_manager, last = listen_again(store, resolve, record, preferred=(DB_MANAGER_PORT,))
    if last is not None and last != db_manager.port:
        log.warning("Katib's DB manager cannot listen on its port of the last start, 127.0.0.1:%d (taken): "
                    "trials still running from then cannot report to it; it listens on %s", last,
                    db_manager.address)  # fmt: skip
    elif db_manager.port != DB_MANAGER_PORT and db_manager.port != last:
        log.warning("port %d (Katib's DB manager) is taken: pykatib's listens on %s", DB_MANAGER_PORT,
                    db_manager.address)  # fmt: skip
    return db_manager


class _Server(uvicorn.Server):
    """uvicorn's server without its signal capture, which re-raises SIGTERM once it has served: the process
    would die before removing server.json and stopping its controllers. ``_serve`` handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _lock_home(home: Path) -> int:
    """One server per home, for the server's whole life: an exclusive lock on ``<home>/server.lock`` (released
    by the kernel when the process ends, however it ends). A second server would share the first one's store
    and overwrite its server.json."""
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    for attempt in range(LOCK_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            time.sleep(0.1 * (attempt + 1))  # a client probing whether a server holds it lets go at once
    os.close(fd)
    try:
        running = json.loads((home / SERVER_FILE).read_text())
        where = f" (pid {running.get('pid')}, at {running.get('url')})"
    except (OSError, ValueError, AttributeError):
        where = ""
    raise ServerRefused(f"another pykatib server{where} runs with the home {home}: stop it, or pass another --home")


async def _serve(server: uvicorn.Server, sock: socket.socket, closing: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, setattr, server, "should_exit", True)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not task.done():
        await asyncio.sleep(0.1)
        if server.should_exit:
            closing.set()  # ends watches and log streams, so the shutdown does not wait for them
    await task


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, as uvicorn binds: asyncio sets TCP_NODELAY only on such sockets, and without it every
    # response on a kept-alive connection waited 40 ms for the delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerRefused(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.set_inheritable(False)
    return sock
