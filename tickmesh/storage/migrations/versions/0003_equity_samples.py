"""Equity history: the ``equity_samples`` table of ``tickmesh.storage.schema``.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01

Built from the declaration in the schema module, like 0001. When a later revision changes the
table, copy its current definition into this file first, so 0003 keeps building it as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from tickmesh.storage.schema import metadata

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("equity_samples",)


def upgrade() -> None:
    tables = [metadata.tables[name] for name in TABLES]
    metadata.create_all(bind=op.get_bind(), tables=tables, checkfirst=False)


def downgrade() -> None:
    tables = [metadata.tables[name] for name in TABLES]
    metadata.drop_all(bind=op.get_bind(), tables=tables, checkfirst=False)
