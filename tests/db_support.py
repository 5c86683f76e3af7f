"""Databases for tests: every backend the store supports, one scratch database per server per session.

Each server backend gets one database of its own per test session (a unique name, dropped at the end), so
concurrent test runs against the same server do not meet; each test then starts from an empty database.
A server that cannot be reached skips its tests with the reason (in CI here nothing may skip: the servers
run). The server URLs can be changed with PYKATIB_TEST_POSTGRES_URL and PYKATIB_TEST_MYSQL_URL (a database
the user may CREATE DATABASE from). The fixtures themselves are in tests/conftest.py.
"""

from __future__ import annotations

import os
import secrets

import pytest
from sqlalchemy import Engine, MetaData, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

SERVERS = {
    "postgresql": ("PostgreSQL", "PYKATIB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": ("MariaDB", "PYKATIB_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
BACKENDS = ["sqlite", *SERVERS]


class ServerDatabases:
    """Creates one scratch database per server on first use; remembers why a server was unreachable."""

    def __init__(self) -> None:
        self.urls: dict[str, URL] = {}
        self.unreachable: dict[str, str] = {}
        self.name = f"pykatib_test_{os.getpid()}_{secrets.token_hex(3)}"

    def url(self, backend: str) -> URL:
        if backend in self.unreachable:
            pytest.skip(self.unreachable[backend])
        if backend not in self.urls:
            title, variable, default = SERVERS[backend]
            extra = "postgres" if backend == "postgresql" else "mysql"
            server = make_url(os.environ.get(variable, default))
            try:
                with _admin_engine(server).connect() as conn:
                    conn.execute(text(f"CREATE DATABASE {self.name}"))
            except ImportError as error:
                self.unreachable[backend] = f"{title} tests need its driver: {error} (pip install -e '.[{extra}]')"
                pytest.skip(self.unreachable[backend])
            except Exception as error:
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                self.unreachable[backend] = f"{title} not reachable at {server.host}:{server.port}: {first_line}"
                pytest.skip(self.unreachable[backend])
            self.urls[backend] = server.set(database=self.name)
        return self.urls[backend]

    def drop_all(self) -> None:
        for backend, url in self.urls.items():
            _title, variable, default = SERVERS[backend]
            server = make_url(os.environ.get(variable, default))
            force = " WITH (FORCE)" if backend == "postgresql" else ""
            with _admin_engine(server).connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {url.database}{force}"))


def _admin_engine(server: URL) -> Engine:
    # CREATE/DROP DATABASE cannot run inside a transaction on PostgreSQL.
    # NullPool: no connection outlives its use, so nothing holds the database when it is dropped.
    return create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}, poolclass=NullPool)


def empty_database(url: str) -> None:
    """Drop every table (pykatib's, alembic_version, anything a test added) so a test starts from nothing."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)
    finally:
        engine.dispose()
