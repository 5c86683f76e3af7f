"""Finding, starting and talking to a `pykatib server`.

A verb finds its server in this order: ``--server URL`` (or ``PYKATIB_SERVER``), else the live server named by
``<home>/server.json`` (its pid alive and its ``/healthz`` answering), else none; ``pykatib apply`` then starts
one with ``start_local_server``. Every failure a user can meet (no server, a refused token, a Kubernetes
``Status`` error) is a ``ClientError`` carrying the one line to print and the exit status, so that no verb ever
shows a traceback.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx

from pykatib.server.home import LOCK_FILE, SERVER_FILE, db_manager_address, default_home
from pykatib.server.net import is_loopback

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SERVER_LOG = "server.log"
START_TIMEOUT_S = 30.0
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"
MERGE_PATCH = "application/merge-patch+json"


class ClientError(Exception):
    """What a verb prints (one line, or a few for an invalid object) and the exit status it ends with."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED, *, prefix: str = "error: ") -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.prefix = prefix

    def line(self) -> str:
        return f"{self.prefix}{self.message}"


class KubeApiError(ClientError):
    """An error answered by the server, from its Kubernetes ``Status`` body: printed as kubectl does,
    ``Error from server (NotFound): experiments.kubeflow.org "x" not found``."""

    def __init__(self, code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None) -> None:
        # 400 (a bad selector), 415 and 422 (an invalid object) are the caller's input; the rest are failures.
        super().__init__(message, EXIT_USAGE if code in (400, 415, 422) else EXIT_FAILED, prefix="")
        self.code = code
        self.reason = reason
        self.causes = causes or []

    @classmethod
    def from_response(cls, response: httpx.Response) -> KubeApiError:
        body: Any = None
        with contextlib.suppress(ValueError):
            body = response.json()
        if isinstance(body, dict) and body.get("kind") == "Status":
            details = body.get("details")
            raw = details.get("causes") if isinstance(details, dict) else None
            causes = [
                {"field": str(c.get("field") or ""), "message": str(c.get("message") or "")}
                for c in (raw if isinstance(raw, list) else [])
                if isinstance(c, dict)
            ]
            code = body["code"] if isinstance(body.get("code"), int) else response.status_code
            message = str(body.get("message") or response.reason_phrase)
            return cls(code, str(body.get("reason") or ""), message, causes)
        # Not a Status (a proxy's page, a route the server lacks): the HTTP status and the start of the body.
        text = " ".join(response.text.split())[:200]
        request = response.request
        where = f" to {request.method} {request.url.path}" if request is not None else ""
        message = f"the server answered {response.status_code} {response.reason_phrase}{where}"
        return cls(response.status_code, "", f"{message}: {text}" if text else message)

    def line(self) -> str:
        return f"Error from server ({self.reason}): {self.message}" if self.reason else f"error: {self.message}"


@dataclass(frozen=True)
class ServerOptions:
    """The options every server verb takes: ``--server``, ``--token``, ``--home`` (each may be None)."""

    server: str | None = None
    token: str | None = None
    home: str | Path | None = None

    def home_dir(self) -> Path:
        return home_dir(self.home)


@dataclass(frozen=True)
class ServerInfo:
    """``<home>/server.json`` as the server writes it while it listens."""

    url: str
    token: str | None
    pid: int
    ui: str | None
    workdir: str | None
    ca: str | None = None  # the self-signed certificate of an https server started with a token
    db_manager: str | None = None  # where its Katib DB manager (gRPC) listens, 127.0.0.1:PORT


def home_dir(home: str | Path | None = None) -> Path:
    """``--home``, else ``$PYKATIB_HOME``, else ``~/.pykatib``."""
    return default_home(home)


