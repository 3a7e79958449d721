"""The app as a whole: liveness and readiness, refusing to start without a signing key, CORS
closed unless configured, docs served."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tickmesh.api import ApiSettings, create_app
from tickmesh.config import Settings
from tickmesh.core.errors import ConfigError
from tickmesh.storage import Database
from tickmesh.storage.users import Role

from .conftest import CHEAP, add_user, login, make_client, with_key


async def test_health_answers_without_auth(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_when_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_ready_is_503_when_database_is_closed(
    db: Database, client: httpx.AsyncClient
) -> None:
    await db.close()

    response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "detail": "database: database is closed"}


async def test_ready_is_503_when_database_file_cannot_be_opened(
    tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "tickmesh.db"
    async with Database(f"sqlite:///{path}") as unreachable:
        path.mkdir()  # the engine connects lazily; the first connection finds a folder
        app = create_app(unreachable, settings, api=ApiSettings(**CHEAP))
        async with make_client(app) as client:
            response = await client.get("/ready")
    _join_stopped_sqlite_threads()

    assert response.status_code == 503
    assert response.json()["detail"].startswith("database: OperationalError")


def _join_stopped_sqlite_threads() -> None:
    """aiosqlite stops the worker thread of a failed connection without waiting for it; let it
    finish while this test's event loop still runs, so it cannot call back into a closed loop."""
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            thread.join(timeout=1.0)


async def test_ready_is_503_when_database_is_not_migrated(
    tmp_path: Path, settings: Settings
) -> None:
    async with Database(f"sqlite:///{tmp_path / 'empty.db'}") as empty:
        app = create_app(empty, settings, api=ApiSettings(**CHEAP))
        async with make_client(app) as client:
            response = await client.get("/ready")

    assert response.status_code == 503
    assert "no such table: users" in response.json()["detail"]


async def test_read_endpoint_is_503_with_reason_when_database_is_closed(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    await db.close()

    response = await client.get("/api/v1/fills", headers=viewer)

    assert response.status_code == 503
    assert "database unavailable" in response.json()["detail"]


def test_app_without_signing_key_refuses_to_start(db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))

    with pytest.raises(ConfigError, match="TICKMESH_SECRETS__API_JWT_SECRET"):
        create_app(db, settings, api=ApiSettings(**CHEAP))


def test_app_with_short_signing_key_refuses_to_start_without_showing_it(
    db: Database, tmp_path: Path
) -> None:
    settings = Settings(data_dir=str(tmp_path), secrets=with_key("hunter2"))

    with pytest.raises(ConfigError, match="at least 32") as caught:
        create_app(db, settings, api=ApiSettings(**CHEAP))

    assert "hunter2" not in str(caught.value)


async def test_dev_flag_signs_with_a_random_key_per_process(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=str(tmp_path))
    api = ApiSettings(**CHEAP, dev_random_secret=True)
    await add_user(db, "vera", Role.VIEWER)
    with caplog.at_level(logging.WARNING):
        first, second = create_app(db, settings, api=api), create_app(db, settings, api=api)

    async with make_client(first) as one, make_client(second) as other:
        token = (await login(one, "vera"))["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        same_app = await one.get("/api/v1/version", headers=headers)
        other_app = await other.get("/api/v1/version", headers=headers)

    assert (same_app.status_code, other_app.status_code) == (200, 401)
    assert "random key for this process" in caplog.text


async def test_cors_is_closed_by_default(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/version",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )

    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_only_configured_origins(db: Database, settings: Settings) -> None:
    api = ApiSettings(**CHEAP, cors_origins=["https://dash.example"])
    app = create_app(db, settings, api=api)
    preflight = {"Access-Control-Request-Method": "GET"}

    async with make_client(app) as client:
        allowed = await client.options(
            "/api/v1/version", headers={"Origin": "https://dash.example", **preflight}
        )
        refused = await client.options(
            "/api/v1/version", headers={"Origin": "https://evil.example", **preflight}
        )

    assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("origin", ["*", "dash.example", "https://dash.example/"])
def test_cors_origin_must_be_explicit(origin: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        ApiSettings(cors_origins=[origin])


async def test_docs_and_openapi_are_served(app: FastAPI, client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    schema = (await client.get("/openapi.json")).json()

    assert docs.status_code == 200
    assert "/api/v1/fills" in schema["paths"]
    assert {p["name"] for p in schema["paths"]["/api/v1/fills"]["get"]["parameters"]} >= {
        "limit", "offset", "sort", "from", "to", "namespace", "symbol",
    }  # fmt: skip
