"""Order rows follow their lifecycle events, idempotently and monotonically."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tickmesh.core.stamp import Stamper
from tickmesh.model import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    OrderRejected,
    OrderType,
    Side,
)
from tickmesh.storage import Database, OrderStatus
from tickmesh.storage.order_lifecycle import apply_order_event

from .conftest import NS, make_fill

ORDER: dict[str, Any] = {
    "order_id": "o1",
    "strategy_id": "sma-1",
    "symbol": "BTC-USD",
    "side": Side.BUY,
}


def _intent(stamper: Stamper, ts: int) -> OrderIntent:
    return OrderIntent(**stamper(ts, "sig-1"), signal_id="sig-1", quantity=Decimal("2"), **ORDER)


def _accepted(stamper: Stamper, ts: int) -> OrderAccepted:
    return OrderAccepted(
        **stamper(ts, "sig-1"),
        quantity=Decimal("2.0"),
        order_type=OrderType.LIMIT,
        limit_price=Decimal("100.10"),
        **ORDER,
    )


def _partial(stamper: Stamper, ts: int, filled: str, leaves: str) -> OrderPartiallyFilled:
    return OrderPartiallyFilled(
        **stamper(ts, "sig-1"),
        fill=make_fill(stamper, f"f{ts}", ts),
        filled_quantity=Decimal(filled),
        leaves_quantity=Decimal(leaves),
        **ORDER,
    )


def _filled(stamper: Stamper, ts: int) -> OrderFilled:
    return OrderFilled(
        **stamper(ts, "sig-1"),
        fill=make_fill(stamper, f"f{ts}", ts),
        filled_quantity=Decimal("2.0"),
        **ORDER,
    )


async def test_order_lifecycle_upsert_tracks_status_and_filled(
    db: Database, stamper: Stamper
) -> None:
    async with db.transaction() as repo:
        await repo.upsert_orders([_intent(stamper, 1)], NS)
        pending = await repo.get_order("o1")
        await repo.upsert_orders([_accepted(stamper, 2), _partial(stamper, 3, "0.5", "1.5")], NS)
        partial = await repo.get_order("o1")
        await repo.upsert_orders([_filled(stamper, 4)], NS)
        filled = await repo.get_order("o1")

    assert pending is not None
    assert partial is not None
    assert filled is not None
    assert (pending.status, pending.quantity, pending.signal_id) == (
        OrderStatus.PENDING,
        Decimal("2"),
        "sig-1",
    )
    assert (partial.status, partial.filled_quantity) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal("0.5"),
    )
    assert (filled.status, filled.filled_quantity, filled.ts_event, filled.updated_ts) == (
        OrderStatus.FILLED,
        Decimal("2.0"),
        1,
        4,
    )
    assert (filled.order_type, filled.limit_price, filled.correlation_id) == (
        OrderType.LIMIT,
        Decimal("100.10"),
        "sig-1",
    )


async def test_redelivered_events_after_fill_change_nothing(db: Database, stamper: Stamper) -> None:
    events = [_accepted(stamper, 2), _partial(stamper, 3, "0.5", "1.5"), _filled(stamper, 4)]

    async with db.transaction() as repo:
        await repo.upsert_orders(events, NS)
        before = await repo.get_order("o1")
        await repo.upsert_orders(list(reversed(events)), NS)
        after = await repo.get_order("o1")

    assert after == before
    assert after is not None
    assert after.status is OrderStatus.FILLED


def test_first_seen_fill_implies_quantity(stamper: Stamper) -> None:
    record = apply_order_event(None, _partial(stamper, 3, "0.5", "1.5"), NS)

    assert (record.status, record.quantity, record.order_type) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal("2.0"),
        None,
    )


def test_terminal_status_is_final(stamper: Stamper) -> None:
    rejected = OrderRejected(**stamper(2), reason="insufficient cash", **ORDER)
    canceled = OrderCanceled(**stamper(3), **ORDER)

    record = apply_order_event(apply_order_event(None, rejected, NS), canceled, NS)

    assert record.status is OrderStatus.REJECTED


def test_accepted_after_intent_restates_terms(stamper: Stamper) -> None:
    record = apply_order_event(
        apply_order_event(None, _intent(stamper, 1), NS), _accepted(stamper, 2), NS
    )

    assert (record.quantity, record.order_type, record.signal_id) == (
        Decimal("2.0"),
        OrderType.LIMIT,
        "sig-1",
    )


async def test_list_orders_newest_first_within_namespace(db: Database, stamper: Stamper) -> None:
    other = {**ORDER, "order_id": "o2"}
    live = {**ORDER, "order_id": "o3"}

    async with db.transaction() as repo:
        await repo.upsert_orders([_accepted(stamper, 2)], NS)
        await repo.upsert_orders([OrderCanceled(**stamper(5), **other)], NS)
        await repo.upsert_orders([OrderCanceled(**stamper(9), **live)], "live")
        listed = await repo.list_orders(NS)

    assert [order.order_id for order in listed] == ["o2", "o1"]


async def test_concurrent_write_units_both_commit(db: Database, stamper: Stamper) -> None:
    async def write(order_id: str, ts: int) -> None:
        async with db.transaction() as repo:
            await repo.upsert_orders(
                [OrderCanceled(**stamper(ts), **{**ORDER, "order_id": order_id})], NS
            )
            await asyncio.sleep(0.01)
            await repo.set_checkpoint("feed", order_id, ts)

    await asyncio.gather(write("a", 1), write("b", 2))

    async with db.reader() as repo:
        assert {order.order_id for order in await repo.list_orders(NS)} == {"a", "b"}


async def test_load_open_orders_skips_terminal_ones(db: Database, stamper: Stamper) -> None:
    done = {**ORDER, "order_id": "o2"}

    async with db.transaction() as repo:
        await repo.upsert_orders([_accepted(stamper, 2), _partial(stamper, 3, "1", "1")], NS)
        await repo.upsert_orders([OrderCanceled(**stamper(4), **done)], NS)
        open_orders = await repo.load_open_orders(NS)

    assert [(order.order_id, order.status) for order in open_orders] == [
        ("o1", OrderStatus.PARTIALLY_FILLED)
    ]
