"""A server's home directory: where pykatib's verbs find it (server.json), the lock that keeps it to one
server (server.lock), and how files there are written. Light to import: the client verbs use it too."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

SERVER_FILE = "server.json"  # where a listening server says where it is (mode 0600: it holds the token)
LOCK_FILE = "server.lock"
DB_MANAGER_KEY = "db_manager"  # server.json: where Katib's DB manager (gRPC) listens, 127.0.0.1:PORT


def default_home(home: str | Path | None = None) -> Path:
    """``home`` (``--home``), else ``$PYKATIB_HOME``, else ``~/.pykatib``."""
    return Path(home or os.environ.get("PYKATIB_HOME") or "~/.pykatib").expanduser()


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` in one step (a reader never sees half a file), created with ``mode``
    (0600 unless told: these files hold a token or a key). OSError when it cannot be written."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        if mode != 0o600:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
