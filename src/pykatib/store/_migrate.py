"""Bringing a database's schema to the current revision, cheaply when there is nothing to do.

pykatib opens the store often (every CLI command, every collector process), so the common case (schema
already at head) costs one small query and never imports Alembic. A new, empty database gets the models'
schema (``models.metadata``, which tests keep identical to what the migrations build) and the head revision
stamped, as Alembic's documentation recommends for fresh databases: importing and running Alembic cost a
first ``pykatib run`` about 0.2 s. Only an older database runs ``alembic.command.upgrade``. Either happens
under a lock, so that two processes opening a new database at once do not both create the tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, Engine, MetaData, PrimaryKeyConstraint, String, Table, inspect, text

from pykatib.store.errors import SchemaVersionError, StoreError
from pykatib.store.models import metadata

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision in migrations/versions. A test checks it against Alembic's own view of the scripts.
HEAD_REVISION = "0004"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
_MYSQL_LOCK = "pykatib_store_migrate"
_PG_LOCK_KEY = 0x7079_6B61_7469_62  # "pykatib" as an int: one advisory-lock key for all pykatib migrations
_LOCK_TIMEOUT_S = 120
# Alembic's own version table, as alembic.runtime.migration creates it (same name, type and key name).
_VERSION_TABLE = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def current_revisions(connection: Connection) -> set[str]:
    """The revisions recorded in the version table; empty for a database pykatib never touched."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return set()
    return {row[0] for row in connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))}


def alembic_config(connection: Connection | None = None, script_location: Path = MIGRATIONS) -> Config:
    """An Alembic Config built in code (no alembic.ini) that runs on ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, *, script_location: Path = MIGRATIONS, head: str = HEAD_REVISION) -> None:
    """Create or upgrade the schema to ``head``; a no-op costing one query when it is already there.

    ``script_location`` and ``head`` exist for tests that exercise an upgrade past revision 0001.
    """
    with engine.connect() as connection:
        if current_revisions(connection) == {head}:
            return
    # On SQLite "BEGIN IMMEDIATE" takes the write lock up front (see _engine._install_sqlite_settings), so a
    # second process opening a new database waits here and then finds the schema at head.
    with (
        engine.execution_options(sqlite_begin="BEGIN IMMEDIATE").connect() as connection,
        _sqlite_foreign_keys_off(connection),
        _migration_lock(connection),
    ):
        revisions = current_revisions(connection)
        if revisions != {head}:
            if head == HEAD_REVISION and script_location == MIGRATIONS and _is_new(connection):
                _create_at_head(connection)
            else:
                _run_alembic_upgrade(connection, script_location, revisions)
            _check_sqlite_foreign_keys(connection)
        # Commit before the lock is released, or the next process could see the tables (MySQL commits DDL
        # at once) without the new version row, and migrate again. PostgreSQL and SQLite commit the whole
        # migration here, atomically.
        connection.commit()


def _is_new(connection: Connection) -> bool:
    """No version table and none of pykatib's tables: a database pykatib never touched."""
    existing = set(inspect(connection).get_table_names())
    return existing.isdisjoint({VERSION_TABLE, *metadata.tables})


def _create_at_head(connection: Connection) -> None:
    """The head schema from the models, and the version table saying so (``alembic stamp head``)."""
    metadata.create_all(connection, checkfirst=False)
    _VERSION_TABLE.create(connection)
    connection.execute(_VERSION_TABLE.insert().values(version_num=HEAD_REVISION))


def _run_alembic_upgrade(connection: Connection, script_location: Path, revisions: set[str]) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = alembic_config(connection, script_location)
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    unknown = revisions - known
    if unknown:
        raise SchemaVersionError(
            f"the database's schema is at revision {', '.join(sorted(unknown))}, which this pykatib does not know "
            f"(it knows {', '.join(sorted(known))}); was it created by a newer pykatib?"
        )
    try:
        command.upgrade(config, "head")
    except CommandError as error:
        raise SchemaVersionError(f"cannot migrate the database's schema: {error}") from error


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Foreign keys off on SQLite while migrating, as SQLite's ALTER TABLE procedure requires.

    Alembic's batch mode rebuilds a table (copy, DROP, rename); with foreign keys on, the DROP would run the
    ON DELETE CASCADE actions and silently empty the tables that refer to it (a migration of ``trials`` would
    delete the whole observation log). The pragma is a no-op inside a transaction, so it is set on the driver
    connection before SQLAlchemy begins one, and set back before the connection returns to the pool.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        driver.execute("PRAGMA foreign_keys = ON")


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    """With foreign keys off during the migration, check them before committing it."""
    if connection.dialect.name == "sqlite":
        violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if violations:
            raise SchemaVersionError(f"a migration left rows referring to missing rows: {violations[:5]}")


@contextmanager
def _migration_lock(connection: Connection) -> Iterator[None]:
    """Serialize migrations across processes; SQLite is already serialized by BEGIN IMMEDIATE."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # Released at commit or rollback of the transaction that holds it.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        yield
    elif dialect in ("mysql", "mariadb"):
        # A session lock: it survives the implicit commits that MySQL's DDL makes.
        got = connection.execute(
            text("SELECT GET_LOCK(:name, :timeout)"), {"name": _MYSQL_LOCK, "timeout": _LOCK_TIMEOUT_S}
        ).scalar()
        if got != 1:
            raise StoreError(f"timed out after {_LOCK_TIMEOUT_S} s waiting for another process's migration")
        try:
            yield
        finally:
            connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": _MYSQL_LOCK})
    else:
        yield
