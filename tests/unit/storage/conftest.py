"""A migrated database per test, on SQLite and on PostgreSQL, and small event builders.

Every test taking ``db`` (or ``database_url``) runs once per backend. SQLite gets a file in the
test's temporary folder. PostgreSQL gets a database of its own on the shared server, created
from the ``test`` database's connection and dropped (``WITH (FORCE)``) afterwards; when the
server offers ICU, that database uses an English ICU collation, as most production clusters do,
so any ordering that silently depends on the collation shows up here instead of in production.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests import servers
from tickmesh.core.stamp import Stamper
from tickmesh.model import Fill, Side
from tickmesh.storage import Database

NS = "paper"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]


@pytest.fixture
def stamper() -> Stamper:
    return Stamper.deterministic("storage-test", NS)


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database (no tables) on the backend under test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tickmesh.db'}"
        return
    async with postgres_database() as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.connect()
    await database.migrate()
    yield database
    await database.close()


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh database on the test server for the duration of the block; yields its URL."""
    server_url = servers.require("postgres")
    name = f"tm_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await _create_database(admin, name)
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _create_database(admin: asyncpg.Connection, name: str) -> None:
    try:
        await admin.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        )
    except (
        asyncpg.PostgresSyntaxError,
        asyncpg.FeatureNotSupportedError,
        asyncpg.UndefinedObjectError,
    ):
        await admin.execute(f'CREATE DATABASE "{name}"')  # server without ICU (or before 15)


def _asyncpg_dsn(url: str) -> str:
    """asyncpg takes libpq URLs, not SQLAlchemy ones (``postgresql+asyncpg://``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_fill(
    stamper: Stamper,
    fill_id: str,
    ts: int,
    quantity: str = "1",
    price: str = "100",
    fee: str = "0",
) -> Fill:
    return Fill(
        **stamper(ts, correlation_id=f"sig-{fill_id}"),
        fill_id=fill_id,
        order_id=f"ord-{fill_id}",
        strategy_id="sma-1",
        symbol="BTC-USD",
        side=Side.BUY,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
    )
