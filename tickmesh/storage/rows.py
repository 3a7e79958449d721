"""Conversions between events or records and table rows, one pair per table.

Events come back exactly as stored: fills and bars from their columns, signals and rejections
from the JSON payload kept next to their queryable columns. Bars are market data shared by every
namespace, so a bar's ``namespace`` and ``correlation_id`` are not kept.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Row

from tickmesh.model import Bar, Fill, OrderDenied, OrderType, Side, Signal, to_json
from tickmesh.model.position import PositionLike
from tickmesh.storage.records import (
    OrderRecord,
    OrderStatus,
    SessionRecord,
    SessionStatus,
    StoredPosition,
)

_positions_decoder = msgspec.json.Decoder(dict[str, Decimal])


def fill_row(fill: Fill, namespace: str, session_id: str | None) -> dict[str, Any]:
    return {
        "fill_id": fill.fill_id,
        "event_id": fill.event_id,
        "namespace": namespace,
        "order_id": fill.order_id,
        "strategy_id": fill.strategy_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "liquidity": fill.liquidity,
        "ts_event": fill.ts_event,
        "ts_init": fill.ts_init,
        "source": fill.source,
        "correlation_id": fill.correlation_id,
        "session_id": session_id,
    }


def fill_from_row(row: Row[Any]) -> Fill:
    return Fill(
        event_id=row.event_id,
        ts_event=row.ts_event,
        ts_init=row.ts_init,
        source=row.source,
        namespace=row.namespace,
        correlation_id=row.correlation_id,
        fill_id=row.fill_id,
        order_id=row.order_id,
        strategy_id=row.strategy_id,
        symbol=row.symbol,
        side=Side(row.side),
        quantity=row.quantity,
        price=row.price,
        fee=row.fee,
        liquidity=row.liquidity,
    )


_BAR_FIELDS = (
    "symbol",
    "timeframe",
    "ts_open",
    "ts_event",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trade_count",
    "event_id",
    "ts_init",
    "source",
)


def bar_row(bar: Bar) -> dict[str, Any]:
    return {name: getattr(bar, name) for name in _BAR_FIELDS}


def bar_from_row(row: Row[Any]) -> Bar:
    return Bar(**row._asdict())


def signal_row(signal: Signal, namespace: str) -> dict[str, Any]:
    return {
        "event_id": signal.event_id,
        "namespace": namespace,
        "strategy_id": signal.strategy_id,
        "symbol": signal.symbol,
        "side": signal.side.value,
        "price": signal.price,
        "reason": signal.reason,
        "ts_event": signal.ts_event,
        "payload": to_json(signal).decode(),
    }


def rejection_row(denial: OrderDenied, namespace: str) -> dict[str, Any]:
    return {
        "event_id": denial.event_id,
        "namespace": namespace,
        "signal_id": denial.signal_id,
        "strategy_id": denial.strategy_id,
        "symbol": denial.symbol,
        "side": denial.side.value,
        "reason": denial.reason.value,
        "detail": denial.detail,
        "ts_event": denial.ts_event,
        "payload": to_json(denial).decode(),
    }


def position_row(position: PositionLike, namespace: str, ts: int) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "strategy_id": position.strategy_id,
        "symbol": position.symbol,
        "quantity": position.quantity,
        "avg_price": position.avg_price,
        "realized_pnl": position.realized_pnl,
        "ts": ts,
    }


def position_from_row(row: Row[Any]) -> StoredPosition:
    return StoredPosition(
        strategy_id=row.strategy_id,
        symbol=row.symbol,
        quantity=row.quantity,
        avg_price=row.avg_price,
        realized_pnl=row.realized_pnl,
        ts=row.ts,
    )


def order_row(record: OrderRecord) -> dict[str, Any]:
    return {
        "order_id": record.order_id,
        "namespace": record.namespace,
        "strategy_id": record.strategy_id,
        "symbol": record.symbol,
        "side": record.side.value,
        "quantity": record.quantity,
        "order_type": None if record.order_type is None else record.order_type.value,
        "limit_price": record.limit_price,
        "status": record.status.value,
        "filled_quantity": record.filled_quantity,
        "signal_id": record.signal_id,
        "correlation_id": record.correlation_id,
        "ts_event": record.ts_event,
        "updated_ts": record.updated_ts,
    }


def order_from_row(row: Row[Any]) -> OrderRecord:
    values = row._asdict()
    return OrderRecord(
        **{
            **values,
            "side": Side(row.side),
            "status": OrderStatus(row.status),
            "order_type": None if row.order_type is None else OrderType(row.order_type),
        }
    )


def session_row(session: SessionRecord) -> dict[str, Any]:
    return {
        "id": session.id,
        "namespace": session.namespace,
        "started_at": session.started_at,
        "status": session.status.value,
        "config_fingerprint": session.config_fingerprint,
        "seed": session.seed,
        "start_cash": session.start_cash,
        "start_positions": msgspec.json.encode(session.start_positions).decode(),
        "ended_at": session.ended_at,
    }


def session_from_row(row: Row[Any]) -> SessionRecord:
    values = row._asdict()
    return SessionRecord(
        **{
            **values,
            "status": SessionStatus(row.status),
            "start_positions": _positions_decoder.decode(row.start_positions),
        }
    )
