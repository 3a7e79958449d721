"""Access tokens: every forged, stale or foreign token is refused with 401 and a reason.

Each attack differs from a hand-made valid token in one way only, and the valid token itself is
accepted, so a refusal is caused by the attack and nothing else.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest

from tickmesh.api.auth import REQUIRED_CLAIMS, AccessTokens, InvalidTokenError
from tickmesh.storage import Database
from tickmesh.storage.users import Role, UserStore

from .conftest import SECRET, add_user, bearer, login

URL = "/api/v1/version"


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": "tickmesh",
        "aud": "tickmesh-api",
        "sub": "vera",
        "role": "viewer",
        "jti": "j-1",
        "iat": now - 10,
        "exp": now + 600,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def signed(payload: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def call(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(URL, headers=bearer(token))


@pytest.fixture
async def vera(db: Database) -> None:
    await add_user(db, "vera", Role.VIEWER)


async def test_hand_made_valid_token_is_accepted(client: httpx.AsyncClient, vera: None) -> None:
    response = await call(client, signed(claims()))

    assert response.status_code == 200


def refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert reason in response.json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_alg_none_token_is_refused(client: httpx.AsyncClient, vera: None) -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(role='admin'))}."

    refused(await call(client, unsigned), "algorithm not allowed")


async def test_other_hmac_algorithm_with_right_key_is_refused(
    client: httpx.AsyncClient, vera: None
) -> None:
    refused(await call(client, signed(claims(), algorithm="HS512")), "algorithm not allowed")


async def test_expired_token_is_refused(client: httpx.AsyncClient, vera: None) -> None:
    now = int(time.time())

    refused(await call(client, signed(claims(iat=now - 1000, exp=now - 1))), "expired")


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
async def test_token_missing_a_required_claim_is_refused(
    client: httpx.AsyncClient, vera: None, claim: str
) -> None:
    response = await call(client, signed(claims(**{claim: None})))

    refused(response, f'"{claim}"')


async def test_token_for_another_audience_is_refused(client: httpx.AsyncClient, vera: None) -> None:
    refused(await call(client, signed(claims(aud="another-api"))), "audience")


async def test_token_from_another_issuer_is_refused(client: httpx.AsyncClient, vera: None) -> None:
    refused(await call(client, signed(claims(iss="someone-else"))), "issuer")


async def test_token_with_payload_swapped_under_a_valid_signature_is_refused(
    client: httpx.AsyncClient, vera: None
) -> None:
    header, _, signature = signed(claims()).split(".")
    forged = f"{header}.{b64(claims(role='admin'))}.{signature}"

    refused(await call(client, forged), "signature")


async def test_token_with_altered_signature_is_refused(
    client: httpx.AsyncClient, vera: None
) -> None:
    token = signed(claims())
    head, _, signature = token.rpartition(".")
    altered = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")

    refused(await call(client, f"{head}.{altered}"), "signature")


async def test_token_signed_with_another_key_is_refused(
    client: httpx.AsyncClient, vera: None
) -> None:
    other_key = "another-signing-key-0123456789-abcdefghijklmnop"

    refused(await call(client, signed(claims(), key=other_key)), "signature")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
async def test_malformed_or_empty_token_is_refused(
    client: httpx.AsyncClient, vera: None, token: str
) -> None:
    response = await client.get(URL, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["detail"]


async def test_request_without_token_is_refused_saying_how_to_log_in(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(URL)

    refused(response, "/api/v1/token/login")


async def test_token_naming_an_unknown_role_is_refused(
    client: httpx.AsyncClient, vera: None
) -> None:
    refused(await call(client, signed(claims(role="root"))), "not a role")


async def test_token_claiming_a_higher_role_than_stored_is_refused(
    client: httpx.AsyncClient, vera: None
) -> None:
    refused(await call(client, signed(claims(role="admin"))), "role changed")


async def test_token_of_a_user_disabled_since_login_is_refused(
    db: Database, client: httpx.AsyncClient, vera: None
) -> None:
    token = (await login(client, "vera"))["access_token"]
    async with db.transaction() as repo:
        await UserStore(repo.conn).disable_user("vera", now=2)

    refused(await call(client, token), "disabled")


def test_issued_token_carries_every_required_claim_and_decodes() -> None:
    tokens = AccessTokens(SECRET, "tickmesh", "tickmesh-api", ttl_s=900)
    now = int(time.time())

    token = tokens.issue("vera", Role.OPERATOR, now)
    decoded = tokens.decode(token)
    raw = jwt.decode(token, SECRET, algorithms=["HS256"], audience="tickmesh-api")

    assert set(REQUIRED_CLAIMS) <= set(raw)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert (decoded.sub, decoded.role, decoded.exp - decoded.iat) == ("vera", Role.OPERATOR, 900)


def test_two_issued_tokens_have_distinct_ids() -> None:
    tokens = AccessTokens(SECRET, "tickmesh", "tickmesh-api", ttl_s=900)

    first = tokens.decode(tokens.issue("vera", Role.VIEWER, int(time.time())))
    second = tokens.decode(tokens.issue("vera", Role.VIEWER, int(time.time())))

    assert first.jti != second.jti


def test_decode_refuses_token_from_the_future() -> None:
    tokens = AccessTokens(SECRET, "tickmesh", "tickmesh-api", ttl_s=900)
    future = int(time.time()) + 3600

    with pytest.raises(InvalidTokenError, match="future"):
        tokens.decode(signed(claims(iat=future, exp=future + 600)))
