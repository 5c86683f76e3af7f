"""The store's tables, as SQLAlchemy Core ``Table`` objects in one ``metadata``.

Core, not declarative ORM classes: the Store only runs Core statements, and importing ``sqlalchemy.orm``
cost every pykatib command about 50 ms of start-up. ``metadata`` is also Alembic's ``target_metadata``.
A new database gets this schema directly (``metadata.create_all`` plus the head revision stamped, see
``_migrate``); an older one is upgraded by ``migrations/versions``. Tests check on every backend that the
migrations and these tables agree.

Portability choices (SQLite, PostgreSQL, MySQL/MariaDB):
- JSON documents are Text holding ``json.dumps`` output: every backend has Text, and MySQL's TEXT
  (64 KiB) would be too small for the status of a large experiment (its name lists), hence LONGTEXT there.
- Strings that are indexed have a length, because MySQL cannot index unbounded text.
- Times are stored in UTC with microseconds: TIMESTAMPTZ on PostgreSQL, DATETIME(6) on MySQL (its plain
  DATETIME drops the fraction, and Katib orders observations by time), ISO text on SQLite.
- MySQL tables use utf8mb4 with a binary collation so that names compare exactly as they do on
  PostgreSQL and SQLite (the default collations ignore case) and emoji survive.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql

from pykatib.spec.limits import MAX_METRIC_NAME_LENGTH
from pykatib.store.records import TrialPhase

# Named constraints let later migrations drop or alter them by name on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MYSQL_TABLE_ARGS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

NAME_LENGTH = 253  # a Kubernetes object name (Katib's experiment and trial names are such names)
METRIC_NAME_LENGTH = MAX_METRIC_NAME_LENGTH  # validation refuses longer names before they reach the store
PHASE_LENGTH = 32
REASON_LENGTH = 255

# Storage types. Migrations spell their types out themselves (a migration must not change when this file
# does); tests/store checks that the migrated schema matches these models.
JSON_TEXT = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
TIMESTAMP = DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere the observation log may outgrow 2**31 rows.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the backend keeps.

    SQLite and MySQL store naive values (we store UTC) and hand back naive ones: UTC is attached on the
    way out. PostgreSQL's TIMESTAMPTZ hands back the session's time zone: converted to UTC.
    """

    impl = TIMESTAMP
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive time is ambiguous (local? UTC?): refuse rather than guess and misorder observations.
            raise ValueError(f"datetime must be timezone-aware, got {value!r}")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def time_storer(dialect_name: str) -> Callable[[datetime], Any] | None:
    """What UTCDateTime (with its impl) hands the driver for an aware datetime on this backend.

    The observation log's bulk insert skips SQLAlchemy's per-row type processing and converts times itself
    with this; None for backends not listed here (they take the typed path). A test checks that both paths
    store the same value.
    """
    if dialect_name == "sqlite":
        # SQLAlchemy's SQLite DATETIME text, "YYYY-MM-DD HH:MM:SS.ffffff": isoformat without its "+00:00".
        return lambda value: value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
    if dialect_name == "postgresql":
        return lambda value: value  # TIMESTAMPTZ stores the instant, whatever the offset
    if dialect_name in ("mysql", "mariadb"):
        return lambda value: value.astimezone(UTC).replace(tzinfo=None)
    return None


class JSONText(TypeDecorator[Any]):
    """A JSON document kept as text: portable, and stored exactly as ``json.dumps`` wrote it.

    ``allow_nan=False``: NaN and Infinity are not JSON, and the UI and REST clients parse these documents.
    """

    impl = JSON_TEXT
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.to_text(value)

    @staticmethod
    def to_text(value: Any) -> str:
        """The stored text of a document (also used by the Store's statements that bypass type processing)."""
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

PHASES_SQL = ", ".join(f"'{phase.value}'" for phase in TrialPhase)

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("namespace", String(NAME_LENGTH), nullable=False),
    Column("spec", JSONText, nullable=False),
    Column("status", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("name", "namespace"),
    **MYSQL_TABLE_ARGS,
)

trials = Table(
    "trials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment_id", ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True),
    Column("parameter_assignments", JSONText, nullable=False),
    Column("labels", JSONText, nullable=False),
    Column("phase", String(PHASE_LENGTH), nullable=False),
    Column("reason", String(REASON_LENGTH), nullable=True),
    Column("message", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("start_time", UTCDateTime, nullable=True),
    Column("completion_time", UTCDateTime, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("pid", Integer, nullable=True),
    Column("work_dir", Text, nullable=True),
    Column("objective_value", Double, nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
    CheckConstraint(f"phase IN ({PHASES_SQL})", name="phase"),
    **MYSQL_TABLE_ARGS,
)

observation_logs = Table(
    "observation_logs",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("trial_id", ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("metric_name", String(METRIC_NAME_LENGTH), nullable=False),
    # A number, or NULL when the value is text (migration 0004: Katib's values are strings, e.g. a genotype).
    Column("value", Double, nullable=True),
    Column("text", JSON_TEXT, nullable=True),  # LONGTEXT on MySQL: a log line may hold up to 1 MiB
    # The time column makes the index serve "ordered by time" and "latest" reads without a sort.
    Index(None, "trial_id", "metric_name", "time"),
    **MYSQL_TABLE_ARGS,
)

algorithm_state = Table(
    "algorithm_state",
    metadata,
    Column("experiment_id", ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True),
    Column("state", JSONText, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_TABLE_ARGS,
)

# The owner lease of an experiment (store.lease): the one controller allowed to drive it, until expires_at.
experiment_leases = Table(
    "experiment_leases",
    metadata,
    Column("experiment_id", ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True),
    Column("owner_id", String(64), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("process_key", String(128), nullable=True),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("renewed_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("holder", String(255), nullable=True),
    **MYSQL_TABLE_ARGS,
)

# Kubernetes objects the server keeps beside the experiments: namespaces and ConfigMaps applied to it (a
# trial template may come from a ConfigMap, as in Katib), and the v1alpha3 form an experiment was created
# in. ``namespace`` is "" for cluster-scoped kinds; ``body`` is the whole object as served.
kube_objects = Table(
    "kube_objects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(63), nullable=False),
    Column("namespace", String(NAME_LENGTH), nullable=False),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("body", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "namespace", "name"),
    **MYSQL_TABLE_ARGS,
)
