"""Reads and writes of tickmesh state over one connection inside one unit of work.

Every write is idempotent: events are inserted-or-ignored on their primary key (fill id, event
id, bar open time), so a redelivered event changes nothing; state rows (positions, account, risk
state, checkpoints) are upserted to their new value, and so are equity samples, keyed by
namespace and time, so the last snapshot of a timestamp wins however flushes split them; orders
fold their lifecycle events monotonically. Writes take lists, so a batch is a few statements, not
one per event. Both databases get the same statements through their SQLAlchemy dialect
(``INSERT ... ON CONFLICT``).

Writes that read before they write (order folds, position replacement) lock what they touch
first (:mod:`tickmesh.storage.locks`), so concurrent units in other processes cannot lose each
other's updates on PostgreSQL. Lists come back in the same order on both databases: text
tie-breakers sort by code point (SQLite's BINARY, PostgreSQL's ``"C"`` collation), never by the
PostgreSQL database's locale, which would put ``"a"`` before ``"B"`` on one server and after it
on another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Select, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tickmesh.core.errors import ConfigError
from tickmesh.model import Bar, Fill, OrderDenied, RiskState, Signal, TradingState, from_json
from tickmesh.model.position import PositionLike
from tickmesh.storage import schema
from tickmesh.storage.locks import lock_keys
from tickmesh.storage.order_lifecycle import OrderUpdate, apply_order_event
from tickmesh.storage.records import (
    Account,
    Checkpoint,
    EquitySample,
    OrderRecord,
    OrderStatus,
    SessionRecord,
    SessionStatus,
    StoredPosition,
    StoredRiskState,
)
from tickmesh.storage.rows import (
    bar_from_row,
    bar_row,
    fill_from_row,
    fill_row,
    order_from_row,
    order_row,
    position_from_row,
    position_row,
    rejection_row,
    session_from_row,
    session_row,
    signal_row,
)

MAX_PAGE = 1000
_IN_CHUNK = 500
_E = TypeVar("_E", Signal, OrderDenied)


class Repository:
    """All repositories over one connection; get one from ``Database.transaction()``."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._postgres = conn.dialect.name == "postgresql"

    # --- fills ----------------------------------------------------------------------------

    async def add_fills(
        self, fills: Sequence[Fill], namespace: str, session_id: str | None = None
    ) -> None:
        rows = [fill_row(fill, namespace, session_id) for fill in fills]
        await self._insert_ignore(schema.fills, rows)

    async def load_fills(self, namespace: str) -> list[Fill]:
        """Every fill of ``namespace`` in the order the ledger replays them."""
        table = schema.fills
        query = _fills_of(namespace).order_by(table.c.ts_event, self._binary(table.c.fill_id))
        return [fill_from_row(row) for row in await self._rows(query)]

    async def session_fill_ids(self, session_id: str) -> set[str]:
        """Ids of the fills a session produced (the ones a resumed session will regenerate)."""
        table = schema.fills
        query = select(table.c.fill_id).where(table.c.session_id == session_id)
        return {row.fill_id for row in await self._rows(query)}

    async def list_fills(self, namespace: str, limit: int = 100, offset: int = 0) -> list[Fill]:
        """Newest first, for display."""
        table = schema.fills
        query = _fills_of(namespace).order_by(
            table.c.ts_event.desc(), self._binary(table.c.fill_id).desc()
        )
        return [fill_from_row(row) for row in await self._rows(_page(query, limit, offset))]

    # --- orders ---------------------------------------------------------------------------

    async def upsert_orders(self, events: Sequence[OrderUpdate], namespace: str) -> None:
        """Fold intents and lifecycle events into the orders they belong to, in list order."""
        if not events:
            return
        order_ids = {event.order_id for event in events}
        await lock_keys(self.conn, "orders", order_ids)
        records = await self._orders_by_id(order_ids)
        for event in events:
            records[event.order_id] = apply_order_event(
                records.get(event.order_id), event, namespace
            )
        await self._upsert(schema.orders, [order_row(record) for record in records.values()])

    async def get_order(self, order_id: str) -> OrderRecord | None:
        return (await self._orders_by_id({order_id})).get(order_id)

    async def load_open_orders(self, namespace: str) -> list[OrderRecord]:
        """Orders not yet in a terminal status, oldest first: what to reconcile at restart."""
        table = schema.orders
        open_statuses = [status.value for status in OrderStatus if not status.is_terminal]
        query = (
            select(table)
            .where(table.c.namespace == namespace, table.c.status.in_(open_statuses))
            .order_by(table.c.ts_event, self._binary(table.c.order_id))
        )
        return [order_from_row(row) for row in await self._rows(query)]

    async def list_orders(
        self, namespace: str, limit: int = 100, offset: int = 0
    ) -> list[OrderRecord]:
        """Newest first."""
        table = schema.orders
        query = (
            select(table)
            .where(table.c.namespace == namespace)
            .order_by(table.c.ts_event.desc(), self._binary(table.c.order_id).desc())
        )
        return [order_from_row(row) for row in await self._rows(_page(query, limit, offset))]

    async def _orders_by_id(self, order_ids: set[str]) -> dict[str, OrderRecord]:
        found: dict[str, OrderRecord] = {}
        ids = sorted(order_ids)
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            query = select(schema.orders).where(schema.orders.c.order_id.in_(chunk))
            found.update((row.order_id, order_from_row(row)) for row in await self._rows(query))
        return found

    # --- market data ----------------------------------------------------------------------

    async def add_bars(self, bars: Sequence[Bar]) -> None:
        await self._insert_ignore(schema.bars, [bar_row(bar) for bar in bars])

    async def load_bars(
        self, symbol: str, timeframe: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> list[Bar]:
        """Bars opening in ``[start_ns, end_ns)``, oldest first."""
        table = schema.bars
        query = select(table).where(table.c.symbol == symbol, table.c.timeframe == timeframe)
        if start_ns is not None:
            query = query.where(table.c.ts_open >= start_ns)
        if end_ns is not None:
            query = query.where(table.c.ts_open < end_ns)
        return [bar_from_row(row) for row in await self._rows(query.order_by(table.c.ts_open))]

    # --- signals and rejections -------------------------------------------------------------

    async def add_signals(self, signals: Sequence[Signal], namespace: str) -> None:
        rows = [signal_row(signal, namespace) for signal in signals]
        await self._insert_ignore(schema.signals, rows)

    async def list_signals(self, namespace: str, limit: int = 100, offset: int = 0) -> list[Signal]:
        """Newest first."""
        return await self._list_events(schema.signals, Signal, namespace, limit, offset)

    async def add_rejections(self, denials: Sequence[OrderDenied], namespace: str) -> None:
        rows = [rejection_row(denial, namespace) for denial in denials]
        await self._insert_ignore(schema.rejections, rows)

    async def list_rejections(
        self, namespace: str, limit: int = 100, offset: int = 0
    ) -> list[OrderDenied]:
        """Newest first."""
        return await self._list_events(schema.rejections, OrderDenied, namespace, limit, offset)

    async def _list_events(
        self, table: Table, kind: type[_E], namespace: str, limit: int, offset: int
    ) -> list[_E]:
        query = (
            select(table.c.payload)
            .where(table.c.namespace == namespace)
            .order_by(table.c.ts_event.desc(), self._binary(table.c.event_id).desc())
        )
        events = [from_json(row.payload) for row in await self._rows(_page(query, limit, offset))]
        return [event for event in events if isinstance(event, kind)]

    # --- portfolio state --------------------------------------------------------------------

    async def replace_positions(
        self, namespace: str, positions: Iterable[PositionLike], ts: int
    ) -> None:
        """Make the stored positions of ``namespace`` exactly ``positions``."""
        table = schema.positions
        await lock_keys(self.conn, "positions", [namespace])
        await self.conn.execute(delete(table).where(table.c.namespace == namespace))
        rows = [position_row(position, namespace, ts) for position in positions]
        if rows:
            await self.conn.execute(table.insert(), rows)

    async def load_positions(self, namespace: str) -> list[StoredPosition]:
        table = schema.positions
        query = (
            select(table)
            .where(table.c.namespace == namespace)
            .order_by(self._binary(table.c.strategy_id), self._binary(table.c.symbol))
        )
        return [position_from_row(row) for row in await self._rows(query)]

    async def set_account(
        self, namespace: str, starting_cash: Decimal, cash: Decimal, ts: int
    ) -> None:
        row = {"namespace": namespace, "starting_cash": starting_cash, "cash": cash, "ts": ts}
        await self._upsert(schema.accounts, [row])

    async def load_account(self, namespace: str) -> Account | None:
        row = await self._one(schema.accounts, schema.accounts.c.namespace == namespace)
        return None if row is None else Account(**row._asdict())

    async def add_equity_samples(self, namespace: str, samples: Sequence[EquitySample]) -> None:
        rows = [
            {"namespace": namespace, "ts": s.ts, "equity": s.equity, "cash": s.cash}
            for s in samples
        ]
        await self._upsert(schema.equity_samples, rows)

    async def load_equity(
        self, namespace: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> list[EquitySample]:
        """Samples taken in ``[start_ns, end_ns)``, oldest first."""
        table = schema.equity_samples
        query = select(table.c.ts, table.c.equity, table.c.cash).where(
            table.c.namespace == namespace
        )
        if start_ns is not None:
            query = query.where(table.c.ts >= start_ns)
        if end_ns is not None:
            query = query.where(table.c.ts < end_ns)
        rows = await self._rows(query.order_by(table.c.ts))
        return [EquitySample(**row._asdict()) for row in rows]

    async def save_risk_state(self, namespace: str, state: RiskState) -> None:
        row = {
            "namespace": namespace,
            "state": state.state.value,
            "reason": state.reason,
            "peak_equity": state.peak_equity,
            "ts": state.ts_event,
        }
        await self._upsert(schema.risk_state, [row])

    async def load_risk_state(self, namespace: str) -> StoredRiskState | None:
        row = await self._one(schema.risk_state, schema.risk_state.c.namespace == namespace)
        if row is None:
            return None
        return StoredRiskState(**{**row._asdict(), "state": TradingState(row.state)})

    # --- sessions ---------------------------------------------------------------------------

    async def create_session(self, session: SessionRecord) -> None:
        """Record a session start; creating the same session id again changes nothing."""
        await self._insert_ignore(schema.sessions, [session_row(session)])

    async def finish_session(self, session_id: str, status: SessionStatus, ended_at: int) -> None:
        if status is SessionStatus.RUNNING:
            raise ValueError(
                "status: a finished session is completed, crashed or interrupted, not running"
            )
        table = schema.sessions
        await self.conn.execute(
            update(table)
            .where(table.c.id == session_id)
            .values(status=status.value, ended_at=ended_at)
        )

    async def latest_session(self, namespace: str) -> SessionRecord | None:
        sessions = await self.list_sessions(namespace, limit=1)
        return sessions[0] if sessions else None

    async def list_sessions(
        self, namespace: str, limit: int = 100, offset: int = 0
    ) -> list[SessionRecord]:
        """Newest first."""
        table = schema.sessions
        query = (
            select(table)
            .where(table.c.namespace == namespace)
            .order_by(table.c.started_at.desc(), self._binary(table.c.id).desc())
        )
        rows = await self._rows(_page(query, limit, offset))
        return [session_from_row(row) for row in rows]

    # --- feed checkpoints -------------------------------------------------------------------

    async def get_checkpoint(self, feed_id: str) -> Checkpoint | None:
        table = schema.feed_checkpoints
        row = await self._one(table, table.c.feed_id == feed_id)
        return None if row is None else Checkpoint(**row._asdict())

    async def set_checkpoint(self, feed_id: str, position: str, ts: int) -> None:
        row = {"feed_id": feed_id, "position": position, "ts": ts}
        await self._upsert(schema.feed_checkpoints, [row])

    # --- plumbing ---------------------------------------------------------------------------

    def _binary(self, column: ColumnElement[str]) -> ColumnElement[str]:
        """``column`` compared by code point, as SQLite's default BINARY collation does."""
        return column.collate("C") if self._postgres else column

    async def _rows(self, query: Select[Any]) -> Sequence[Row[Any]]:
        rows: Sequence[Row[Any]] = (await self.conn.execute(query)).all()
        return rows

    async def _one(self, table: Table, where: Any) -> Row[Any] | None:
        return (await self.conn.execute(select(table).where(where))).first()

    async def _insert_ignore(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            statement = _dialect_insert(self.conn, table).on_conflict_do_nothing()
            await self.conn.execute(statement, rows)

    async def _upsert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        statement = _dialect_insert(self.conn, table)
        keys = [column.name for column in table.primary_key.columns]
        values = {name: statement.excluded[name] for name in rows[0] if name not in keys}
        await self.conn.execute(
            statement.on_conflict_do_update(index_elements=keys, set_=values), rows
        )


def _dialect_insert(conn: AsyncConnection, table: Table) -> sqlite.Insert | postgresql.Insert:
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise ConfigError(f"database: dialect {name!r} is not supported; use SQLite or PostgreSQL")


def _page(query: Select[Any], limit: int, offset: int) -> Select[Any]:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")
    return query.limit(limit).offset(offset)


def _fills_of(namespace: str) -> Select[Any]:
    return select(schema.fills).where(schema.fills.c.namespace == namespace)
