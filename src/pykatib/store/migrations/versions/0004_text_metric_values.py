"""Metric values that are not numbers (Katib keeps every value as a string: DARTS reports its genotype).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

An observation holds either a number (``value``) or, when the collector's filter captured text, that text
(``text``, with ``value`` NULL): MIN and MAX skip the text rows as Katib's ParseFloat does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observation_logs") as batch:
        batch.alter_column("value", existing_type=sa.Double(), nullable=True)
        # LONGTEXT on MySQL/MariaDB (TEXT holds 64 KiB; a collected line may hold up to 1 MiB).
        text = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
        batch.add_column(sa.Column("text", text, nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM observation_logs WHERE value IS NULL")
    with op.batch_alter_table("observation_logs") as batch:
        batch.drop_column("text")
        batch.alter_column("value", existing_type=sa.Double(), nullable=False)
