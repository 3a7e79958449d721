"""Read endpoints over the store: portfolio, positions, orders, fills, signals, rejections, bars,
symbols, equity history, risk state and sessions of a namespace (the configured one unless
``namespace`` says otherwise). Every caller with a valid token may read (viewer and up; the
router adds the check)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tickmesh import __version__
from tickmesh.api import queries
from tickmesh.api.deps import ApiContext, Ctx, reading
from tickmesh.api.pagination import Namespaced, Page
from tickmesh.api.schemas import (
    AccountOut,
    BarOut,
    EquityOut,
    FillOut,
    OrderOut,
    PortfolioOut,
    PositionOut,
    RejectionOut,
    RiskOut,
    RiskStateOut,
    SessionOut,
    SignalOut,
    SymbolOut,
    VersionOut,
)
from tickmesh.storage import Repository

router = APIRouter(tags=["read"])


def _namespace(ctx: ApiContext, query: Namespaced) -> str:
    return query.namespace or ctx.settings.namespace


@router.get("/version")
async def version() -> VersionOut:
    return VersionOut(version=__version__)


@router.get("/portfolio")
async def portfolio(ctx: Ctx, query: Annotated[queries.NamespaceQuery, Query()]) -> PortfolioOut:
    """The stored account (null before the first snapshot) and every stored position."""
    namespace = _namespace(ctx, query)
    async with reading(ctx) as conn:
        repo = Repository(conn)
        account = await repo.load_account(namespace)
        held = await repo.load_positions(namespace)
    return PortfolioOut(
        namespace=namespace,
        account=None if account is None else AccountOut.model_validate(account),
        positions=[PositionOut.model_validate(position) for position in held],
    )


@router.get("/risk")
async def risk(ctx: Ctx, query: Annotated[queries.NamespaceQuery, Query()]) -> RiskOut:
    """The risk manager's stored trading state (null until it stored one)."""
    namespace = _namespace(ctx, query)
    async with reading(ctx) as conn:
        stored = await Repository(conn).load_risk_state(namespace)
    state = None if stored is None else RiskStateOut.model_validate(stored)
    return RiskOut(namespace=namespace, risk=state)


@router.get("/positions")
async def positions(
    ctx: Ctx, query: Annotated[queries.PositionQuery, Query()]
) -> Page[PositionOut]:
    async with reading(ctx) as conn:
        return await queries.positions(conn, _namespace(ctx, query), query)


@router.get("/orders")
async def orders(ctx: Ctx, query: Annotated[queries.OrderQuery, Query()]) -> Page[OrderOut]:
    """Orders as their lifecycle events left them, newest first unless sorted otherwise."""
    async with reading(ctx) as conn:
        return await queries.orders(conn, _namespace(ctx, query), query)


@router.get("/fills")
async def fills(ctx: Ctx, query: Annotated[queries.FillQuery, Query()]) -> Page[FillOut]:
    async with reading(ctx) as conn:
        return await queries.fills(conn, _namespace(ctx, query), query)


@router.get("/signals")
async def signals(ctx: Ctx, query: Annotated[queries.SignalQuery, Query()]) -> Page[SignalOut]:
    async with reading(ctx) as conn:
        return await queries.signals(conn, _namespace(ctx, query), query)


@router.get("/rejections")
async def rejections(
    ctx: Ctx, query: Annotated[queries.RejectionQuery, Query()]
) -> Page[RejectionOut]:
    """Signals the risk manager refused, each with its reason code and detail."""
    async with reading(ctx) as conn:
        return await queries.rejections(conn, _namespace(ctx, query), query)


@router.get("/sessions")
async def sessions(ctx: Ctx, query: Annotated[queries.SessionQuery, Query()]) -> Page[SessionOut]:
    async with reading(ctx) as conn:
        return await queries.sessions(conn, _namespace(ctx, query), query)


@router.get("/bars")
async def bars(ctx: Ctx, query: Annotated[queries.BarQuery, Query()]) -> Page[BarOut]:
    """Bars of one symbol and timeframe opening in ``[from, to)``, oldest first by default."""
    async with reading(ctx) as conn:
        return await queries.bars(conn, query)


@router.get("/symbols")
async def symbols(ctx: Ctx, query: Annotated[queries.SymbolQuery, Query()]) -> Page[SymbolOut]:
    """Symbols with stored bars: their timeframes, first and last bar, bar count, last close."""
    async with reading(ctx) as conn:
        return await queries.symbols(conn, query)


@router.get("/equity")
async def equity(ctx: Ctx, query: Annotated[queries.EquityQuery, Query()]) -> Page[EquityOut]:
    """Equity and cash over time (money as exact strings), one sample per portfolio snapshot
    (after each fill, and at most once a minute of event time otherwise)."""
    async with reading(ctx) as conn:
        return await queries.equity(conn, _namespace(ctx, query), query)
