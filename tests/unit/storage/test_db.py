"""Connecting, migrating, URL handling and units of work, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, text

from tests import servers
from tickmesh.core.errors import ConfigError
from tickmesh.core.stamp import Stamper
from tickmesh.storage import Database, normalize_url
from tickmesh.storage.schema import metadata

from .conftest import NS, make_fill

REVISION = "0003"

EXPECTED_TABLES = {
    "users",
    "refresh_tokens",
    "audit",
    "sessions",
    "orders",
    "fills",
    "positions",
    "accounts",
    "bars",
    "equity_samples",
    "signals",
    "rejections",
    "risk_state",
    "feed_checkpoints",
}


async def _table_names(db: Database) -> set[str]:
    async with db.reader() as repo:
        return set(await repo.conn.run_sync(lambda conn: inspect(conn).get_table_names()))


async def _scalar(db: Database, sql: str) -> object:
    async with db.reader() as repo:
        return (await repo.conn.execute(text(sql))).scalar_one()


async def test_migrate_fresh_database_creates_every_table(db: Database) -> None:
    tables = await _table_names(db)

    assert tables == EXPECTED_TABLES | {"alembic_version"}
    assert set(metadata.tables) == EXPECTED_TABLES


async def test_migrate_twice_keeps_schema_and_data(db: Database, stamper: Stamper) -> None:
    async with db.transaction() as repo:
        await repo.add_fills([make_fill(stamper, "f1", 10)], NS)

    await db.migrate()

    async with db.reader() as repo:
        assert [fill.fill_id for fill in await repo.load_fills(NS)] == ["f1"]
    assert await _scalar(db, "SELECT version_num FROM alembic_version") == REVISION


async def _schema_differences(db: Database) -> list[object]:
    """What ``alembic revision --autogenerate`` would emit to make the database match schema.py."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def diff(conn: Connection) -> list[object]:
        differences: list[object] = compare_metadata(MigrationContext.configure(conn), metadata)
        return differences

    async with db.reader() as repo:
        return await repo.conn.run_sync(diff)


async def test_migrated_schema_matches_declared_metadata(db: Database) -> None:
    differences = await _schema_differences(db)

    assert differences == []


async def test_upgrade_downgrade_to_base_upgrade_again_leaves_matching_empty_schema(
    db: Database, stamper: Stamper
) -> None:
    async with db.transaction() as repo:
        await repo.add_fills([make_fill(stamper, "f1", 10)], NS)

    await db.downgrade("base")
    tables_at_base = await _table_names(db)
    version_rows_at_base = await _scalar(db, "SELECT count(*) FROM alembic_version")
    await db.migrate()

    assert tables_at_base == {"alembic_version"}
    assert version_rows_at_base == 0
    assert await _table_names(db) == EXPECTED_TABLES | {"alembic_version"}
    assert await _scalar(db, "SELECT version_num FROM alembic_version") == REVISION
    assert await _schema_differences(db) == []
    async with db.reader() as repo:
        assert await repo.load_fills(NS) == []


async def test_migrate_to_named_revision_then_head_is_the_same_schema(database_url: str) -> None:
    async with Database(database_url) as database:
        await database.migrate(REVISION)
        await database.migrate()

        assert await _scalar(database, "SELECT version_num FROM alembic_version") == REVISION
        assert await _schema_differences(database) == []


async def test_concurrent_migrations_of_fresh_database_all_succeed(database_url: str) -> None:
    databases = [Database(database_url) for _ in range(3)]
    for database in databases:
        await database.connect()

    try:
        await asyncio.gather(*(database.migrate() for database in databases))
        tables = await _table_names(databases[0])
        version = await _scalar(databases[0], "SELECT version_num FROM alembic_version")
    finally:
        for database in databases:
            await database.close()

    assert tables == EXPECTED_TABLES | {"alembic_version"}
    assert version == REVISION


async def test_fills_index_by_namespace_and_time_exists(db: Database) -> None:
    async with db.reader() as repo:
        indexes = await repo.conn.run_sync(lambda conn: inspect(conn).get_indexes("fills"))

    assert ["namespace", "ts_event"] in [index["column_names"] for index in indexes]


async def test_connect_sqlite_file_enables_wal_and_foreign_keys(tmp_path: Path) -> None:
    async with Database(f"sqlite:///{tmp_path / 'wal.db'}") as database:
        journal_mode = await _scalar(database, "PRAGMA journal_mode")
        foreign_keys = await _scalar(database, "PRAGMA foreign_keys")

    assert (journal_mode, foreign_keys) == ("wal", 1)


