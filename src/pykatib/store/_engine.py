"""Creating the Store's engine: SQLite's connection settings, the observation log's bulk insert, and the one-line
errors a store that cannot be opened raises (StoreUnavailableError) instead of SQLAlchemy's tracebacks."""

from __future__ import annotations

import os
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    bindparam,
    column,
    create_engine,
    event,
    insert,
    select,
    table,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

from pykatib.store.errors import StoreError, StoreFileChangedError, StoreUnavailableError
from pykatib.store.models import JSONText, UTCDateTime, algorithm_state, time_storer
from pykatib.store.models import trials as trials_table

SQLITE_BUSY_TIMEOUT_MS = 30_000
URL_FORMS = "sqlite:///path/to/file.db, postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db"
# The pip extra that installs each server backend's driver (pyproject.toml).
DRIVER_EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def shown_url(url: str) -> str:
    """``url`` as messages show it: the password hidden, also when the URL does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite file store (as the URL writes it); None for a server, ``:memory:``, a ``file:`` URI
    filename, or a URL that does not parse."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("uri") == "true":
        return None
    return Path(database)


def create_store_engine(url: str, *, create_folder: bool = True) -> Engine:
    """An engine for ``url``; for a SQLite file, its connections configured and its folder created (or, with
    ``create_folder=False``, required to exist: a typo in an explicit path should not make a new database).

    Nothing connects yet. A URL that does not parse, an unknown dialect or a driver that is not installed
    raise StoreUnavailableError saying so.
    """
    shown = shown_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as error:
        raise StoreUnavailableError(f"not a database URL: {shown} ({error}); expected e.g. {URL_FORMS}") from None
    is_sqlite = parsed.get_backend_name() == "sqlite"
    path = sqlite_file(url)
    if path is not None:
        _check_sqlite_path(path, shown, create_folder=create_folder)
    try:
        # A server may drop idle connections (MySQL's wait_timeout): test each before use rather than fail a write.
        engine = create_engine(url, pool_pre_ping=not is_sqlite)
    except NoSuchModuleError:
        kind = parsed.drivername
        raise StoreUnavailableError(
            f"cannot open the store {shown}: unknown database kind or driver {kind!r}; expected e.g. {URL_FORMS}"
        ) from None
    except ImportError as error:
        raise StoreUnavailableError(_missing_driver(parsed, shown, error)) from None
    except (ArgumentError, TypeError) as error:  # arguments in the URL's query that the dialect refuses
        raise StoreUnavailableError(f"cannot open the store {shown}: {error_line(error)}; check the URL") from None
    if is_sqlite:
        _install_sqlite_settings(engine)
    return engine


def _check_sqlite_path(path: Path, shown: str, *, create_folder: bool) -> None:
    """Refuse, with what to do, a SQLite path that cannot be a database file (SQLite itself would only say
    "unable to open database file"); create its folder when asked to."""
    if path.is_dir():
        raise StoreUnavailableError(
            f"cannot open the store {shown}: {path} is a directory, not a database file; "
            f"name a file, e.g. sqlite:///{path / 'pykatib.db'}"
        )
    folder = path.parent
    if folder.is_dir():
        return
    if folder.exists():
        raise StoreUnavailableError(f"cannot open the store {shown}: {folder} is not a directory; fix the path")
    if not create_folder:
        raise StoreUnavailableError(
            f"cannot open the store {shown}: the directory {folder} does not exist; create it first, or fix the path"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreUnavailableError(
            f"cannot open the store {shown}: cannot create the directory {folder} ({error.strerror or error})"
        ) from None


def _missing_driver(parsed: URL, shown: str, error: ImportError) -> str:
    extra = DRIVER_EXTRAS.get(parsed.get_backend_name())
    install = f"pip install 'pykatib[{extra}]'" if extra else "install its Python package"
    return f"cannot open the store {shown}: the driver for {parsed.drivername} is not installed ({error}); {install}"


@contextmanager
def opening_errors(url: str) -> Iterator[None]:
    """Errors of the first connection and the migration as StoreUnavailableError: what failed, the URL with its
    password hidden, and what to check. The Store's own errors (SchemaVersionError) pass through."""
    try:
        yield
    except StoreError:
        raise
    except (DBAPIError, sqlite3.Error) as error:
        raise StoreUnavailableError(_connect_failure(url, error)) from None
    except ImportError as error:  # a driver imported only when the first connection is made
        raise StoreUnavailableError(_missing_driver(make_url(url), shown_url(url), error)) from None
    except SQLAlchemyError as error:  # e.g. an asyncio-only driver in the URL
        raise StoreUnavailableError(f"cannot open the store {shown_url(url)}: {error_line(error)}") from None


