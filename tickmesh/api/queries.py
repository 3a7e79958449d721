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
from sqlalchemy import Row, Table
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
    FillOut,
    OrderOut,
    PositionOut,
    RejectionOut,
    SessionOut,
    SignalOut,
)
from tickmesh.model import DenyReason, OrderDenied, Side, Signal, from_json
from tickmesh.storage import schema
from tickmesh.storage.records import OrderStatus, SessionStatus
from tickmesh.storage.rows import session_from_row
from tickmesh.storage.users import AuditOutcome, audit
from tickmesh.topics import timeframe_seconds, validate_namespace

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


async def audit_entries(conn: AsyncConnection, query: AuditQuery) -> Page[AuditOut]:
    rows, total = await _rows(conn, audit, query, None)
    return _page(AuditOut, rows, total, query)


E = TypeVar("E", Signal, OrderDenied)


def _event(payload: str, kind: type[E]) -> E:
    event = from_json(payload)
    if not isinstance(event, kind):
        raise TypeError(f"stored payload is a {type(event).__name__}, not a {kind.__name__}")
    return event
