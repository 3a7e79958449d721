"""The read side of the API: one query model per list endpoint, and the reads that answer it.

Query models say what each endpoint lets a caller filter and sort by (see
:mod:`tickmesh.api.pagination`). Money columns are stored as exact text, so they do not sort in
SQL and are not offered as sort keys. Text filters are bounded like the columns they compare
with, so an over-long value is a 422, never a failed statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, StringConstraints, field_validator
from sqlalchemy import ColumnElement, Row, Subquery, Table, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tickmesh.api.pagination import (
    Namespaced,
    Page,
    SortedQuery,
    StrictQuery,
    TimeRange,
    fetch_page,
)
from tickmesh.api.schemas import (
    AuditOut,
    BarOut,
    EquityOut,
    FillOut,
    OrderOut,
    PositionOut,
    RejectionOut,
    SeriesOut,
    SessionOut,
    SignalOut,
    SymbolOut,
)
from tickmesh.model import DenyReason, OrderDenied, Side, Signal, from_json
from tickmesh.storage import schema
from tickmesh.storage.records import OrderStatus, SessionStatus
from tickmesh.storage.rows import session_from_row
from tickmesh.storage.users import AuditOutcome, audit
from tickmesh.topics import TIMEFRAMES, timeframe_seconds, validate_namespace

_NO_NUL = r"^[^\x00]*$"
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NO_NUL)]
Id64 = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NO_NUL)]
StrategyId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_NO_NUL)]
M = TypeVar("M", bound=BaseModel)


class NamespaceQuery(StrictQuery, Namespaced):
    """Just the namespace, for endpoints answering one object."""


class _TradingFilters(BaseModel):
    symbol: Symbol | None = None
    strategy_id: StrategyId | None = None
    side: Side | None = None


class FillQuery(SortedQuery, Namespaced, TimeRange, _TradingFilters):
    sort_keys = ("ts_event", "symbol", "strategy_id", "order_id")
    default_sort = "-ts_event"
    equal_filters = ("symbol", "strategy_id", "side", "order_id")
    time_column = "ts_event"

    order_id: Id64 | None = None


class OrderQuery(SortedQuery, Namespaced, TimeRange, _TradingFilters):
    sort_keys = ("ts_event", "updated_ts", "symbol", "strategy_id", "status")
    default_sort = "-ts_event"
    equal_filters = ("symbol", "strategy_id", "side", "status")
    time_column = "ts_event"

    status: OrderStatus | None = None


class SignalQuery(SortedQuery, Namespaced, TimeRange, _TradingFilters):
    sort_keys = ("ts_event", "symbol", "strategy_id")
    default_sort = "-ts_event"
    equal_filters = ("symbol", "strategy_id", "side")
    time_column = "ts_event"


class RejectionQuery(SortedQuery, Namespaced, TimeRange, _TradingFilters):
    sort_keys = ("ts_event", "symbol", "strategy_id", "reason")
    default_sort = "-ts_event"
    equal_filters = ("symbol", "strategy_id", "side", "reason")
    time_column = "ts_event"

    reason: DenyReason | None = Field(default=None, description="the risk check that refused")


class PositionQuery(SortedQuery, Namespaced):
    sort_keys = ("strategy_id", "symbol", "ts")
    default_sort = "strategy_id,symbol"
    equal_filters = ("symbol", "strategy_id")

    symbol: Symbol | None = None
    strategy_id: StrategyId | None = None


class SessionQuery(SortedQuery, Namespaced, TimeRange):
    sort_keys = ("started_at", "ended_at", "status")
    default_sort = "-started_at"
    equal_filters = ("status",)
    time_column = "started_at"

    status: SessionStatus | None = None


class BarQuery(SortedQuery, TimeRange):
    """Bars are market data shared by every namespace: no ``namespace`` here."""

    sort_keys = ("ts_open",)
    default_sort = "ts_open"
    equal_filters = ("symbol", "timeframe")
    time_column = "ts_open"

    symbol: Symbol
    timeframe: str

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        timeframe_seconds(value)
        return value


class SymbolQuery(SortedQuery):
    """Bars are shared by every namespace: without ``namespace`` every symbol with stored bars is
    listed; with it, only those the namespace's strategies signalled on."""

    sort_keys = ("symbol", "bar_count", "first_ts_open", "last_ts_open")
    default_sort = "symbol"

    namespace: str | None = Field(
        default=None, description="only symbols this namespace signalled on (default: all)"
    )
    timeframe: str | None = Field(default=None, description="only bars of this timeframe")

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str | None) -> str | None:
        return None if value is None else validate_namespace(value)

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str | None) -> str | None:
        if value is not None:
            timeframe_seconds(value)
        return value


