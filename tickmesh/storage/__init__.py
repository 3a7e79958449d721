"""SQL storage: SQLite by default, PostgreSQL with ``pip install 'tickmesh[postgres]'``.

``Database(url)`` connects and migrates; ``async with db.transaction() as repo`` is one unit of
work whose writes are idempotent, so redelivered events change nothing.

The snapshot cache (latest portfolio, positions, market snapshot, heartbeats) is in-process by
default and Redis with ``pip install 'tickmesh[redis]'``: ``open_cache(url, prefix)``.
"""

from tickmesh.model.position import PositionLike
from tickmesh.storage.cache import Cache, CacheKeys, MemoryCache, RedisCache, open_cache
from tickmesh.storage.db import Database, normalize_url
from tickmesh.storage.records import (
    Account,
    Checkpoint,
    EquitySample,
    OrderRecord,
    OrderStatus,
    SessionRecord,
    SessionStatus,
    StoredPosition,
    StoredRiskState,
)
from tickmesh.storage.repositories import Repository
from tickmesh.storage.users import Role, User, UserStore

__all__ = [
    "Account",
    "Cache",
    "CacheKeys",
    "Checkpoint",
    "Database",
    "EquitySample",
    "MemoryCache",
    "OrderRecord",
    "OrderStatus",
    "PositionLike",
    "RedisCache",
    "Repository",
    "Role",
    "SessionRecord",
    "SessionStatus",
    "StoredPosition",
    "StoredRiskState",
    "User",
    "UserStore",
    "normalize_url",
    "open_cache",
]
