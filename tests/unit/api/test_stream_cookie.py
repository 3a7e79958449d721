"""The stream cookie: set with a bearer token, sent by the browser only to the stream's path;
refused anywhere as a bearer token, and an access token is refused in its place. Refusals and
attributes go through the app in process; streams the cookie opens are in test_stream.py."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi import FastAPI

from tickmesh.api.stream import COOKIE_NAME, StreamState, install
from tickmesh.services.hub import StreamHub
from tickmesh.storage.users import Role

from .conftest import bearer

COOKIE = "/api/v1/stream/cookie"
STREAM = "/api/v1/stream"
PORTFOLIO = "/api/v1/portfolio"


def _morsel(response: httpx.Response) -> dict[str, str | bool]:
    """The attributes of the stream cookie the response sets, lower-case names."""
    jar: SimpleCookie = SimpleCookie()
    jar.load(response.headers["set-cookie"])
    morsel = jar[COOKIE_NAME]
    return {key: morsel[key] for key in morsel if morsel[key]} | {"value": morsel.value}


def _cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={value}"}


def _state(app: FastAPI) -> StreamState:
    state: StreamState = app.state.tickmesh_stream
    return state


@pytest.fixture
async def local(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process (no server) with the stream installed, over https."""
    install(app, StreamHub())
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


# --- refusals -----------------------------------------------------------------------------------


async def test_an_expired_cookie_is_refused_with_the_reason(
    app: FastAPI, local: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    old = _state(app).cookies.issue("vera", Role.VIEWER, int(time.time()) - 3600)

    response = await local.get(STREAM, headers=_cookie(old))

    assert response.status_code == 401
    assert response.json()["detail"] == (
        "stream cookie refused (token expired); get a new one from POST /api/v1/stream/cookie"
    )


async def test_a_tampered_cookie_is_refused_with_the_reason(
    local: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    value = str(_morsel(await local.post(COOKIE, headers=viewer))["value"])
    tampered = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")

    response = await local.get(STREAM, headers=_cookie(tampered))

    assert response.status_code == 401
    assert "token signature does not verify" in response.json()["detail"]


async def test_an_access_token_in_the_cookie_is_refused(
    local: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    access_token = viewer["Authorization"].removeprefix("Bearer ")

    response = await local.get(STREAM, headers=_cookie(access_token))

    assert response.status_code == 401
    assert "token audience not accepted" in response.json()["detail"]


async def test_the_stream_cookie_is_refused_as_a_bearer_token(
    local: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    value = str(_morsel(await local.post(COOKIE, headers=viewer))["value"])

    response = await local.get(PORTFOLIO, headers=bearer(value))

    assert response.status_code == 401
    assert response.json() == {"detail": "token audience not accepted"}


async def test_a_cookie_needs_an_access_token(local: httpx.AsyncClient) -> None:
    response = await local.post(COOKIE)

    assert response.status_code == 401
    assert "set-cookie" not in response.headers


# --- where the browser sends it -----------------------------------------------------------------


async def test_the_cookie_is_http_only_strict_secure_and_scoped_to_the_stream_path(
    local: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    response = await local.post(COOKIE, headers=viewer)

    attributes = _morsel(response)
    assert attributes["path"] == STREAM
    assert attributes["httponly"] is True
    assert attributes["secure"] is True
    assert str(attributes["samesite"]).lower() == "strict"
    assert attributes["max-age"] == "300"


async def test_the_cookie_is_not_secure_over_plain_http(
    client: httpx.AsyncClient, app: FastAPI, viewer: dict[str, str]
) -> None:
    install(app, StreamHub())

    response = await client.post(COOKIE, headers=viewer)

    assert "secure" not in _morsel(response)


async def test_the_cookie_goes_to_the_stream_path_only(
    local: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    sent: dict[str, str | None] = {}

    async def record(request: httpx.Request) -> None:
        sent[request.url.path] = request.headers.get("cookie")

    await local.post(COOKIE, headers=viewer)
    local.event_hooks["request"].append(record)

    await local.get(PORTFOLIO, headers=viewer)
    await local.post("/api/v1/stream/ticket", headers=viewer)

    assert sent[PORTFOLIO] is None
    assert str(sent["/api/v1/stream/ticket"]).startswith(f"{COOKIE_NAME}=")


async def test_deleting_the_cookie_expires_it_on_the_same_path(
    local: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    await local.post(COOKIE, headers=viewer)

    response = await local.delete(COOKIE)

    attributes = _morsel(response)
    assert response.status_code == 204
    assert (attributes["path"], attributes["max-age"], attributes["value"]) == (STREAM, "0", "")
    assert COOKIE_NAME not in local.cookies