def _connect_failure(url: str, error: Exception) -> str:
    shown = shown_url(url)
    reason = error_line(error)
    if sqlite_file(url) is not None or make_url(url).get_backend_name() == "sqlite":
        if "file is not a database" in reason or "malformed" in reason:
            return (
                f"cannot open the store {shown}: the file is not a SQLite database or is damaged ({reason}); "
                "name another file, or move this one away"
            )
        if "locked" in reason:
            return (
                f"cannot open the store {shown}: {reason} (another process held it for over "
                f"{SQLITE_BUSY_TIMEOUT_MS // 1000} s); try again when it is done"
            )
        return f"cannot open the store {shown}: {reason}; check that the file and its directory can be written"
    return (
        f"cannot connect to the store {shown}: {reason}; check that the database server is running and the URL's "
        "host, port, user, password and database name"
    )


def error_line(error: BaseException) -> str:
    """An error's message on one line: a database error's is the driver's, without its detail lines (psycopg
    adds hints, SQLAlchemy the statement and a link)."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path`` now; None when nothing is there."""
    try:
        stat = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return stat.st_dev, stat.st_ino


# The observation log's insert without column types: add_observations converts each row to its stored form
# itself (models.time_storer) and hands the driver one executemany of plain tuples (or dicts, for drivers
# with named parameters). SQLAlchemy's per-row parameter and type processing otherwise costs more than
# SQLite's own insert: this doubles the rows/s on SQLite (measured).
OBSERVATION_COLUMNS = ("trial_id", "metric_name", "value", "text", "time")
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
        compiled = _compile(statement, engine)
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


def _compile(statement: Executable, engine: Engine) -> SQLCompiler:
    """A Core statement (insert, update, select: each a ClauseElement) compiled for the engine's dialect."""
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=engine.dialect)
    assert isinstance(compiled, SQLCompiler)
    return compiled


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


def check_file_identity(path: Path, opened: tuple[int, int] | None) -> None:
    """Raise StoreFileChangedError unless the file at ``path`` is still the one opened (``file_identity``)."""
    now = file_identity(path)
    if now == opened:
        return
    what = "deleted" if now is None else "replaced by another file"
    raise StoreFileChangedError(
        f"the store's file {path} was {what} while pykatib was using it, so nothing more can be saved to it; "
        "put the original file back and continue with --resume, or start the experiment again"
    )


_NEW_TRIAL_COLUMNS = (
    "experiment_id",
    "name",
    "parameter_assignments",
    "labels",
    "phase",
    "work_dir",
    "created_at",
    "updated_at",
)


class Statements:
    """The Store's frequent statements, compiled once for its engine (see DriverStatement).

    Bind names end in "_": SQLAlchemy reserves a column's own name for the value of its SET/VALUES entry.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.insert_trials = DriverStatement(
            insert(trials_table).values({c: bindparam(f"{c}_") for c in _NEW_TRIAL_COLUMNS}).inline(), engine
        )
        state = algorithm_state.c
        values: dict[str, Any] = {"state": bindparam("state_"), "updated_at": bindparam("updated_at_")}
        self.update_state = DriverStatement(
            update(algorithm_state).where(state.experiment_id == bindparam("experiment_id_")).values(values), engine
        )
        self.insert_state = DriverStatement(
            insert(algorithm_state).values(experiment_id=bindparam("experiment_id_"), **values), engine
        )
        self._updates: dict[tuple[Any, tuple[str, ...]], DriverStatement] = {}
        self._trial_ids: dict[int, DriverStatement] = {}

    def update(self, table: Any, fields: tuple[str, ...]) -> DriverStatement:
        """UPDATE table SET <field> = :<field>_, ... WHERE id = :id_ (one statement per set of fields)."""
        statement = self._updates.get((table, fields))
        if statement is None:
            where = table.c.id == bindparam("id_")
            built = update(table).where(where).values({field: bindparam(f"{field}_") for field in fields})
            statement = self._updates[(table, fields)] = DriverStatement(built, self._engine)
        return statement

    def trial_ids(self, count: int) -> DriverStatement:
        """SELECT name, id FROM trials WHERE name IN (:n0, ..., :n<count-1>)."""
        statement = self._trial_ids.get(count)
        if statement is None:
            names = trials_table.c.name.in_([bindparam(f"n{i}") for i in range(count)])
            built = select(trials_table.c.name, trials_table.c.id).where(names)
            statement = self._trial_ids[count] = DriverStatement(built, self._engine)
        return statement