def read_server_file(home: Path) -> ServerInfo | None:
    """The server file's content, or None when it is missing or not what a server writes."""
    try:
        data = json.loads((home / SERVER_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    url, token, pid, ui, workdir, ca = (data.get(k) for k in ("url", "token", "pid", "ui", "workdir", "ca"))
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    return ServerInfo(
        url=url.rstrip("/"),
        token=token if isinstance(token, str) and token else None,
        pid=pid,
        ui=ui if isinstance(ui, str) else None,
        workdir=workdir if isinstance(workdir, str) else None,
        ca=ca if isinstance(ca, str) and ca else None,
        db_manager=db_manager_address(data),
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    except (OverflowError, ValueError):
        return False
    return True


def healthy(url: str, timeout: float = 2.0, ca: str | None = None) -> bool:
    """Whether ``url``'s ``/healthz`` answers ``ok`` (it needs no token)."""
    try:
        response = httpx.get(
            f"{url.rstrip('/')}/healthz", timeout=timeout, trust_env=not _loopback(url), verify=_verify(ca)
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.text.strip() == "ok"


def local_server(home: Path) -> ServerInfo | None:
    """The server named by ``<home>/server.json`` when it is alive and answers; a stale file is ignored."""
    info = read_server_file(home)
    if info is None or not pid_alive(info.pid) or not healthy(info.url, ca=info.ca):
        return None
    return info


def find_server(options: ServerOptions) -> Connection | None:
    """The server the user means: ``--server``/``PYKATIB_SERVER``, else the local one, else None."""
    server = options.server or os.environ.get("PYKATIB_SERVER") or None
    token = options.token or os.environ.get("PYKATIB_TOKEN") or None
    if server:
        if not server.startswith(("http://", "https://")) or not urlsplit(server).hostname:
            raise ClientError(f"--server {server!r}: expected a URL such as http://127.0.0.1:8090", EXIT_USAGE)
        ca = os.environ.get("PYKATIB_CA") or None
        # The local server's own URL given explicitly: its token and certificate are in the server file.
        info = read_server_file(options.home_dir())
        if info is not None and _same_url(info.url, server):
            token = token if token is not None else info.token
            ca = ca or info.ca
        return Connection(server, token, ca=ca)
    info = local_server(options.home_dir())
    if info is None:
        return None
    return Connection(info.url, token if token is not None else info.token, ui=info.ui, ca=info.ca)


def connect(options: ServerOptions) -> Connection:
    """``find_server``, or a ClientError that says how to get a server."""
    connection = find_server(options)
    if connection is None:
        home = options.home_dir()
        raise ClientError(
            f"no pykatib server is running (none listed in {home / SERVER_FILE}): start one with `pykatib server`, "
            "or pass --server URL (or set PYKATIB_SERVER)"
        )
    return connection


def start_local_server(home: Path, timeout: float = START_TIMEOUT_S) -> Connection:
    """Start ``pykatib server --port 0 --home HOME`` in its own session, its output going to
    ``<home>/server.log``, and wait until it lists itself in ``<home>/server.json`` and answers."""
    home = Path(os.path.abspath(home))  # the server runs in it: a relative --home would mean another place
    log_path = home / SERVER_LOG
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        log = open(log_path, "ab")  # noqa: SIM115 (closed below, once the server has its own copy)
    except OSError as exc:
        raise ClientError(f"cannot start a pykatib server in {home}: {exc.strerror or exc}") from exc
    with log:
        start = log.tell()
        # It runs in the home directory (a daemon should not hold the user's directory), so a relative
        # PYTHONPATH entry (`PYTHONPATH=src`) is made absolute: the server imports the same pykatib as this.
        env = dict(os.environ)
        if env.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep) if p)
        command = [sys.executable, "-m", "pykatib.cli", "server", "--port", "0", "--home", str(home)]
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home,
                start_new_session=True, close_fds=True,
            )  # fmt: skip
        except OSError as exc:
            raise ClientError(f"cannot start a pykatib server ({sys.executable}): {exc.strerror or exc}") from exc
    deadline = time.monotonic() + timeout
    while True:
        info = read_server_file(home)
        if info is not None and info.pid == process.pid and healthy(info.url, timeout=1.0, ca=info.ca):
            return Connection(info.url, info.token, ui=info.ui, ca=info.ca)
        status = process.poll()
        if status is not None:
            # Another client's server may have won the race for this home (the home is locked to one server):
            # use it once it listens.
            while time.monotonic() < deadline:
                other = local_server(home)
                if other is not None:
                    return Connection(other.url, other.token, ui=other.ui, ca=other.ca)
                if not _locked(home):
                    break
                time.sleep(0.1)
            raise ClientError(
                f"the pykatib server did not start (exit status {status}; log {log_path}): {_log_tail(log_path, start)}"
            )
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                process.terminate()  # the process this call started, by its pid
            raise ClientError(
                f"the pykatib server did not answer within {timeout:.0f} s (log {log_path}): "
                f"{_log_tail(log_path, start)}"
            )
        time.sleep(0.1)


def _log_tail(path: Path, start: int, lines: int = 3) -> str:
    """The last lines the server wrote to its log in this attempt, as one line."""
    try:
        with open(path, "rb") as stream:
            stream.seek(max(start, os.path.getsize(path) - 4096))
            text = stream.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(its log cannot be read: {exc.strerror or exc})"
    tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail) if tail else "(it wrote nothing)"


