"""API users, refresh tokens and the audit trail: the tables of ``tickmesh.storage.users``.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

Built from the declarations in ``tickmesh.storage.users``, like 0001 from the schema module. When
a later revision changes one of these tables, copy its current definition into this file first,
so 0002 keeps building the tables as they were and the new revision can alter them.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from tickmesh.storage.schema import metadata
from tickmesh.storage.users import TABLES

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    metadata.create_all(bind=op.get_bind(), tables=list(TABLES), checkfirst=False)


def downgrade() -> None:
    metadata.drop_all(bind=op.get_bind(), tables=list(TABLES), checkfirst=False)
