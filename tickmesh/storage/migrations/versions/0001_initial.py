"""Initial schema: every table declared in ``tickmesh.storage.schema``.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

The tables are built from the schema module, which is the one place they are declared. When a
later revision changes a table, copy the table's current definition into this file first, so
0001 keeps building the schema as it was and the new revision can alter it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from tickmesh.storage.schema import metadata

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "sessions",
    "orders",
    "fills",
    "positions",
    "accounts",
    "bars",
    "signals",
    "rejections",
    "risk_state",
    "feed_checkpoints",
)


def upgrade() -> None:
    tables = [metadata.tables[name] for name in TABLES]
    metadata.create_all(bind=op.get_bind(), tables=tables, checkfirst=False)


def downgrade() -> None:
    tables = [metadata.tables[name] for name in TABLES]
    metadata.drop_all(bind=op.get_bind(), tables=tables, checkfirst=False)
