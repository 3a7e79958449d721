"""Transaction-scoped locks that serialise read-modify-write units across processes.

On SQLite a write unit already holds the whole database's write lock (``BEGIN IMMEDIATE``), so
two writers never interleave. PostgreSQL runs units concurrently at READ COMMITTED: two units
folding events into the same order would both read the old row and the later commit would
erase the earlier one's update, and a row that does not exist yet cannot be locked with
``SELECT ... FOR UPDATE``. Advisory locks cover both cases: each unit locks the keys it is about
to read and rewrite, in one global order (so two units cannot deadlock on one call's keys), and
PostgreSQL releases them when the unit commits or rolls back.

Keys are hashed to 32 bits inside a per-purpose scope (the two-integer lock form, a key space of
its own); a collision only makes two unrelated units wait for each other, never unsafe.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_LOCK_KEYS = text(
    "SELECT pg_advisory_xact_lock(:scope, key) FROM unnest(CAST(:keys AS integer[])) AS key"
)


def lock_scope(purpose: str) -> int:
    """The 32-bit lock scope for ``purpose`` (``"orders"``, ``"migrations"``, ...)."""
    return _int32(f"tickmesh:{purpose}")


async def lock_keys(conn: AsyncConnection, purpose: str, keys: Iterable[str]) -> None:
    """Hold ``keys`` of ``purpose`` until the connection's transaction ends (PostgreSQL only;
    elsewhere the transaction's own write lock already serialises writers)."""
    if conn.dialect.name != "postgresql":
        return
    hashed = sorted({_int32(key) for key in keys})
    if hashed:
        await conn.execute(_LOCK_KEYS, {"scope": lock_scope(purpose), "keys": hashed})


def _int32(value: str) -> int:
    unsigned = zlib.crc32(value.encode())
    return unsigned - (1 << 32) if unsigned >= 1 << 31 else unsigned
