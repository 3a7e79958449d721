"""Roles for real: operator actions publish commands and leave an audit trail; lower roles get
403 with a reason (audited too); the audit trail is for admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI

from tickmesh.api import ApiSettings, create_app
from tickmesh.config import Settings
from tickmesh.model import Command, CommandType
from tickmesh.storage import Database
from tickmesh.storage.users import Role

from .conftest import SECRET, add_user, bearer, login, make_client, with_key

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


# --- reload-config ----------------------------------------------------------------------------

RELOAD = "/api/v1/ops/reload-config"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tickmesh.toml"
    path.write_text('[risk]\nmax_order_quantity = "0.25"\nmax_open_positions = "off"\n')
    return path


@pytest.fixture
async def reloading(
    db: Database,
    settings: Settings,
    api_settings: ApiSettings,
    published: list[Command],
    config_file: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that knows the config file it was started with."""

    async def publish(command: Command) -> None:
        published.append(command)

    app = create_app(
        db, settings, api=api_settings, publish_command=publish, config_path=config_file
    )
    async with make_client(app) as client:
        yield client


async def _logged_in(
    db: Database, client: httpx.AsyncClient, name: str, role: Role
) -> dict[str, str]:
    await add_user(db, name, role)
    return bearer((await login(client, name))["access_token"])


async def test_reload_config_publishes_the_files_risk_limits_and_audits_it(
    db: Database, reloading: httpx.AsyncClient, published: list[Command]
) -> None:
    operator = await _logged_in(db, reloading, "otto", Role.OPERATOR)
    admin = await _logged_in(db, reloading, "ada", Role.ADMIN)

    response = await reloading.post(RELOAD, headers=operator, json={"reason": "tighter"})

    (command,) = published
    (entry,) = (await reloading.get(AUDIT, headers=admin)).json()["items"]
    assert response.status_code == 202, response.text
    assert response.json()["command"] == "RELOAD"
    assert (command.command, command.namespace, command.issued_by) == (
        CommandType.RELOAD, "paper", "otto",
    )  # fmt: skip
    assert command.args["risk.max_order_quantity"] == "0.25"
    assert command.args["risk.max_open_positions"] == "off"
    assert command.args["risk.price_band_pct"] == "0.1"
    assert command.args["reason"] == "tighter"
    assert (entry["action"], entry["outcome"]) == ("ops.reload", "ok")
    assert command.event_id in entry["detail"]


async def test_reload_config_after_the_file_changed_sends_the_new_limits(
    db: Database, reloading: httpx.AsyncClient, published: list[Command], config_file: Path
) -> None:
    operator = await _logged_in(db, reloading, "otto", Role.OPERATOR)
    await reloading.post(RELOAD, headers=operator)
    await anyio.Path(config_file).write_text("[risk]\nmax_order_quantity = 7\n")

    await reloading.post(RELOAD, headers=operator)

    assert [c.args["risk.max_order_quantity"] for c in published] == ["0.25", "7"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[risk]\nmax_order_qty = 1\n", "risk.max_order_qty: unknown key"),
        ("[risk]\nmax_order_quantity = -1\n", "risk.max_order_quantity"),
        ("[risk\n", "not valid TOML"),
    ],
)
async def test_reload_config_with_a_bad_file_is_422_naming_it_and_publishes_nothing(
    db: Database,
    reloading: httpx.AsyncClient,
    published: list[Command],
    config_file: Path,
    content: str,
    reason: str,
) -> None:
    operator = await _logged_in(db, reloading, "otto", Role.OPERATOR)
    admin = await _logged_in(db, reloading, "ada", Role.ADMIN)
    await anyio.Path(config_file).write_text(content)

    response = await reloading.post(RELOAD, headers=operator)

    (entry,) = (await reloading.get(AUDIT, headers=admin)).json()["items"]
    assert response.status_code == 422
    assert str(config_file) in response.json()["detail"]
    assert reason in response.json()["detail"]
    assert published == []
    assert (entry["action"], entry["outcome"]) == ("ops.reload", "failed")
    assert reason in entry["detail"]


async def test_reload_config_when_the_file_is_gone_is_422(
    db: Database, reloading: httpx.AsyncClient, published: list[Command], config_file: Path
) -> None:
    operator = await _logged_in(db, reloading, "otto", Role.OPERATOR)
    await anyio.Path(config_file).unlink()

    response = await reloading.post(RELOAD, headers=operator)

    assert response.status_code == 422
    assert "config file not found" in response.json()["detail"]
    assert published == []


async def test_reload_config_without_a_config_file_is_409(
    client: httpx.AsyncClient, operator: dict[str, str], published: list[Command]
) -> None:
    response = await client.post(RELOAD, headers=operator)

    assert response.status_code == 409
    assert response.json() == {
        "detail": "no config file to reload: the platform was started without --config"
    }
    assert published == []


async def test_viewer_cannot_reload_config_and_the_refusal_is_audited(
    db: Database, reloading: httpx.AsyncClient, published: list[Command]
) -> None:
    viewer = await _logged_in(db, reloading, "vera", Role.VIEWER)
    admin = await _logged_in(db, reloading, "ada", Role.ADMIN)

    response = await reloading.post(RELOAD, headers=viewer)

    (entry,) = (await reloading.get(AUDIT, headers=admin)).json()["items"]
    assert response.status_code == 403
    assert published == []
    assert (entry["actor"], entry["action"], entry["outcome"]) == ("vera", "ops.reload", "denied")


async def test_reload_config_validates_the_file_with_the_running_namespace(
    db: Database,
    tmp_path: Path,
    api_settings: ApiSettings,
    published: list[Command],
) -> None:
    config = tmp_path / "live.toml"
    config.write_text('[live]\nenabled = true\nconfirm = "desk"\n[risk]\nmax_order_quantity = 2\n')
    running = Settings(
        namespace="desk", live={"enabled": True, "confirm": "desk"},
        secrets=with_key(SECRET), data_dir=str(tmp_path / "data"),
    )  # fmt: skip

    async def publish(command: Command) -> None:
        published.append(command)

    app = create_app(db, running, api=api_settings, publish_command=publish, config_path=config)
    async with make_client(app) as client:
        operator = await _logged_in(db, client, "otto", Role.OPERATOR)
        response = await client.post(RELOAD, headers=operator)

    assert response.status_code == 202, response.text
    assert [(c.namespace, c.args["risk.max_order_quantity"]) for c in published] == [("desk", "2")]
