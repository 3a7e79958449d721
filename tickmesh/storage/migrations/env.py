"""Alembic environment: runs on the connection ``Database.migrate()`` hands over.

There is no alembic.ini and no URL here: the connection (already inside a transaction) arrives in
``config.attributes["connection"]``, so migrations run inside tickmesh's event loop and its unit
of work. Batch mode lets later revisions alter SQLite tables.
"""

from __future__ import annotations

from alembic import context

from tickmesh.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "tickmesh migrations run through tickmesh.storage.Database.migrate(), "
        "which supplies the connection; the alembic command line is not configured"
    )
if context.is_offline_mode():
    raise RuntimeError("tickmesh migrations do not support offline (--sql) mode")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