async def test_connect_missing_parent_folder_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.db"

    async with Database(f"sqlite:///{path}") as database:
        await database.migrate()

    assert path.exists()


async def test_in_memory_database_migrates_and_keeps_state_across_units(stamper: Stamper) -> None:
    async with Database("sqlite:///:memory:") as database:
        await database.migrate()
        async with database.transaction() as repo:
            await repo.add_fills([make_fill(stamper, "f1", 1)], NS)
        async with database.reader() as repo:
            fills = await repo.load_fills(NS)

    assert [fill.fill_id for fill in fills] == ["f1"]


async def test_transaction_raising_midway_leaves_nothing(db: Database, stamper: Stamper) -> None:
    fills = [make_fill(stamper, "f1", 1), make_fill(stamper, "f2", 2)]

    async def write_then_fail() -> None:
        async with db.transaction() as repo:
            await repo.add_fills(fills, NS)
            await repo.set_checkpoint("replay", "42", 2)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await write_then_fail()

    async with db.reader() as repo:
        assert await repo.load_fills(NS) == []
        assert await repo.get_checkpoint("replay") is None


async def test_transaction_completing_commits_everything(db: Database, stamper: Stamper) -> None:
    async with db.transaction() as repo:
        await repo.add_fills([make_fill(stamper, "f1", 1)], NS)
        await repo.set_checkpoint("replay", "42", 2)

    async with db.reader() as repo:
        assert len(await repo.load_fills(NS)) == 1
        assert (await repo.get_checkpoint("replay")) is not None


async def test_fill_with_unknown_session_violates_foreign_key(
    db: Database, stamper: Stamper
) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        async with db.transaction() as repo:
            await repo.add_fills([make_fill(stamper, "f1", 1)], NS, session_id="nope")


async def test_use_before_connect_says_to_connect(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")

    with pytest.raises(RuntimeError, match="connect"):
        await database.migrate()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///data/x.db", "sqlite+aiosqlite"),
        ("sqlite:///:memory:", "sqlite+aiosqlite"),
    ],
)
def test_normalize_url_sqlite_forms_use_aiosqlite(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("not a url", "not a valid URL"),
        ("mysql://u@h/db", "unsupported scheme 'mysql'"),
        ("redis://localhost:6379/0", "unsupported scheme 'redis'"),
    ],
)
def test_bad_url_raises_config_error_saying_why(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Database(url)


def test_unsupported_url_error_hides_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Database("mysql://user:hunter2@host/db")

    assert "hunter2" not in str(caught.value)


def test_postgres_url_without_asyncpg_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # what an absent package looks like

    with pytest.raises(ConfigError, match=r"pip install 'tickmesh\[postgres\]'"):
        Database("postgresql://user@localhost/tickmesh")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user@localhost:5432/tickmesh",
        "postgres://user@localhost/tickmesh",
        "postgresql+asyncpg://user@localhost/tickmesh",
    ],
)
def test_postgres_url_forms_use_asyncpg(url: str) -> None:
    assert normalize_url(url).drivername == "postgresql+asyncpg"


def test_postgres_url_keeps_host_port_user_and_database() -> None:
    url = normalize_url("postgresql://trader:secret@db.internal:6543/ledger")

    assert (url.host, url.port, url.username, url.password, url.database) == (
        "db.internal",
        6543,
        "trader",
        "secret",
        "ledger",
    )


def test_postgres_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    url = normalize_url("postgresql://user@localhost/tickmesh?sslmode=verify-full")

    assert dict(url.query) == {"ssl": "verify-full"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://user@localhost", "names no database"),
        ("postgresql://user@localhost/db?application_name=x", "unsupported option"),
        ("postgresql://user@localhost/db?sslmode=sometimes", "ssl mode 'sometimes'"),
        ("postgresql://user@localhost/db?ssl=require&sslmode=require", "not both"),
    ],
)
def test_bad_postgres_url_raises_config_error_saying_why(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Database(url)


@pytest.mark.integration
async def test_postgres_url_with_libpq_sslmode_connects() -> None:
    url = servers.require("postgres")

    async with Database(f"{url}?sslmode=disable") as database:
        one = await _scalar(database, "SELECT 1")

    assert one == 1
