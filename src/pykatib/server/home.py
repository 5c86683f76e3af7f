"""A server's home directory: where pykatib's verbs find it (server.json, named in ``pykatib.home`` for the
layers below the server), the lock that keeps it to one server (server.lock), and how files there are written.
Light to import: the client verbs use it too."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from pykatib.home import DB_MANAGER_KEY, SERVER_FILE, db_manager_address, default_home

__all__ = ["DB_MANAGER_KEY", "LOCK_FILE", "SERVER_FILE", "db_manager_address", "default_home", "write_atomically"]

LOCK_FILE = "server.lock"


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
