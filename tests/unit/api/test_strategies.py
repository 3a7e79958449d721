"""Strategies: the list with state and PnL, and the operator switches (audited commands)."""

from __future__ import annotations

from decimal import Decimal

import httpx
from fastapi import FastAPI

from tickmesh.api import ApiSettings, create_app
from tickmesh.config import Settings
from tickmesh.model import Command, CommandType
from tickmesh.storage import Database
from tickmesh.storage.records import StoredPosition
from tickmesh.strategies.runner import StrategyStatus

from .conftest import make_client

STRATEGIES = "/api/v1/strategies"


def status(enabled: bool = True) -> StrategyStatus:
    return StrategyStatus(
        id="sma_cross:BTC", name="sma_cross", symbol="BTC", timeframe="1m",
        params={"fast": 10, "slow": 30}, enabled=enabled, quarantined=False, errors=0,
        position=Decimal("0.5"),
    )  # fmt: skip


async def store_position(db: Database) -> None:
    async with db.transaction() as repo:
        await repo.replace_positions(
            "paper",
            [StoredPosition("sma_cross:BTC", "BTC", Decimal("0.5"), Decimal("100"),
                            Decimal("12.25"), 1)],
            ts=1,
        )  # fmt: skip


async def test_live_strategies_carry_state_position_and_realized_pnl(
    db: Database, settings: Settings, api_settings: ApiSettings, viewer: dict[str, str]
) -> None:
    await store_position(db)
    app = create_app(db, settings, api=api_settings, strategies=lambda: [status()])

    async with make_client(app) as http:
        (row,) = (await http.get(STRATEGIES, headers=viewer)).json()

    assert (row["id"], row["enabled"], row["live"]) == ("sma_cross:BTC", True, True)
    assert (row["position"], row["realized_pnl"]) == ("0.5", "12.25")


async def test_without_a_platform_the_configuration_is_listed(
    client: httpx.AsyncClient, viewer: dict[str, str], app: FastAPI
) -> None:
    rows = (await client.get(STRATEGIES, headers=viewer)).json()

    assert rows
    assert all(row["live"] is False and row["quarantined"] is None for row in rows)


async def test_operator_disables_and_enables_a_strategy(
    client: httpx.AsyncClient, operator: dict[str, str], published: list[Command]
) -> None:
    off = await client.post("/api/v1/ops/strategies/sma_cross:BTC/disable", headers=operator)
    on = await client.post("/api/v1/ops/strategies/sma_cross:BTC/enable", headers=operator)

    assert (off.status_code, on.status_code) == (202, 202)
    assert [(c.command, c.args["strategy_id"]) for c in published] == [
        (CommandType.DISABLE_STRATEGY, "sma_cross:BTC"),
        (CommandType.ENABLE_STRATEGY, "sma_cross:BTC"),
    ]


async def test_set_state_sends_the_state_and_rejects_an_unknown_one(
    client: httpx.AsyncClient, operator: dict[str, str], published: list[Command]
) -> None:
    ok = await client.post("/api/v1/ops/state", headers=operator, json={"state": "REDUCING"})
    bad = await client.post("/api/v1/ops/state", headers=operator, json={"state": "PANIC"})

    assert ok.status_code == 202
    assert published[0].args == {"state": "REDUCING"}
    assert bad.status_code == 422


async def test_viewer_cannot_switch_strategies(
    client: httpx.AsyncClient, viewer: dict[str, str], published: list[Command]
) -> None:
    response = await client.post("/api/v1/ops/strategies/x:Y/disable", headers=viewer)

    assert response.status_code == 403
    assert published == []
