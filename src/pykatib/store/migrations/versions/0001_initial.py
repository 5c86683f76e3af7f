"""Initial schema: experiments, trials, observation_logs, algorithm_state.

Revision ID: 0001
Revises:
Create Date: 2024-06-01

Types are spelled out here rather than imported from pykatib.store.models: a migration describes the
schema as of its revision and must not change when the models do. Names are wrapped in op.f() so the
models' naming convention is not applied to them a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = ("mysql", "mariadb")
MYSQL_TABLE_ARGS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}
PHASES = ("Created", "Running", "Succeeded", "Failed", "Killed", "EarlyStopped", "MetricsUnavailable")


def json_text() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(mysql.LONGTEXT(), *MYSQL)


def timestamp() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL)


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("spec", json_text(), nullable=False),
        sa.Column("status", json_text(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("updated_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("name", "namespace", name=op.f("uq_experiments_name_namespace")),
        **MYSQL_TABLE_ARGS,
    )
    phases = ", ".join(f"'{phase}'" for phase in PHASES)
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("parameter_assignments", json_text(), nullable=False),
        sa.Column("labels", json_text(), nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("start_time", timestamp(), nullable=True),
        sa.Column("completion_time", timestamp(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("work_dir", sa.Text(), nullable=True),
        sa.Column("objective_value", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trials")),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.id"], name=op.f("fk_trials_experiment_id_experiments"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("name", name=op.f("uq_trials_name")),
        sa.CheckConstraint(f"phase IN ({phases})", name=op.f("ck_trials_phase")),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index(op.f("ix_trials_experiment_id"), "trials", ["experiment_id"])
    op.create_table(
        "observation_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("time", timestamp(), nullable=False),
        sa.Column("metric_name", sa.String(255), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation_logs")),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.id"], name=op.f("fk_observation_logs_trial_id_trials"), ondelete="CASCADE"
        ),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index(
        op.f("ix_observation_logs_trial_id_metric_name_time"), "observation_logs", ["trial_id", "metric_name", "time"]
    )
    op.create_table(
        "algorithm_state",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("state", json_text(), nullable=False),
        sa.Column("updated_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_algorithm_state")),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_algorithm_state_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        **MYSQL_TABLE_ARGS,
    )


def downgrade() -> None:
    # Dropping a table drops its indexes (MySQL would refuse to drop an index a foreign key relies on).
    for table in ("algorithm_state", "observation_logs", "trials", "experiments"):
        op.drop_table(table)