class EquityQuery(SortedQuery, Namespaced, TimeRange):
    """The namespace's equity samples, oldest first by default (one per portfolio snapshot)."""

    sort_keys = ("ts",)
    default_sort = "ts"
    time_column = "ts"


class AuditQuery(SortedQuery, TimeRange):
    sort_keys = ("ts", "actor", "action", "outcome")
    default_sort = "-ts"
    equal_filters = ("actor", "action", "outcome", "namespace")
    time_column = "ts"

    actor: Id64 | None = None
    action: Id64 | None = None
    outcome: AuditOutcome | None = None
    namespace: str | None = None

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str | None) -> str | None:
        return None if value is None else validate_namespace(value)


def _page(model: type[M], items: Sequence[Any], total: int, query: SortedQuery) -> Page[M]:
    built = [model.model_validate(item, from_attributes=True) for item in items]
    return Page[model](  # type: ignore[valid-type]
        items=built, limit=query.limit, offset=query.offset, total=total
    )


async def _rows(
    conn: AsyncConnection, table: Table, query: SortedQuery, namespace: str | None
) -> tuple[Sequence[Row[Any]], int]:
    where = [] if namespace is None else [table.c.namespace == namespace]
    return await fetch_page(conn, table, query, *where)


async def fills(conn: AsyncConnection, namespace: str, query: FillQuery) -> Page[FillOut]:
    rows, total = await _rows(conn, schema.fills, query, namespace)
    return _page(FillOut, rows, total, query)


async def orders(conn: AsyncConnection, namespace: str, query: OrderQuery) -> Page[OrderOut]:
    rows, total = await _rows(conn, schema.orders, query, namespace)
    return _page(OrderOut, rows, total, query)


async def positions(
    conn: AsyncConnection, namespace: str, query: PositionQuery
) -> Page[PositionOut]:
    rows, total = await _rows(conn, schema.positions, query, namespace)
    return _page(PositionOut, rows, total, query)


async def signals(conn: AsyncConnection, namespace: str, query: SignalQuery) -> Page[SignalOut]:
    rows, total = await _rows(conn, schema.signals, query, namespace)
    events = [_event(row.payload, Signal) for row in rows]
    return _page(SignalOut, events, total, query)


async def rejections(
    conn: AsyncConnection, namespace: str, query: RejectionQuery
) -> Page[RejectionOut]:
    rows, total = await _rows(conn, schema.rejections, query, namespace)
    events = [_event(row.payload, OrderDenied) for row in rows]
    return _page(RejectionOut, events, total, query)


async def sessions(conn: AsyncConnection, namespace: str, query: SessionQuery) -> Page[SessionOut]:
    rows, total = await _rows(conn, schema.sessions, query, namespace)
    return _page(SessionOut, [session_from_row(row) for row in rows], total, query)


async def bars(conn: AsyncConnection, query: BarQuery) -> Page[BarOut]:
    rows, total = await _rows(conn, schema.bars, query, None)
    return _page(BarOut, rows, total, query)


async def equity(conn: AsyncConnection, namespace: str, query: EquityQuery) -> Page[EquityOut]:
    rows, total = await _rows(conn, schema.equity_samples, query, namespace)
    return _page(EquityOut, rows, total, query)


