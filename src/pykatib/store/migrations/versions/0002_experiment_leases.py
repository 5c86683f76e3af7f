"""The owner lease of each experiment: which controller drives it, and until when.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Types are spelled out here (see 0001): a migration describes the schema as of its revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = ("mysql", "mariadb")
MYSQL_TABLE_ARGS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def timestamp() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL)


def upgrade() -> None:
    op.create_table(
        "experiment_leases",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(128), nullable=True),
        sa.Column("acquired_at", timestamp(), nullable=False),
        sa.Column("renewed_at", timestamp(), nullable=False),
        sa.Column("expires_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_experiment_leases")),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_leases_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        **MYSQL_TABLE_ARGS,
    )


def downgrade() -> None:
    op.drop_table("experiment_leases")
