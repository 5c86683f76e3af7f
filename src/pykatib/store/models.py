"""The store's tables as typed SQLAlchemy declarative models.

The Store reads and writes these tables with Core statements (``Model.__table__``), so the ORM classes
serve as the typed schema definition and as ``target_metadata`` for future Alembic autogenerate runs.
The schema itself is created by ``migrations/versions``; a test checks that the migrations and these
models agree on every backend.

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
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pykatib.store.records import TrialPhase

# Named constraints let later migrations drop or alter them by name on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

NAME_LENGTH = 253  # a Kubernetes object name (Katib's experiment and trial names are such names)
METRIC_NAME_LENGTH = 255
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
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("name", "namespace"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    namespace: Mapped[str] = mapped_column(String(NAME_LENGTH))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONText)
    status: Mapped[dict[str, Any]] = mapped_column(JSONText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


PHASES_SQL = ", ".join(f"'{phase.value}'" for phase in TrialPhase)


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (
        CheckConstraint(f"phase IN ({PHASES_SQL})", name="phase"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    parameter_assignments: Mapped[dict[str, str]] = mapped_column(JSONText)
    labels: Mapped[dict[str, str]] = mapped_column(JSONText)
    phase: Mapped[str] = mapped_column(String(PHASE_LENGTH))
    reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completion_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    pid: Mapped[int | None] = mapped_column(Integer)
    work_dir: Mapped[str | None] = mapped_column(Text)
    objective_value: Mapped[float | None] = mapped_column(Double)


class ObservationLog(Base):
    __tablename__ = "observation_logs"
    __table_args__ = (
        # The time column makes the index serve "ordered by time" and "latest" reads without a sort.
        Index(None, "trial_id", "metric_name", "time"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    metric_name: Mapped[str] = mapped_column(String(METRIC_NAME_LENGTH))
    value: Mapped[float] = mapped_column(Double)


class AlgorithmState(Base):
    __tablename__ = "algorithm_state"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONText)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Core handles for the Store's statements (typed as Table, which __table__ is at runtime).
experiments = cast(Table, Experiment.__table__)
trials = cast(Table, Trial.__table__)
observation_logs = cast(Table, ObservationLog.__table__)
algorithm_state = cast(Table, AlgorithmState.__table__)