def _locked(home: Path) -> bool:
    """Whether a server holds the home's lock (it may not have written server.json yet)."""
    try:
        fd = os.open(home / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _verify(ca: str | None) -> Any:
    """httpx's ``verify``: the server's own certificate when given, else the system's CAs."""
    if ca is None:
        return True
    import ssl

    return ssl.create_default_context(cafile=ca)


def _loopback(url: str) -> bool:
    return is_loopback(urlsplit(url).hostname or "")


def _same_url(a: str, b: str) -> bool:
    def key(url: str) -> tuple[str, str, int | None]:
        parts = urlsplit(url.rstrip("/"))
        host = parts.hostname or ""
        return parts.scheme, "127.0.0.1" if host == "localhost" else host, parts.port

    return key(a) == key(b)


class Connection:
    """One server: its URL, its token (sent as ``Authorization: Bearer``) and an HTTP client."""

    def __init__(
        self, url: str, token: str | None = None, *, ui: str | None = None, timeout: float = 30.0,
        ca: str | None = None,
    ) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.token = token
        self.ca = ca  # a CA file to verify an https server with (its self-signed certificate), else the system's
        self.ui = ui or f"{self.url}/"
        headers = {"User-Agent": "pykatib-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            trust_env=not _loopback(self.url),
            verify=_verify(ca),
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """The decoded JSON answer; a ClientError for an error answer or an unreachable server."""
        headers = {"Accept": accept}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        response = self._send(lambda: self.client.request(method, path, params=params, content=content,
                                                          headers=headers))  # fmt: skip
        self._check(response)
        try:
            return response.json()
        except ValueError as exc:
            raise ClientError(f"the server's answer to {method} {path} is not JSON: {response.text[:200]!r}") from exc

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    @contextlib.contextmanager
    def stream(self, path: str, params: Mapping[str, str | int], *, follow: bool) -> Iterator[Iterator[bytes]]:
        """The body of a GET as it arrives; a follow waits for the next bytes for as long as it takes."""
        timeout = httpx.Timeout(30.0, connect=5.0, read=None if follow else 30.0)
        request = self.client.build_request("GET", path, params=params, headers={"Accept": "*/*"}, timeout=timeout)
        response = self._send(lambda: self.client.send(request, stream=True))
        try:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            yield self._chunks(response)
        finally:
            response.close()

    def _chunks(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_raw()
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def _send(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        try:
            return send()
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: httpx.TransportError) -> ClientError:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            reason = "it did not answer in time"
        else:
            reason = str(exc) or type(exc).__name__
        if "CERTIFICATE_VERIFY_FAILED" in reason:
            return ClientError(
                f"cannot verify the certificate of the pykatib server at {self.url}: set PYKATIB_CA to its "
                "certificate (a server with a token makes its own: tls.crt in its home directory)"
            )
        return ClientError(f"cannot reach the pykatib server at {self.url}: {reason}")

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 401:
            if self.token:
                raise ClientError("the server refused the token: pass --token or set PYKATIB_TOKEN")
            raise ClientError("the server asks for a token: pass --token or set PYKATIB_TOKEN")
        if response.status_code >= 400:
            raise KubeApiError.from_response(response)


def guarded(verb: Callable[[], int]) -> int:
    """Run a verb: a ClientError becomes its line on stderr and its exit status, Ctrl-C exit 130."""
    try:
        return verb()
    except ClientError as exc:
        click.echo(exc.line(), err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `pykatib get trials | head`: the reader has what it wanted
        return EXIT_OK
