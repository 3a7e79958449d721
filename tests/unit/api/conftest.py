"""The API over a migrated database (a SQLite file; PostgreSQL too for some modules), users of
every role, and a bus that records commands.

Password hashing runs at argon2's cheapest settings here; the production cost is the default of
:class:`ApiSettings`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.unit.storage.conftest import BACKENDS, postgres_database
from tickmesh.api import ApiSettings, create_app
from tickmesh.api.auth import Passwords
from tickmesh.config import SecretSettings, Settings
from tickmesh.model import Command
from tickmesh.storage import Database
from tickmesh.storage.users import Role, UserStore

SECRET = "test-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789ABCDEF"
PASSWORD = "correct horse battery staple"
CHEAP: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}
LOGIN = "/api/v1/token/login"


ON_EVERY_BACKEND = pytest.mark.parametrize("db", BACKENDS, indirect=True)
"""For modules whose answers depend on the database (money, ordering, counts, row locks)."""


@pytest.fixture
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite file; PostgreSQL too where the server is reachable, in modules marked
    with :data:`ON_EVERY_BACKEND`."""
    if getattr(request, "param", "sqlite") == "sqlite":
        async with _migrated(f"sqlite:///{tmp_path / 'tickmesh.db'}") as database:
            yield database
        return
    async with postgres_database() as url, _migrated(url) as database:
        yield database


@asynccontextmanager
async def _migrated(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    try:
        await database.connect()
        await database.migrate()
        yield database
    finally:
        await database.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(secrets=with_key(SECRET), data_dir=str(tmp_path / "data"))


def with_key(secret: str) -> SecretSettings:
    return SecretSettings(api_jwt_secret=SecretStr(secret))


@pytest.fixture
def api_settings() -> ApiSettings:
    return ApiSettings(**CHEAP)


@pytest.fixture
def published() -> list[Command]:
    return []


@pytest.fixture
def app(
    db: Database, settings: Settings, api_settings: ApiSettings, published: list[Command]
) -> FastAPI:
    async def publish(command: Command) -> None:
        published.append(command)

    return create_app(db, settings, api=api_settings, publish_command=publish)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as http:
        yield http


def make_client(app: FastAPI, client: tuple[str, int] = ("127.0.0.1", 123)) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def add_user(db: Database, name: str, role: Role, password: str = PASSWORD) -> None:
    password_hash = Passwords.from_settings(ApiSettings(**CHEAP)).hash(password)
    async with db.transaction() as repo:
        await UserStore(repo.conn).add_user(name, role, password_hash, now=1)


async def login(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await http.post(LOGIN, json={"username": name, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def viewer(db: Database, client: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers of a logged-in viewer."""
    await add_user(db, "vera", Role.VIEWER)
    return bearer((await login(client, "vera"))["access_token"])


@pytest.fixture
async def operator(db: Database, client: httpx.AsyncClient) -> dict[str, str]:
    await add_user(db, "otto", Role.OPERATOR)
    return bearer((await login(client, "otto"))["access_token"])


@pytest.fixture
async def admin(db: Database, client: httpx.AsyncClient) -> dict[str, str]:
    await add_user(db, "ada", Role.ADMIN)
    return bearer((await login(client, "ada"))["access_token"])
