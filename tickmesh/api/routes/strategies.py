"""Strategies: what runs, in what state, with what PnL; and the operator's switches for them and
for the namespace's trading state.

``GET /strategies`` (viewer and up) lists each strategy instance: its configuration, its live
state when the API runs beside the platform (enabled, quarantined, error count, position), and
its realized PnL from the stored positions. ``POST /ops/strategies/{id}/enable|disable`` and
``POST /ops/state`` (operator and up) send the matching commands, audited like halt/resume.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field

from tickmesh.api.deps import Ctx, Principal, client_of, reading, require_role
from tickmesh.api.queries import NamespaceQuery
from tickmesh.api.routes.ops import OPS_RESPONSES, OpsIn, send_command
from tickmesh.api.schemas import CommandOut
from tickmesh.model import CommandType, TradingState
from tickmesh.storage import Repository
from tickmesh.storage.users import Role

router = APIRouter(tags=["strategies"])


class StrategyOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    symbol: str
    timeframe: str
    params: dict[str, Any]
    enabled: bool
    live: bool = Field(description="state read from the running platform (else: configured)")
    quarantined: bool | None = None
    errors: int | None = None
    last_error: str | None = None
    position: str
    realized_pnl: str


class StateIn(OpsIn):
    state: TradingState


@router.get("/strategies", dependencies=[Depends(require_role(Role.VIEWER))])
async def strategies(ctx: Ctx, query: Annotated[NamespaceQuery, Query()]) -> list[StrategyOut]:
    """Every strategy instance with its state and realized PnL."""
    ns = query.namespace or ctx.settings.namespace
    async with reading(ctx) as conn:
        stored = await Repository(conn).load_positions(ns)
    pnl: dict[str, Decimal] = {}
    held: dict[tuple[str, str], Decimal] = {}
    for p in stored:
        pnl[p.strategy_id] = pnl.get(p.strategy_id, Decimal(0)) + p.realized_pnl
        held[p.strategy_id, p.symbol] = p.quantity
    rows = _live(ctx) if ctx.strategies is not None else _configured(ctx)
    return [
        StrategyOut(
            **row,
            position=str(held.get((row["id"], row["symbol"]), Decimal(0))),
            realized_pnl=str(pnl.get(row["id"], Decimal(0))),
        )
        for row in rows
    ]


def _live(ctx: Any) -> list[dict[str, Any]]:
    return [
        {"id": s.id, "name": s.name, "symbol": s.symbol, "timeframe": s.timeframe,
         "params": dict(s.params), "enabled": s.enabled, "live": True,
         "quarantined": s.quarantined, "errors": s.errors, "last_error": s.last_error}
        for s in ctx.strategies()
    ]  # fmt: skip


def _configured(ctx: Any) -> list[dict[str, Any]]:
    """Without a running platform: the configuration, one row per configured symbol."""
    return [
        {"id": f"{sc.id or sc.name}:{symbol}", "name": sc.name, "symbol": symbol,
         "timeframe": sc.timeframe, "params": dict(sc.params), "enabled": sc.enabled,
         "live": False}
        for sc in ctx.settings.strategies
        for symbol in (sc.symbols or ctx.settings.symbols)
    ]  # fmt: skip


def _operator(action: str) -> Any:
    return Depends(require_role(Role.OPERATOR, audit_action=action))


@router.post(
    "/ops/strategies/{strategy_id}/enable",
    status_code=status.HTTP_202_ACCEPTED,
    responses=OPS_RESPONSES,
)
async def enable(
    strategy_id: Annotated[str, FastPath(max_length=128)],
    request: Request,
    ctx: Ctx,
    caller: Annotated[Principal, _operator("ops.enable_strategy")],
    body: OpsIn | None = None,
) -> CommandOut:
    """Let a strategy instance trade again (also clears a quarantine)."""
    return await send_command(
        ctx, caller, CommandType.ENABLE_STRATEGY, body or OpsIn(), client_of(request),
        {"strategy_id": strategy_id},
    )  # fmt: skip


@router.post(
    "/ops/strategies/{strategy_id}/disable",
    status_code=status.HTTP_202_ACCEPTED,
    responses=OPS_RESPONSES,
)
async def disable(
    strategy_id: Annotated[str, FastPath(max_length=128)],
    request: Request,
    ctx: Ctx,
    caller: Annotated[Principal, _operator("ops.disable_strategy")],
    body: OpsIn | None = None,
) -> CommandOut:
    """Stop a strategy instance's signals; its indicators keep warming on market data."""
    return await send_command(
        ctx, caller, CommandType.DISABLE_STRATEGY, body or OpsIn(), client_of(request),
        {"strategy_id": strategy_id},
    )  # fmt: skip


@router.post(
    "/ops/state", status_code=status.HTTP_202_ACCEPTED, responses=OPS_RESPONSES
)
async def set_state(
    body: StateIn,
    request: Request,
    ctx: Ctx,
    caller: Annotated[Principal, _operator("ops.set_state")],
) -> CommandOut:
    """Move the namespace to ACTIVE, REDUCING (only closing trades) or HALTED."""
    return await send_command(
        ctx, caller, CommandType.SET_STATE, body, client_of(request), {"state": body.state.value}
    )
