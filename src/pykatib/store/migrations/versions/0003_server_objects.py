"""What the server needs: trials' updated_at (resourceVersion), the lease holder's name, kube_objects.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Types are spelled out here (see 0001): a migration describes the schema as of its revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = ("mysql", "mariadb")
MYSQL_TABLE_ARGS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def json_text() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(mysql.LONGTEXT(), *MYSQL)


def timestamp() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *MYSQL)


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("updated_at", timestamp(), nullable=True))
    with op.batch_alter_table("experiment_leases") as batch:
        batch.add_column(sa.Column("holder", sa.String(255), nullable=True))
    op.create_table(
        "kube_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("body", json_text(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("updated_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kube_objects")),
        sa.UniqueConstraint("kind", "namespace", "name", name=op.f("uq_kube_objects_kind_namespace_name")),
        **MYSQL_TABLE_ARGS,
    )


def downgrade() -> None:
    op.drop_table("kube_objects")
    with op.batch_alter_table("experiment_leases") as batch:
        batch.drop_column("holder")
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("updated_at")
