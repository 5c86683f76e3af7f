"""Fixtures: a valid v1beta1 experiment to mutate; a database URL on every backend (``db_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from db_support import BACKENDS, ServerDatabases, empty_database
from tests_support import base_experiment


@pytest.fixture
def base() -> dict[str, Any]:
    return base_experiment()


@pytest.fixture(scope="session")
def server_databases() -> Iterator[ServerDatabases]:
    databases = ServerDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, server_databases: ServerDatabases) -> str:
    """A URL of an empty database on each backend in turn."""
    backend: str = request.param
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'pykatib.db'}"
    url = server_databases.url(backend).render_as_string(hide_password=False)
    empty_database(url)
    return url
