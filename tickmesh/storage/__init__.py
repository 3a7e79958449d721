
"""SQL storage: SQLite by default, PostgreSQL with ``pip install 'tickmesh[postgres]'``.

``Database(url)`` connects and migrates; ``async with db.transaction() as repo`` is one unit of
work whose writes are idempotent, so redelivered events change nothing.
"""

from tickmesh.model.position import PositionLike
from tickmesh.storage.db import Database, normalize_url
from tickmesh.storage.records import (
    Account,
    Checkpoint,
    OrderRecord,
    OrderStatus,
    SessionRecord,
    SessionStatus,
    StoredPosition,
    StoredRiskState,
)
from tickmesh.storage.repositories import Repository

__all__ = [
    "Account",
    "Checkpoint",
    "Database",
    "OrderRecord",
    "OrderStatus",
    "PositionLike",
    "Repository",
    "SessionRecord",
    "SessionStatus",
    "StoredPosition",
    "StoredRiskState",
    "normalize_url",
]
