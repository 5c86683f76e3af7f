"""Which server a ``KatibClient`` talks to, and Katib's exceptions for what goes wrong on the way.

In order: ``host=`` (with ``token=``, ``ca_cert=``), a kubeconfig named by ``config_file=`` (its current or
given context: server, token, certificate authority), a Kubernetes ``client_configuration`` (its ``host``,
``api_key`` and ``ssl_ca_cert``), else the local server as pykatib's verbs find it (``PYKATIB_SERVER``, else
``<home>/server.json``), started in the background when none runs, as ``pykatib apply`` does. The finding and
starting is ``pykatib.client.connection``'s; this module only picks its inputs.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from pykatib.client.connection import (
    SERVER_LOG,
    ClientError,
    Connection,
    ServerOptions,
    find_server,
    start_local_server,
)

CONNECT_TIMEOUT_S = 5.0


def connect(
    *,
    host: str | None,
    token: str | None,
    ca_cert: str | None,
    home: str | Path | None,
    config_file: str | None,
    context: str | None,
    client_configuration: Any,
    timeout: float,
) -> Connection:
    """The server this client talks to (see the module's docstring); RuntimeError when there is none."""
    if host is None and config_file is not None:
        host, token, ca_cert = _from_kubeconfig(config_file, context, token, ca_cert)
    if host is None and client_configuration is not None:
        host, token, ca_cert = _from_configuration(client_configuration, token, ca_cert)
    options = ServerOptions(server=host, token=token, home=home)
    try:
        found = find_server(options)
        if found is None:
            home = options.home_dir()
            found = start_local_server(home)
            print(f"no pykatib server was running: started one at {found.url}; it keeps running, its log is "
                  f"{home / SERVER_LOG}", file=sys.stderr)  # fmt: skip
    except ClientError as exc:
        raise RuntimeError(f"pykatib server: {exc.message}") from exc
    found.close()
    return Connection(found.url, found.token, ui=found.ui, timeout=timeout, ca=ca_cert or found.ca)


def _from_kubeconfig(path: str, context: str | None, token: str | None, ca: str | None) -> tuple[str, Any, Any]:
    """Server, token and CA file of a kubeconfig's context (the current one unless named)."""
    try:
        config = yaml.safe_load(Path(path).expanduser().read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuntimeError(f"cannot read the kubeconfig {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise RuntimeError(f"{path} is not a kubeconfig")
    chosen = context or config.get("current-context")
    ctx = _named(config, "contexts", chosen, "context", path)
    cluster = _named(config, "clusters", ctx.get("cluster"), "cluster", path)
    user = _named(config, "users", ctx.get("user"), "user", path) if ctx.get("user") else {}
    server = cluster.get("server")
    if not isinstance(server, str):
        raise RuntimeError(f"{path}: the cluster of context {chosen!r} has no server")
    if ca is None and cluster.get("certificate-authority-data"):
        ca = _private_file(base64.b64decode(cluster["certificate-authority-data"]))
    return server, token or user.get("token"), ca or cluster.get("certificate-authority")


def _named(config: dict[str, Any], section: str, name: Any, key: str, path: str) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(key), dict):
            found: dict[str, Any] = entry[key]
            return found
    raise RuntimeError(f"{path}: no {key} named {name!r} in {section}")


def _from_configuration(configuration: Any, token: str | None, ca: str | None) -> tuple[str, Any, Any]:
    """A ``kubernetes.client.Configuration`` (read by attribute: that package need not be installed)."""
    keys = getattr(configuration, "api_key", None) or {}
    bearer = str(keys.get("authorization") or keys.get("BearerToken") or "")
    found = bearer.removeprefix("Bearer ").strip() or None
    return str(configuration.host), token or found, ca or getattr(configuration, "ssl_ca_cert", None)


def _private_file(data: bytes) -> str:
    """``data`` in a 0600 file removed when this process exits (httpx verifies against a CA file)."""
    descriptor, path = tempfile.mkstemp(prefix="pykatib-ca-", suffix=".crt")
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
    atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@contextlib.contextmanager
def katib_errors(action: str, target: str) -> Iterator[None]:
    """Katib's exceptions for a call: ``TimeoutError("Timeout to ACTION: TARGET")`` when the server did not
    answer in time, ``RuntimeError("Failed to ACTION: TARGET (why)")`` for anything else it refused."""
    try:
        yield
    except ClientError as exc:
        if isinstance(exc.__cause__, httpx.TimeoutException) and not isinstance(exc.__cause__, httpx.ConnectTimeout):
            raise TimeoutError(f"Timeout to {action}: {target}") from exc
        raise RuntimeError(f"Failed to {action}: {target} ({_reason(exc)})") from exc


def _reason(exc: ClientError) -> str:
    """The server's own words: a ``Status`` message (an invalid object's names each field) or why it is unreachable."""
    return exc.message
