"""Folds order lifecycle events into an :class:`OrderRecord`.

The fold is monotone so redelivered or reordered events change nothing: status only moves
forward (a terminal status is final), the filled quantity only grows, and the order's terms are
kept once known (an ``OrderAccepted`` restates them authoritatively).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from tickmesh.model import (
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderFailed,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    OrderRejected,
)
from tickmesh.storage.records import OrderRecord, OrderStatus

OrderUpdate = OrderIntent | OrderEvent

_STATUS_OF: dict[type[OrderUpdate], OrderStatus] = {
    OrderIntent: OrderStatus.PENDING,
    OrderAccepted: OrderStatus.ACCEPTED,
    OrderPartiallyFilled: OrderStatus.PARTIALLY_FILLED,
    OrderFilled: OrderStatus.FILLED,
    OrderCanceled: OrderStatus.CANCELED,
    OrderRejected: OrderStatus.REJECTED,
    OrderFailed: OrderStatus.FAILED,
}

_RANK = {
    OrderStatus.PENDING: 0,
    OrderStatus.ACCEPTED: 1,
    OrderStatus.PARTIALLY_FILLED: 2,
}


def status_of(event: OrderUpdate) -> OrderStatus:
    try:
        return _STATUS_OF[type(event)]
    except KeyError:
        raise TypeError(f"not an order lifecycle event: {type(event).__name__}") from None


def apply_order_event(
    record: OrderRecord | None, event: OrderUpdate, namespace: str
) -> OrderRecord:
    """The record after ``event``; ``record`` is ``None`` for an order not seen before."""
    base = record if record is not None else _new_record(event, namespace)
    return _advance(_with_terms(base, event), event)


def _new_record(event: OrderUpdate, namespace: str) -> OrderRecord:
    return OrderRecord(
        order_id=event.order_id,
        namespace=namespace,
        strategy_id=event.strategy_id,
        symbol=event.symbol,
        side=event.side,
        status=OrderStatus.PENDING,
        filled_quantity=Decimal(0),
        ts_event=event.ts_event,
        updated_ts=event.ts_event,
        correlation_id=event.correlation_id,
    )


def _with_terms(record: OrderRecord, event: OrderUpdate) -> OrderRecord:
    if isinstance(event, OrderIntent):
        record = replace(record, signal_id=record.signal_id or event.signal_id)
    if isinstance(event, OrderAccepted) or (
        isinstance(event, OrderIntent) and record.quantity is None
    ):
        return replace(
            record,
            quantity=event.quantity,
            order_type=event.order_type,
            limit_price=event.limit_price,
        )
    if record.quantity is None:
        return replace(record, quantity=_implied_quantity(event))
    return record


def _implied_quantity(event: OrderUpdate) -> Decimal | None:
    if isinstance(event, OrderPartiallyFilled):
        return event.filled_quantity + event.leaves_quantity
    if isinstance(event, OrderFilled):
        return event.filled_quantity
    return None


def _advance(record: OrderRecord, event: OrderUpdate) -> OrderRecord:
    return replace(
        record,
        status=_next_status(record.status, status_of(event)),
        filled_quantity=max(record.filled_quantity, _filled_quantity(event)),
        ts_event=min(record.ts_event, event.ts_event),
        updated_ts=max(record.updated_ts, event.ts_event),
        correlation_id=record.correlation_id or event.correlation_id,
    )


def _next_status(current: OrderStatus, incoming: OrderStatus) -> OrderStatus:
    if current.is_terminal:
        return current
    if incoming.is_terminal or _RANK[incoming] > _RANK[current]:
        return incoming
    return current


def _filled_quantity(event: OrderUpdate) -> Decimal:
    if isinstance(event, OrderPartiallyFilled | OrderFilled | OrderCanceled):
        return event.filled_quantity
    return Decimal(0)
