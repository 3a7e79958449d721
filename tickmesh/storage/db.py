"""The database handle: URL checks, connection setup, migrations and units of work.

SQLite (the default) runs through aiosqlite with WAL and foreign keys on, and with transactions
begun explicitly so a unit of work (DDL included) commits or rolls back as a whole; write units
take the write lock up front (``BEGIN IMMEDIATE``) so two concurrent writers queue instead of
failing on a stale snapshot. PostgreSQL runs through asyncpg, an optional install; its units
run concurrently at READ COMMITTED, and the few that read before they write take advisory locks
(:mod:`tickmesh.storage.locks`), as do migrations, so two processes starting at once against a
fresh database do not both try to create the tables.
"""

from __future__ import annotations

import importlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from tickmesh.core.errors import ConfigError
from tickmesh.storage.locks import lock_keys
from tickmesh.storage.repositories import Repository

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
_BEGIN_MODE = "tickmesh_sqlite_begin"
_BUSY_TIMEOUT_MS = 30_000
# libpq's sslmode values, which asyncpg takes as its ``ssl`` argument.
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# URL query options the asyncpg dialect passes through correctly (``host`` names a socket folder).
_POSTGRES_OPTIONS = ("host", "prepared_statement_cache_size", "ssl", "sslmode")


def normalize_url(url: str) -> URL:
    """The async SQLAlchemy URL for ``url``; anything unusable raises :class:`ConfigError`."""
    parsed = _parse(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(
            f"database url: unsupported scheme {parsed.drivername!r} in "
            f"{_shown(parsed)!r}; use sqlite:///path/to/file.db or postgresql://user@host/db"
        )
    parsed = parsed.set(drivername=driver)
    if driver.startswith("postgresql"):
        _require_asyncpg(parsed)
        parsed = _postgres_options(parsed)
    elif not _is_memory(parsed):
        parsed = parsed.set(database=str(Path(str(parsed.database)).expanduser()))
    return parsed


def _parse(url: str) -> URL:
    if not url.strip():
        raise ConfigError("database url is empty; use sqlite:///path/to/file.db")
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"database url is not a valid URL ({exc}); use sqlite:///path/to/file.db "
            "or postgresql://user@host/db"
        ) from None


def _require_asyncpg(url: URL) -> None:
    if not url.database:
        raise ConfigError(f"database url {_shown(url)!r} names no database")
    try:
        importlib.import_module("asyncpg")
    except ImportError:
        raise ConfigError(
            "database url: PostgreSQL needs the asyncpg driver, which is not installed; "
            "run: pip install 'tickmesh[postgres]'"
        ) from None


def _postgres_options(url: URL) -> URL:
    """Check the query options; libpq's ``sslmode`` becomes asyncpg's ``ssl``, since asyncpg
    would otherwise fail at the first connection on an argument it does not know."""
    unknown = sorted(set(url.query) - set(_POSTGRES_OPTIONS))
    if unknown:
        raise ConfigError(
            f"database url {_shown(url)!r}: unsupported option(s) {', '.join(unknown)}; "
            f"PostgreSQL urls accept {', '.join(_POSTGRES_OPTIONS)}"
        )
    modes = [url.query[name] for name in ("ssl", "sslmode") if name in url.query]
    if not modes:
        return url
    if len(modes) > 1:
        raise ConfigError(f"database url {_shown(url)!r}: give ssl or sslmode, not both")
    mode = modes[0]
    if mode not in _SSL_MODES:
        raise ConfigError(
            f"database url {_shown(url)!r}: ssl mode {mode!r} is not one of {', '.join(_SSL_MODES)}"
        )
    return url.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code (no alembic.ini) pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


class Database:
    """One database, many units of work: ``async with db.transaction() as repo: ...``."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self._echo = echo
        self._engine: AsyncEngine | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("Database is not connected; await db.connect() first")
        return self._engine

    async def connect(self) -> None:
        """Create the engine (and a SQLite file's folder); safe to call twice."""
        if self._engine is not None:
            return
        if self.is_sqlite:
            self._engine = self._sqlite_engine()
        else:
            self._engine = create_async_engine(self.url, echo=self._echo, pool_pre_ping=True)

    def _sqlite_engine(self) -> AsyncEngine:
        options: dict[str, Any] = {"echo": self._echo}
        if _is_memory(self.url):
            options["poolclass"] = StaticPool
        else:
            Path(str(self.url.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(self.url, **options)
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
        return engine

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (the newest by default); running it again changes
        nothing, and concurrent callers (other processes included) migrate one after another."""
        async with self._migration_unit() as conn:
            await conn.run_sync(_upgrade, revision)

    async def downgrade(self, revision: str) -> None:
        """Take the schema back to ``revision`` (``"base"`` drops every table and its data)."""
        async with self._migration_unit() as conn:
            await conn.run_sync(_downgrade, revision)

    @asynccontextmanager
    async def _migration_unit(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            await conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
            async with conn.begin():
                await lock_keys(conn, "migrations", ["schema"])
                yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repository]:
        """One unit of work: everything done through the repository commits together, or,
        if the block raises, none of it does."""
        async with self.engine.connect() as conn:
            await conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
            async with conn.begin():
                yield Repository(conn)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Repository]:
        """A read-only unit of work that does not hold the SQLite write lock."""
        async with self.engine.connect() as conn, conn.begin():
            yield Repository(conn)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        _use_wal(cursor)
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL once (the mode is stored in the file). The switch needs the file to
    itself: while another connection of a fresh file holds a transaction SQLite answers "locked"
    at once, whatever the busy timeout, so it is retried until that transaction ends."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _begin_sqlite_transaction(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_MODE, "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())
