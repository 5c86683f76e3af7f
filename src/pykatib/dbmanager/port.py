"""The DB manager's port: gRPC to the service, and HTTP ``CONNECT`` for trial code written for a cluster.

Katib's ``report_metrics`` dials ``katib-db-manager.kubeflow:6789``, a name only a cluster resolves. gRPC
honours ``grpc_proxy``: given ``grpc_proxy=http://<this port>`` it sends ``CONNECT
katib-db-manager.kubeflow:6789`` here instead of resolving the name. So the port looks at the first bytes of
each connection: ``CONNECT `` is a proxy request, anything else (the HTTP/2 preface of a gRPC client) goes
to the gRPC server as it is. A CONNECT to one of Katib's DB-manager names (``katib-db-manager`` in any
namespace, any port) or to this port reaches the gRPC server; to any other address it is tunnelled there
unchanged, as a plain proxy would (the port listens on loopback only, so it gives a local process nothing it
could not do itself, and gRPC traffic of a trial to other servers keeps working).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading

log = logging.getLogger(__name__)

DB_MANAGER_SERVICE = "katib-db-manager"  # Katib's Service name (in the kubeflow namespace by default)
CONNECT = b"CONNECT "
HEAD_LIMIT = 16 << 10  # a CONNECT request's head; longer ones are refused
CHUNK = 64 << 10
DIAL_TIMEOUT = 10.0
# How long a new connection has to send its first bytes (and a CONNECT its whole head): one that sends nothing
# is closed then, rather than held for ever.
HEAD_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def is_db_manager_name(host: str) -> bool:
    """Whether ``host`` names Katib's DB manager in a cluster: ``katib-db-manager``, ``katib-db-manager.NS``,
    ``.NS.svc``, ``.NS.svc.cluster.local`` (any namespace, any case, a final dot or not)."""
    name = host.lower().rstrip(".")
    return name == DB_MANAGER_SERVICE or name.startswith(DB_MANAGER_SERVICE + ".")


def split_authority(authority: str) -> tuple[str, int] | None:
    """``host:port`` (``[v6]:port`` too) of a CONNECT request, or None when it is not one."""
    host, sep, port = authority.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class PortFront:
    """Accepts on ``sock`` (bound, listening) and routes each connection to the gRPC server at ``backend``
    (127.0.0.1:port) or, for a CONNECT elsewhere, to its target. Runs an event loop in a thread of its own.
    A connection that has not sent its first bytes (a CONNECT: its head) within ``head_timeout`` is closed."""

    def __init__(self, sock: socket.socket, backend_port: int, head_timeout: float = HEAD_TIMEOUT) -> None:
        self._sock = sock
        self._head_timeout = head_timeout
        host, port = sock.getsockname()[:2]
        self._own = {(host, port), ("localhost", port)}
        self._backend = ("127.0.0.1", backend_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pykatib-db-manager-port", daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()  # both ends of every connection, cut at stop

    def start(self) -> None:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        started.result(STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop accepting, cut every connection, end the thread."""
        if not self._thread.is_alive():
            self._sock.close()
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(STOP_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accepted, sock=self._sock, limit=HEAD_LIMIT)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        # Cut, not cancelled: each copy then ends as at the peer's end (Python 3.11's streams log a cancelled
        # connection task as an error).
        for writer in list(self._writers):
            writer.transport.abort()
        if self._connections:
            await asyncio.wait(self._connections, timeout=STOP_TIMEOUT)
        await asyncio.sleep(0)  # the closed transports' last callbacks run before the loop stops

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        try:
            await self._route(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # the client went away, sent a head too long, or too late: the connection ends
        finally:
            self._connections.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _route(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # TimeoutError (closing the connection) when the client is too slow to say what it wants.
        first = await asyncio.wait_for(_head(reader), self._head_timeout)
        if first is None:
            return
        if not first.startswith(CONNECT):
            up_reader, up_writer = await asyncio.open_connection(*self._backend)
            up_writer.write(first)
            await self._pipe(reader, writer, up_reader, up_writer)
            return
        head = first.decode("latin-1")
        parts = head.split("\r\n", 1)[0].split()
        target = split_authority(parts[1]) if len(parts) == 3 else None
        if target is None:
            writer.write(_reply(400, "Bad Request", "expected CONNECT host:port HTTP/1.1"))
            await writer.drain()
            return
        host, port = target
        ours = is_db_manager_name(host) or (host.lower(), port) in self._own
        dial = self._backend if ours else target
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*dial), DIAL_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            writer.write(_reply(502, "Bad Gateway", f"cannot reach {host}:{port}: {exc}"))
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await self._pipe(reader, writer, up_reader, up_writer)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:  # fmt: skip
        """Copy both ways until both ends are done (or one fails, which ends the other)."""
        self._writers.add(up_writer)
        try:
            await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
        finally:
            self._writers.discard(up_writer)
            up_writer.close()


async def _head(reader: asyncio.StreamReader) -> bytes | None:
    """A connection's first bytes: as many as tell a CONNECT from anything else, and for a CONNECT its whole
    head (up to the blank line). None when the client ends first."""
    first = b""
    while len(first) < len(CONNECT):
        chunk = await reader.read(len(CONNECT) - len(first))
        if not chunk:
            return None
        first += chunk
    if first != CONNECT:
        return first
    return first + await reader.readuntil(b"\r\n\r\n")


def _reply(code: int, reason: str, text: str) -> bytes:
    body = (text + "\n").encode()
    head = f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    return (head + "Connection: close\r\n\r\n").encode() + body


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(CHUNK):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (OSError, RuntimeError):
        sink.transport.abort()  # the other direction reads from it: it ends too
