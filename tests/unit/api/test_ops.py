"""Roles for real: operator actions publish commands and leave an audit trail; lower roles get
403 with a reason (audited too); the audit trail is for admins."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tickmesh.api import ApiSettings, create_app
from tickmesh.config import Settings
from tickmesh.model import Command, CommandType
from tickmesh.storage import Database
from tickmesh.storage.users import Role

from .conftest import add_user, bearer, login, make_client

HALT = "/api/v1/ops/halt"
RESUME = "/api/v1/ops/resume"
AUDIT = "/api/v1/audit"


async def test_viewer_cannot_halt_and_the_refusal_is_audited(
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    admin: dict[str, str],
    published: list[Command],
) -> None:
    response = await client.post(HALT, headers=viewer, json={"reason": "curious"})

    trail = (await client.get(AUDIT, headers=admin)).json()["items"]
    assert response.status_code == 403
    assert response.json() == {
        "detail": "role 'viewer' may not do this; it needs operator or above"
    }
    assert published == []
    assert [(e["actor"], e["action"], e["outcome"]) for e in trail] == [
        ("vera", "ops.halt", "denied")
    ]


async def test_operator_halt_publishes_command_and_audits_it(
    client: httpx.AsyncClient,
    operator: dict[str, str],
    admin: dict[str, str],
    published: list[Command],
) -> None:
    response = await client.post(HALT, headers=operator, json={"reason": "fat finger"})

    body = response.json()
    (command,) = published
    (entry,) = (await client.get(AUDIT, headers=admin)).json()["items"]
    assert response.status_code == 202
    assert (command.command, command.namespace, command.issued_by) == (
        CommandType.HALT, "paper", "otto",
    )  # fmt: skip
    assert command.args == {"reason": "fat finger"}
    assert body["command_id"] == command.event_id
    assert body["audit_id"] == entry["id"]
    assert (entry["actor"], entry["role"], entry["action"], entry["outcome"]) == (
        "otto", "operator", "ops.halt", "ok",
    )  # fmt: skip
    assert entry["namespace"] == "paper"
    assert command.event_id in entry["detail"]
    assert "fat finger" in entry["detail"]
    assert entry["client"] == "127.0.0.1"


async def test_admin_may_resume_another_namespace_without_a_body(
    client: httpx.AsyncClient, admin: dict[str, str], published: list[Command]
) -> None:
    response = await client.post(RESUME, headers=admin, json={"namespace": "live-eu"})
    no_body = await client.post(RESUME, headers=admin)

    assert (response.status_code, no_body.status_code) == (202, 202)
    assert [(c.command, c.namespace) for c in published] == [
        (CommandType.RESUME, "live-eu"),
        (CommandType.RESUME, "paper"),
    ]


@pytest.mark.parametrize("body", [{"namespace": "Bad NS"}, {"reason": "x" * 501}, {"unknown": 1}])
async def test_ops_body_with_bad_input_is_422(
    client: httpx.AsyncClient,
    operator: dict[str, str],
    published: list[Command],
    body: dict[str, object],
) -> None:
    response = await client.post(HALT, headers=operator, json=body)

    assert response.status_code == 422
    assert response.json()["detail"]
    assert published == []


async def test_halt_without_bus_is_503_and_audited_as_failed(
    db: Database, settings: Settings, api_settings: ApiSettings
) -> None:
    app = create_app(db, settings, api=api_settings)
    await add_user(db, "otto", Role.OPERATOR)
    await add_user(db, "ada", Role.ADMIN)
    async with make_client(app) as client:
        operator = bearer((await login(client, "otto"))["access_token"])
        admin = bearer((await login(client, "ada"))["access_token"])

        response = await client.post(HALT, headers=operator)
        (entry,) = (await client.get(AUDIT, headers=admin)).json()["items"]

    assert response.status_code == 503
    assert response.json() == {"detail": "no bus attached"}
    assert (entry["outcome"], entry["detail"]) == ("failed", "no bus attached")


async def test_halt_when_publishing_fails_is_503_and_audited_as_failed(
    db: Database, settings: Settings, api_settings: ApiSettings
) -> None:
    async def broken(command: Command) -> None:
        raise ConnectionError("broker down")

    app = create_app(db, settings, api=api_settings, publish_command=broken)
    await add_user(db, "ada", Role.ADMIN)
    async with make_client(app) as client:
        admin = bearer((await login(client, "ada"))["access_token"])

        response = await client.post(HALT, headers=admin)
        (entry,) = (await client.get(AUDIT, headers=admin)).json()["items"]

    assert response.status_code == 503
    assert "ConnectionError" in response.json()["detail"]
    assert entry["outcome"] == "failed"


async def test_operator_cannot_read_the_audit_trail(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    response = await client.get(AUDIT, headers=operator)

    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


async def test_audit_trail_filters_by_outcome_and_sorts_by_actor(
    client: httpx.AsyncClient,
    app: FastAPI,
    viewer: dict[str, str],
    operator: dict[str, str],
    admin: dict[str, str],
) -> None:
    await client.post(HALT, headers=viewer)
    await client.post(HALT, headers=operator)
    await client.post(RESUME, headers=admin)

    ok = (await client.get(AUDIT, headers=admin, params={"outcome": "ok", "sort": "actor"})).json()
    denied = (await client.get(AUDIT, headers=admin, params={"outcome": "denied"})).json()

    assert [e["actor"] for e in ok["items"]] == ["ada", "otto"]
    assert ok["total"] == 2
    assert [e["actor"] for e in denied["items"]] == ["vera"]


async def test_ops_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(HALT)

    assert response.status_code == 401
