"""Logging in, refresh-token rotation and reuse detection, logging out, login throttling."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import select, update

from tickmesh.api.auth import refresh_hash
from tickmesh.storage import Database
from tickmesh.storage.users import Role, UserStore, refresh_tokens, users

from .conftest import LOGIN, ON_EVERY_BACKEND, PASSWORD, add_user, bearer, login, make_client

REFRESH = "/api/v1/token/refresh"
LOGOUT = "/api/v1/token/logout"


@pytest.fixture
async def vera(db: Database) -> None:
    await add_user(db, "vera", Role.VIEWER)


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def test_login_with_json_returns_bearer_pair_marked_no_store(
    client: httpx.AsyncClient, vera: None
) -> None:
    response = await client.post(LOGIN, json={"username": "vera", "password": PASSWORD})

    body = response.json()
    assert response.status_code == 200
    assert (body["token_type"], body["expires_in"]) == ("bearer", 900)
    assert body["refresh_token"]
    assert body["access_token"].count(".") == 2
    assert response.headers["Cache-Control"] == "no-store"
    assert (await client.get("/api/v1/version", headers=bearer(body["access_token"]))).is_success


async def test_login_with_oauth2_form_returns_tokens(client: httpx.AsyncClient, vera: None) -> None:
    form = {"grant_type": "password", "username": "vera", "password": PASSWORD, "scope": ""}

    response = await client.post(LOGIN, data=form)

    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


async def test_login_name_is_case_insensitive(client: httpx.AsyncClient, vera: None) -> None:
    response = await client.post(LOGIN, json={"username": " Vera", "password": PASSWORD})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("username", "password"),
    [("vera", "wrong password here"), ("nobody", PASSWORD), ("not a name!", PASSWORD)],
)
async def test_login_with_bad_credentials_is_401_without_saying_which_part(
    client: httpx.AsyncClient, vera: None, username: str, password: str
) -> None:
    response = await client.post(LOGIN, json={"username": username, "password": password})

    assert response.status_code == 401
    assert response.json() == {"detail": "invalid username or password"}


async def test_login_of_disabled_user_is_401(
    db: Database, client: httpx.AsyncClient, vera: None
) -> None:
    async with db.transaction() as repo:
        await UserStore(repo.conn).disable_user("vera", now=5)

    response = await client.post(LOGIN, json={"username": "vera", "password": PASSWORD})

    assert response.status_code == 401


async def test_login_with_other_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, content=b"vera:pw", headers={"Content-Type": "text/plain"})

    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


async def test_login_with_broken_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        LOGIN, content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400


async def test_login_validation_error_names_field_and_does_not_echo_password(
    client: httpx.AsyncClient,
) -> None:
    secret = "s3cret-" * 200

    response = await client.post(LOGIN, json={"username": "vera", "password": secret})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]
    assert "s3cret" not in response.text


@ON_EVERY_BACKEND
async def test_login_rehashes_password_made_with_other_costs(
    db: Database, client: httpx.AsyncClient
) -> None:
    old_hash = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash(PASSWORD)
    async with db.transaction() as repo:
        await UserStore(repo.conn).add_user("vera", Role.VIEWER, old_hash, now=1)

    await login(client, "vera")

    async with db.reader() as repo:
        stored = (await repo.conn.execute(select(users.c.password_hash))).scalar_one()
    assert stored != old_hash
    assert "m=1024,t=1,p=1" in stored


# --- throttling -------------------------------------------------------------------------------


async def fail_logins(client: httpx.AsyncClient, name: str, times: int) -> list[int]:
    body = {"username": name, "password": "not the password"}
    return [(await client.post(LOGIN, json=body)).status_code for _ in range(times)]


async def test_sixth_failed_login_in_a_minute_is_429_with_retry_after(
    client: httpx.AsyncClient, vera: None
) -> None:
    codes = await fail_logins(client, "vera", 5)

    response = await client.post(LOGIN, json={"username": "vera", "password": PASSWORD})

    assert codes == [401] * 5
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "retry in" in response.json()["detail"]


async def test_throttle_is_per_client_and_per_username(
    app: FastAPI, client: httpx.AsyncClient, db: Database, vera: None
) -> None:
    await add_user(db, "otto", Role.OPERATOR)
    await fail_logins(client, "vera", 5)

    async with make_client(app, client=("10.0.0.9", 5000)) as elsewhere:
        from_elsewhere = await elsewhere.post(
            LOGIN, json={"username": "vera", "password": PASSWORD}
        )
    other_user = await client.post(LOGIN, json={"username": "otto", "password": PASSWORD})

    assert from_elsewhere.status_code == 200
    assert other_user.status_code == 200


async def test_successful_login_resets_the_failure_count(
    client: httpx.AsyncClient, vera: None
) -> None:
    await fail_logins(client, "vera", 4)
    await login(client, "vera")

    codes = await fail_logins(client, "vera", 5)

    assert codes == [401] * 5


# --- refresh tokens ---------------------------------------------------------------------------


@ON_EVERY_BACKEND
async def test_refresh_returns_new_pair_that_works(client: httpx.AsyncClient, vera: None) -> None:
    first = await login(client, "vera")

    response = await refresh(client, first["refresh_token"])

    second = response.json()
    assert response.status_code == 200
    assert second["refresh_token"] != first["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    assert (await client.get("/api/v1/version", headers=bearer(second["access_token"]))).is_success


async def test_refresh_accepts_form_body(client: httpx.AsyncClient, vera: None) -> None:
    pair = await login(client, "vera")

    response = await client.post(REFRESH, data={"refresh_token": pair["refresh_token"]})

    assert response.status_code == 200


@ON_EVERY_BACKEND
async def test_reusing_rotated_refresh_token_revokes_the_whole_family(
    db: Database, client: httpx.AsyncClient, vera: None
) -> None:
    original = (await login(client, "vera"))["refresh_token"]
    rotated = (await refresh(client, original)).json()["refresh_token"]

    reuse = await refresh(client, original)
    after = await refresh(client, rotated)

    assert reuse.status_code == 401
    assert "already used" in reuse.json()["detail"]
    assert after.status_code == 401
    assert "revoked" in after.json()["detail"]
    async with db.reader() as repo:
        rows = (await repo.conn.execute(select(refresh_tokens.c.revoked_at))).all()
    assert len(rows) == 2
    assert all(row.revoked_at is not None for row in rows)


async def test_reuse_leaves_other_logins_of_the_user_alone(
    client: httpx.AsyncClient, vera: None
) -> None:
    stolen = (await login(client, "vera"))["refresh_token"]
    other_device = (await login(client, "vera"))["refresh_token"]
    await refresh(client, stolen)
    await refresh(client, stolen)

    response = await refresh(client, other_device)

    assert response.status_code == 200


@ON_EVERY_BACKEND
async def test_concurrent_rotations_of_one_token_let_exactly_one_through(
    client: httpx.AsyncClient, vera: None
) -> None:
    token = (await login(client, "vera"))["refresh_token"]

    responses = await asyncio.gather(*(refresh(client, token) for _ in range(4)))

    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401]


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await refresh(client, "made-up-token")

    assert response.status_code == 401
    assert "not recognised" in response.json()["detail"]


async def test_expired_refresh_token_is_401(
    db: Database, client: httpx.AsyncClient, vera: None
) -> None:
    token = (await login(client, "vera"))["refresh_token"]
    async with db.transaction() as repo:
        await repo.conn.execute(update(refresh_tokens).values(expires_at=1))

    response = await refresh(client, token)

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_refresh_for_user_disabled_since_login_is_401(
    db: Database, client: httpx.AsyncClient, vera: None
) -> None:
    token = (await login(client, "vera"))["refresh_token"]
    async with db.transaction() as repo:
        await UserStore(repo.conn).disable_user("vera", now=5)

    response = await refresh(client, token)

    assert response.status_code == 401


async def test_refresh_token_is_stored_only_as_its_hash(
    db: Database, client: httpx.AsyncClient, vera: None
) -> None:
    token = (await login(client, "vera"))["refresh_token"]

    async with db.reader() as repo:
        stored = (await repo.conn.execute(select(refresh_tokens.c.token_hash))).scalar_one()

    assert stored == refresh_hash(token)
    assert stored != token


async def test_logout_revokes_the_login_so_refresh_is_refused(
    client: httpx.AsyncClient, vera: None
) -> None:
    token = (await login(client, "vera"))["refresh_token"]

    response = await client.post(LOGOUT, json={"refresh_token": token})

    assert response.status_code == 204
    assert (await refresh(client, token)).status_code == 401


async def test_logout_with_unknown_token_changes_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGOUT, json={"refresh_token": "made-up"})

    assert response.status_code == 204
