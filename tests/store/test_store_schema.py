"""Schema and migrations on every backend: creation, cheap reopening, upgrades, and the models matching them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, event, inspect, text

from pykatib.store import NewTrial, ObservationRow, SchemaVersionError, Store
from pykatib.store._engine import create_store_engine
from pykatib.store._migrate import HEAD_REVISION, MIGRATIONS, alembic_config, current_revisions, upgrade
from pykatib.store.models import metadata

TABLES = {"experiments", "trials", "observation_logs", "algorithm_state", "experiment_leases"}


def versions(store: Store) -> set[str]:
    with store._engine.connect() as conn:
        return current_revisions(conn)


def fill(store: Store) -> int:
    """An experiment with a trial, an observation and algorithm state; returns the trial id."""
    experiment = store.create_experiment("kept", "default", {"survives": "ja"})
    (trial,) = store.create_trials(experiment.id, [NewTrial("kept-a", {"lr": "0.1"})])
    store.add_observations([ObservationRow(trial.id, "loss", 0.25, datetime(2024, 1, 1, tzinfo=UTC))])
    store.save_algorithm_state(experiment.id, {"step": 3})
    return trial.id


def assert_filled(store: Store, trial_id: int) -> None:
    experiment = store.get_experiment("kept")
    assert experiment is not None and experiment.spec == {"survives": "ja"}
    assert [t.id for t in store.list_trials(experiment.id)] == [trial_id]
    assert [o.value for o in store.list_observations(trial_id)] == [0.25]
    assert store.load_algorithm_state(experiment.id) == {"step": 3}


Spawn = Callable[..., "subprocess.Popen[str]"]  # the spawn fixture (conftest.py)


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    """Wait for a spawned process: its exit status and stderr."""
    _, stderr = process.communicate(timeout=timeout)
    return process.returncode, stderr


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=timeout
    )


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD_REVISION]


def test_new_database_is_created_at_head(store: Store) -> None:
    with store._engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    assert tables >= TABLES | {"alembic_version"}
    assert versions(store) == {HEAD_REVISION}


def test_backend_specific_settings(store: Store) -> None:
    """What each backend needs beyond the portable schema (see the notes in pykatib/store/models.py)."""
    dialect = store._engine.dialect.name
    with store._engine.connect() as conn:
        if dialect == "sqlite":
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
            assert pragma == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 30_000, "foreign_keys": 1}
        elif dialect == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = 'observation_logs'"
                )
            )
            types = {name: data_type for name, data_type in rows}
            assert types["time"] == "timestamp with time zone"
            assert (types["value"], types["id"]) == ("double precision", "bigint")
        else:
            collations = set(
                conn.execute(
                    text(
                        "SELECT table_collation FROM information_schema.tables"
                        " WHERE table_schema = DATABASE() AND table_name IN"
                        " ('experiments', 'trials', 'observation_logs', 'algorithm_state')"
                    )
                ).scalars()
            )
            assert collations == {"utf8mb4_bin"}
            columns = {
                name: (data_type, precision)
                for name, data_type, precision in conn.execute(
                    text(
                        "SELECT column_name, data_type, datetime_precision FROM information_schema.columns"
                        " WHERE table_schema = DATABASE() AND table_name = 'observation_logs'"
                    )
                )
            }
            assert columns["time"] == ("datetime", 6)
            assert columns["value"][0] == "double" and columns["id"][0] == "bigint"


def schema_of(conn: Connection) -> dict[str, dict[str, object]]:
    """Everything reflection tells about each table: columns, keys, indexes, constraints, table options."""
    inspector = inspect(conn)
    schema: dict[str, dict[str, object]] = {}
    for table in sorted(inspector.get_table_names()):
        columns = [
            (c["name"], str(c["type"].compile(dialect=conn.dialect)), c["nullable"], c.get("default"))
            for c in inspector.get_columns(table)
        ]
        schema[table] = {
            "columns": columns,
            "primary key": inspector.get_pk_constraint(table),
            "foreign keys": sorted(map(repr, inspector.get_foreign_keys(table))),
            "indexes": sorted(map(repr, inspector.get_indexes(table))),
            "unique": sorted(map(repr, inspector.get_unique_constraints(table))),
            "checks": sorted(map(repr, inspector.get_check_constraints(table))),
            "options": inspector.get_table_options(table),
        }
    return schema


def test_migrations_and_a_new_database_have_the_models_schema(db_url: str) -> None:
    """A new database gets the models' schema directly; an older one reaches head through the migrations.
    Both must be the same schema, or later migrations would meet databases they were not written for."""
    engine = create_store_engine(db_url)
    try:
        with engine.connect() as conn:
            command.upgrade(alembic_config(conn), "head")
            conn.commit()
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            assert compare_metadata(context, metadata) == []
            migrated = schema_of(conn)
        everything = MetaData()
        everything.reflect(engine)
        everything.drop_all(engine)
    finally:
        engine.dispose()
    with Store(db_url) as store, store._engine.connect() as conn:
        assert current_revisions(conn) == {HEAD_REVISION}
        assert schema_of(conn) == migrated
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, metadata) == []


def test_a_new_database_is_created_without_alembic(db_url: str) -> None:
    probe = run_python(
        """
        import sys
        from pykatib.store import Store
        Store(sys.argv[1]).close()
        print("alembic imported:", "alembic" in sys.modules, "orm imported:", "sqlalchemy.orm" in sys.modules)
        """,
        db_url,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "alembic imported: False orm imported: False"
    with Store(db_url) as store:
        assert versions(store) == {HEAD_REVISION}


def test_reopening_keeps_data_and_runs_no_migration(db_url: str) -> None:
    with Store(db_url) as first:
        trial_id = fill(first)

    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        second = Store(db_url)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    with second:
        assert statements, "the version check should have run"
        changing = [s for s in statements if s.split()[0].upper() in {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE"}]
        assert changing == []
        assert versions(second) == {HEAD_REVISION}
        assert_filled(second, trial_id)

    # The cheap path does not even import Alembic.
    probe = run_python(
        """
        import sys
        from pykatib.store import Store
        Store(sys.argv[1]).close()
        print("alembic imported:", "alembic" in sys.modules)
        """,
        db_url,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "alembic imported: False"


def test_database_at_an_older_revision_is_upgraded(db_url: str, tmp_path: Path) -> None:
    """A real upgrade: the head revision (made by Store) to a test-only 9001 that changes the trials table.

    On SQLite, 9001 rebuilds the table the way Alembic's batch mode must (copy, drop, rename): the
    observation log and algorithm state surviving that shows the upgrade keeps foreign-key cascades away.
    """
    with Store(db_url) as store:
        trial_id = fill(store)
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9001_test_note.py").write_text(
        textwrap.dedent(
            """
            import sqlalchemy as sa
            from alembic import op

            revision = "9001"
            down_revision = "HEAD"
            branch_labels = None
            depends_on = None


            def upgrade():
                recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
                with op.batch_alter_table("trials", recreate=recreate) as batch:
                    batch.add_column(sa.Column("test_note", sa.String(50), nullable=True))
                op.execute("UPDATE trials SET test_note = 'migrated'")


            def downgrade():
                with op.batch_alter_table("trials") as batch:
                    batch.drop_column("test_note")
            """
        ).replace("HEAD", HEAD_REVISION)
    )
    with Store(db_url) as store:  # the Store's engine, with its SQLite settings (foreign keys on)
        upgrade(store._engine, script_location=scripts, head="9001")
        with store._engine.connect() as conn:
            assert current_revisions(conn) == {"9001"}
            assert conn.execute(text("SELECT id, test_note FROM trials")).all() == [(trial_id, "migrated")]
            assert conn.execute(text("SELECT trial_id, value FROM observation_logs")).all() == [(trial_id, 0.25)]
            assert conn.execute(text("SELECT COUNT(*) FROM algorithm_state")).scalar_one() == 1
        assert_filled(store, trial_id)
    # A database migrated past what this pykatib knows is refused, not mangled.
    with pytest.raises(SchemaVersionError, match="9001"):
        Store(db_url)


def test_database_downgraded_to_base_is_rebuilt(db_url: str) -> None:
    with Store(db_url) as store:
        fill(store)
        with store._engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        with store._engine.connect() as conn:
            assert TABLES.isdisjoint(inspect(conn).get_table_names())
            assert current_revisions(conn) == set()  # the version table remains, empty
    with Store(db_url) as store:
        assert versions(store) == {HEAD_REVISION}
        assert store.list_experiments() == []
        store.create_experiment("again", "default", {})
        assert [e.name for e in store.list_experiments()] == ["again"]


def test_processes_opening_a_new_database_at_once_migrate_it_once(db_url: str, spawn: Spawn) -> None:
    """Cold opens race on SQLite's switch to WAL and on creating the schema; every process must succeed."""
    start_at = str(time.time() + 2.0)
    code = """
        import sys, time
        from pykatib.store import Store
        time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
        with Store(sys.argv[1]) as store:
            store.create_experiment(f"exp-{sys.argv[3]}", "default", {})
        """
    processes = [spawn(code, db_url, start_at, str(i)) for i in range(6)]
    results = [finish(p) for p in processes]
    assert [rc for rc, _ in results] == [0] * 6, results
    with Store(db_url) as store:
        assert versions(store) == {HEAD_REVISION}
        assert sorted(e.name for e in store.list_experiments()) == [f"exp-{i}" for i in range(6)]