async def symbols(conn: AsyncConnection, query: SymbolQuery) -> Page[SymbolOut]:
    """One page of symbols (aggregated in SQL), then the timeframes of just those symbols."""
    bars = schema.bars
    where = _bar_filters(query)
    summary = (
        select(
            bars.c.symbol,
            func.min(bars.c.ts_open).label("first_ts_open"),
            func.max(bars.c.ts_open).label("last_ts_open"),
            func.count().label("bar_count"),
        )
        .where(*where)
        .group_by(bars.c.symbol)
        .subquery("symbols")
    )
    rows, total = await fetch_page(conn, summary, query)
    series = await _series(conn, [row.symbol for row in rows], where)
    items = [_symbol(row, series[row.symbol]) for row in rows]
    return Page[SymbolOut](items=items, limit=query.limit, offset=query.offset, total=total)


def _bar_filters(query: SymbolQuery) -> list[ColumnElement[bool]]:
    bars, signals = schema.bars, schema.signals
    where: list[ColumnElement[bool]] = []
    if query.timeframe is not None:
        where.append(bars.c.timeframe == query.timeframe)
    if query.namespace is not None:
        signalled = select(signals.c.symbol).where(signals.c.namespace == query.namespace)
        where.append(bars.c.symbol.in_(signalled))
    return where


async def _series(
    conn: AsyncConnection, symbols: list[str], where: list[ColumnElement[bool]]
) -> dict[str, list[tuple[SeriesOut, int]]]:
    """Each symbol's timeframes, shortest first, with their last bar's ``ts_event``."""
    if not symbols:
        return {}
    bars = schema.bars
    stats = _series_stats(symbols, where)
    last = and_(
        bars.c.symbol == stats.c.symbol,
        bars.c.timeframe == stats.c.timeframe,
        bars.c.ts_open == stats.c.last_ts_open,
    )
    query = select(stats, bars.c.close, bars.c.ts_event).join_from(stats, bars, last)
    found: dict[str, list[tuple[SeriesOut, int]]] = {}
    for row in (await conn.execute(query)).all():
        out = SeriesOut(
            timeframe=row.timeframe, first_ts_open=row.first_ts_open,
            last_ts_open=row.last_ts_open, bar_count=row.bar_count, last_close=row.close,
        )  # fmt: skip
        found.setdefault(row.symbol, []).append((out, row.ts_event))
    for entries in found.values():
        entries.sort(key=lambda entry: TIMEFRAMES[entry[0].timeframe])
    return found


def _series_stats(symbols: list[str], where: list[ColumnElement[bool]]) -> Subquery:
    bars = schema.bars
    return (
        select(
            bars.c.symbol,
            bars.c.timeframe,
            func.min(bars.c.ts_open).label("first_ts_open"),
            func.max(bars.c.ts_open).label("last_ts_open"),
            func.count().label("bar_count"),
        )
        .where(bars.c.symbol.in_(symbols), *where)
        .group_by(bars.c.symbol, bars.c.timeframe)
        .subquery("series")
    )


def _symbol(row: Row[Any], series: list[tuple[SeriesOut, int]]) -> SymbolOut:
    """``series`` is never empty: it comes from the same bars, in the same unit of work."""
    newest, _ = max(series, key=lambda entry: entry[1])  # the first (shortest) on a tie
    return SymbolOut(
        symbol=row.symbol,
        timeframes=[out.timeframe for out, _ in series],
        first_ts_open=row.first_ts_open,
        last_ts_open=row.last_ts_open,
        bar_count=row.bar_count,
        last_close=newest.last_close,
        series=[out for out, _ in series],
    )


async def audit_entries(conn: AsyncConnection, query: AuditQuery) -> Page[AuditOut]:
    rows, total = await _rows(conn, audit, query, None)
    return _page(AuditOut, rows, total, query)


E = TypeVar("E", Signal, OrderDenied)


def _event(payload: str, kind: type[E]) -> E:
    event = from_json(payload)
    if not isinstance(event, kind):
        raise TypeError(f"stored payload is a {type(event).__name__}, not a {kind.__name__}")
    return event
