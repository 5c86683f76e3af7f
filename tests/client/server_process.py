"""A ``pykatib server`` the client tests did not start themselves (``pykatib apply`` started it): found through
the ``server.json`` it writes, stopped with SIGTERM (which removes that file). Servers the tests start come from
``server_support.running_server``."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from e2e_support import process_alive
from server_support import clean_env

# The `pykatib` script of this interpreter's environment (.venv/bin/pykatib), as a user runs it.
_SCRIPT = Path(sys.executable).with_name("pykatib")
PYKATIB = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pykatib.cli"]
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ListedServer:
    """A server that is listening: what its ``server.json`` says."""

    home: Path
    url: str
    token: str | None
    pid: int
    workdir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """An environment in which the verbs find this server through ``PYKATIB_HOME``."""
        return clean_env(self.home, **extra)


def read_server(home: Path) -> ListedServer | None:
    try:
        info = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return ListedServer(home, info["url"], info.get("token"), info["pid"], Path(info["workdir"]))


def stop_server(server: ListedServer, timeout: float = START_TIMEOUT_S) -> None:
    """SIGTERM the server by its pid, and wait until it has removed ``server.json`` and exited."""
    if process_alive(server.pid):
        os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while (server.home / "server.json").exists() or process_alive(server.pid):
        assert time.monotonic() < deadline, f"server {server.pid} still running {timeout} s after SIGTERM"
        time.sleep(0.1)