WRITER = """
    import sys
    from datetime import UTC, datetime
    from pykatib.store import ObservationRow, Store
    url, trial_id, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with Store(url) as store:
        for batch in range(batches):
            now = datetime.now(UTC)
            store.add_observations([ObservationRow(trial_id, "loss", float(batch), now) for _ in range(size)])
    """


def test_another_process_writes_while_this_one_reads(store: Store, spawn: Spawn) -> None:
    """Two Stores on one database, one in a second process; on SQLite this is what WAL mode is for."""
    experiment = store.create_experiment("exp", "default", {})
    (trial,) = store.create_trials(experiment.id, [NewTrial("exp-a", {})])
    count = "SELECT COUNT(*) FROM observation_logs"

    # 1. A long read transaction stays open while the writer commits. Without WAL, SQLite's writer could not
    #    commit until the reader finished, and would fail with "database is locked" after busy_timeout.
    with store._engine.connect() as reader:
        assert reader.execute(text(count)).scalar_one() == 0
        writer = spawn(WRITER, store.url, str(trial.id), "5", "100")
        status, stderr = finish(writer, timeout=25)
        assert status == 0, stderr
        if store._engine.dialect.name == "sqlite":
            assert reader.execute(text(count)).scalar_one() == 0  # still this transaction's snapshot
    assert len(store.list_observations(trial.id)) == 500

    # 2. Reads through the Store API while the other process writes: never an error, never half a batch.
    writer = spawn(WRITER, store.url, str(trial.id), "40", "250")
    seen: list[int] = []
    while writer.poll() is None:
        seen.append(len(store.list_observations(trial.id)))
        store.metric_summaries(experiment.id)
    status, stderr = finish(writer)
    assert status == 0, stderr
    seen.append(len(store.list_observations(trial.id)))
    assert seen == sorted(seen)
    assert all((n - 500) % 250 == 0 for n in seen)
    assert seen[-1] == 500 + 40 * 250
    assert store.metric_summaries(experiment.id)[trial.id]["loss"].latest == 39.0


def test_sqlite_cold_opens_racing_to_switch_on_wal_all_succeed(tmp_path: Path, spawn: Spawn) -> None:
    """SQLite answers "database is locked" at once, without waiting, to some of several processes switching a new
    database to WAL together. Here 6 processes open each of 12 new databases at the same moment."""
    slots, processes = 12, 6
    code = """
        import sys, time
        from pykatib.store import Store
        folder, start, slots = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
        for slot in range(slots):
            time.sleep(max(0.0, start + slot * 0.25 - time.time()))
            Store(f"sqlite:///{folder}/db{slot}.sqlite").close()
        """
    start_at = str(time.time() + 2.0)
    running = [spawn(code, str(tmp_path), start_at, str(slots)) for _ in range(processes)]
    errors = [finish(p) for p in running]
    assert [rc for rc, _ in errors] == [0] * processes, [err for rc, err in errors if rc][:1]
    for slot in range(slots):
        with Store(f"sqlite:///{tmp_path}/db{slot}.sqlite") as store:
            assert versions(store) == {HEAD_REVISION}
            with store._engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
