"""The controller's tests that keep a store run on every backend: SQLite, PostgreSQL and MariaDB (as the store's do);
each such module says so with `pytestmark = pytest.mark.usefixtures("store_backend")`."""

from __future__ import annotations

import pytest

import e2e_support
from db_support import BACKENDS, ServerDatabases, empty_database


@pytest.fixture(params=BACKENDS)
def store_backend(
    request: pytest.FixtureRequest, server_databases: ServerDatabases, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The backend of this test's store; on a server, ``e2e_support.store_for`` opens its empty database."""
    backend: str = request.param
    if backend != "sqlite":
        url = server_databases.url(backend).render_as_string(hide_password=False)
        empty_database(url)
        monkeypatch.setattr(e2e_support, "STORE_URL", url)
    return backend
