"""Creating the Store's engine: SQLite's connection settings, and the observation log's bulk insert."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, column, create_engine, event, insert, table
from sqlalchemy.engine import make_url
from sqlalchemy.sql.expression import Executable

from pykatib.store.models import JSONText, UTCDateTime, time_storer

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; for a SQLite file, its folder is created and its connections configured."""
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # A server may drop idle connections (MySQL's wait_timeout): test each before use rather than fail a write.
    engine = create_engine(url, pool_pre_ping=not is_sqlite)
    if is_sqlite:
        _install_sqlite_settings(engine)
    return engine


# The observation log's insert without column types: add_observations converts each row to its stored form
# itself (models.time_storer) and hands the driver one executemany of plain tuples (or dicts, for drivers
# with named parameters). SQLAlchemy's per-row parameter and type processing otherwise costs more than
# SQLite's own insert: this doubles the rows/s on SQLite (measured).
OBSERVATION_COLUMNS = ("trial_id", "metric_name", "value", "time")
_UNTYPED_OBSERVATION_INSERT = insert(table("observation_logs", *(column(name) for name in OBSERVATION_COLUMNS)))


@dataclass(frozen=True)
class ObservationInsert:
    """The observation log's insert for one engine: its SQL (None: the typed insert, for a backend that
    models.time_storer does not know), how to store a time, and whether the driver takes rows as tuples in
    OBSERVATION_COLUMNS order (else as dicts)."""

    sql: str | None
    store_time: Callable[[datetime], Any]
    positional: bool


def observation_insert(engine: Engine) -> ObservationInsert:
    store_time = time_storer(engine.dialect.name)
    compiled = _UNTYPED_OBSERVATION_INSERT.compile(dialect=engine.dialect)
    if store_time is None:
        # The typed insert(observation_logs): its UTCDateTime column converts the time.
        return ObservationInsert(None, lambda at: at, positional=False)
    positional = bool(compiled.positional) and compiled.positiontup == list(OBSERVATION_COLUMNS)
    if compiled.positional and not positional:
        return ObservationInsert(None, lambda at: at, positional=False)  # an order we do not know: typed
    return ObservationInsert(str(compiled), store_time, positional)


class DriverStatement:
    """A Core statement compiled once for one engine, run through ``exec_driver_sql`` with its values converted
    to their stored form here (times by models.time_storer, JSON documents as JSONText writes them).

    For the controller's small, frequent statements SQLAlchemy's per-execution work (cache key, compiled-cache
    lookup, parameter and type processing) cost several times what SQLite spends running them (measured:
    about 80 against 15 microseconds). Values are passed by bind name, as ``execute(statement, values)`` takes
    them. On a backend that models.time_storer does not know, the typed statement runs the usual way.
    """

    __slots__ = ("_convert", "_order", "_statement", "direct", "sql")

    def __init__(self, statement: Executable, engine: Engine) -> None:
        store_time = time_storer(engine.dialect.name)
        compiled = statement.compile(dialect=engine.dialect)
        self._statement = statement
        self.direct = store_time is not None
        self.sql = str(compiled)
        self._order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self._convert: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            if isinstance(bind.type, UTCDateTime) and store_time is not None:
                self._convert[name] = _aware_time_storer(store_time)
            elif isinstance(bind.type, JSONText):
                self._convert[name] = JSONText.to_text

    def execute(self, conn: Connection, values: dict[str, Any]) -> CursorResult[Any]:
        if not self.direct:
            return conn.execute(self._statement, values)
        return conn.exec_driver_sql(self.sql, self._params(values))

    def execute_many(self, conn: Connection, rows: list[dict[str, Any]]) -> CursorResult[Any]:
        if not self.direct:
            return conn.execute(self._statement, rows)
        return conn.exec_driver_sql(self.sql, [self._params(values) for values in rows])

    def _params(self, values: dict[str, Any]) -> Any:
        convert = self._convert
        if convert:
            values = {k: v if v is None or k not in convert else convert[k](v) for k, v in values.items()}
        return values if self._order is None else tuple(values[name] for name in self._order)


def _aware_time_storer(store_time: Callable[[datetime], Any]) -> Callable[[datetime], Any]:
    def store(value: datetime) -> Any:
        if value.tzinfo is None:
            # As UTCDateTime refuses it: a naive time is ambiguous (local? UTC?).
            raise ValueError(f"datetime must be timezone-aware, got {value!r}")
        return store_time(value)

    return store


def _install_sqlite_settings(engine: Engine) -> None:
    """WAL and friends on every new SQLite connection, and SQLAlchemy (not sqlite3) in charge of BEGIN.

    WAL lets readers (the UI, the CLI) run while the controller and collectors write; synchronous=NORMAL is
    durable across application crashes in WAL mode and much faster than FULL; busy_timeout makes a writer
    wait for another process's write instead of failing at once. sqlite3's own transaction handling skips
    BEGIN before SELECT and DDL, so reads would not be snapshots and migrations would not be atomic: it is
    switched off and the "begin" event emits BEGIN, or BEGIN IMMEDIATE for writes. Taking the write lock at
    BEGIN matters: a deferred transaction that reads and then writes can fail with "database is locked"
    without waiting, when another process wrote in between.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))


def _enable_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode = WAL``, retried: processes opening a new database at once can get "database is
    locked" from it at once, without SQLite's busy handler (busy_timeout) ever waiting."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay * random.uniform(0.5, 1.5))  # jitter: the racing processes should not retry in step
            delay = min(delay * 2, 0.1)
