"""Alembic environment: runs on the connection the Store hands over; no alembic.ini, no URL of its own.

The Store opens the connection (and on SQLite the write lock) and passes it as
``config.attributes["connection"]``; see ``pykatib.store._migrate``. To autogenerate a new revision, build the
same Config in code: ``pykatib.store._migrate.alembic_config(connection)`` and call
``alembic.command.revision(cfg, message, autogenerate=True)``.
"""

from __future__ import annotations

from alembic import context

from pykatib.store.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("pykatib's migrations run on a connection passed in config.attributes['connection']")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)

# The caller's transaction (if any) wraps this one; Alembic then leaves the commit to the caller.
with context.begin_transaction():
    context.run_migrations()
