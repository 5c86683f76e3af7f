"""A real ``pykatib server`` process for the client tests: started on a free port with its own home directory,
found through the ``server.json`` it writes, stopped with SIGTERM (which removes that file)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from e2e_support import process_alive

# The `pykatib` script of this interpreter's environment (.venv/bin/pykatib), as a user runs it.
_SCRIPT = Path(sys.executable).with_name("pykatib")
PYKATIB = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pykatib.cli"]
START_TIMEOUT_S = 30.0


def clean_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """This environment without the user's server settings; ``PYKATIB_HOME`` is ``home`` when given."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYKATIB_SERVER", "PYKATIB_TOKEN", "PYKATIB_HOME")}
    if home is not None:
        env["PYKATIB_HOME"] = str(home)
    return {**env, **extra}


@dataclass(frozen=True)
class Server:
    """A server that is listening: what its ``server.json`` says."""

    home: Path
    url: str
    token: str | None
    pid: int
    workdir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """An environment in which the verbs find this server through ``PYKATIB_HOME``."""
        return clean_env(self.home, **extra)


def read_server(home: Path) -> Server | None:
    try:
        info = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return Server(home, info["url"], info.get("token"), info["pid"], Path(info["workdir"]))


def stop_server(server: Server, timeout: float = START_TIMEOUT_S) -> None:
    """SIGTERM the server by its pid, and wait until it has removed ``server.json`` and exited."""
    if process_alive(server.pid):
        os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while (server.home / "server.json").exists() or process_alive(server.pid):
        assert time.monotonic() < deadline, f"server {server.pid} still running {timeout} s after SIGTERM"
        time.sleep(0.1)


@contextmanager
def running_server(home: Path, *args: str) -> Iterator[Server]:
    """``pykatib server --port 0 --home HOME ARGS`` for the duration of the block (its output in
    ``HOME/server.log``)."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "server.log", "ab") as log:
        process = subprocess.Popen([*PYKATIB, "server", "--port", "0", "--home", str(home), *args],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=clean_env(), cwd=home)  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while (server := read_server(home)) is None or server.pid != process.pid:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"pykatib server did not start: {(home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
