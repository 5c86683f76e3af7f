"""Where a pykatib server's home is and what its ``server.json`` says, for every layer: ``report_metrics`` in a
trial reads it as the server writes it (``server.home`` adds the lock and the private writes). Imports nothing
of pykatib's and nothing heavy.
"""

from __future__ import annotations

import os
from pathlib import Path

SERVER_FILE = "server.json"  # where a listening server says where it is (mode 0600: it holds the token)
DB_MANAGER_KEY = "db_manager"  # server.json: where Katib's DB manager (gRPC) listens, 127.0.0.1:PORT


def default_home(home: str | Path | None = None) -> Path:
    """``home`` (``--home``), else ``$PYKATIB_HOME``, else ``~/.pykatib``."""
    return Path(home or os.environ.get("PYKATIB_HOME") or "~/.pykatib").expanduser()


def db_manager_address(server_file: object) -> str | None:
    """The DB manager address (``host:port``) in a parsed ``server.json``, or None when it names none."""
    address = server_file.get(DB_MANAGER_KEY) if isinstance(server_file, dict) else None
    return address if isinstance(address, str) and address else None
