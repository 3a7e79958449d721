"""Concurrent writers, in other processes and on other connections, stay correct on both backends.

The dangerous writes are the ones that read before they write: folding an order event reads
the order, and replacing positions deletes then inserts. Without a lock, two units on
PostgreSQL both read the old state and the later commit silently erases the earlier one.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from decimal import Decimal
from multiprocessing.synchronize import Barrier
from typing import Any

from tickmesh.core.stamp import Stamper
from tickmesh.model import (
    OrderAccepted,
    OrderFilled,
    OrderType,
    PositionSnapshot,
    Side,
)
from tickmesh.storage import Database, OrderStatus

from .conftest import NS, make_fill

ORDERS = 60
FILLS = 40
PROCESS_TIMEOUT_S = 120


def _order_events(
    worker: int, order_id: str, stamper: Stamper
) -> list[OrderAccepted | OrderFilled]:
    """Worker 0 learns the order was accepted (and its terms); worker 1 that it filled."""
    terms: dict[str, Any] = {
        "order_id": order_id,
        "strategy_id": "sma-1",
        "symbol": "BTC-USD",
        "side": Side.BUY,
    }
    if worker == 0:
        return [
            OrderAccepted(
                **stamper(1),
                quantity=Decimal("2"),
                order_type=OrderType.LIMIT,
                limit_price=Decimal("100.5"),
                **terms,
            )
        ]
    fill = make_fill(stamper, f"fill-{order_id}", 2, quantity="2")
    return [OrderFilled(**stamper(2), fill=fill, filled_quantity=Decimal("2"), **terms)]


async def _write(url: str, worker: int, start: Barrier) -> None:
    stamper = Stamper.deterministic(f"worker-{worker}", NS)
    shared_fills = [make_fill(stamper, f"shared-{index}", index) for index in range(FILLS)]
    async with Database(url) as database:
        async with database.reader() as repo:  # connected and warm before the race starts
            await repo.get_order("o0")
        await asyncio.to_thread(start.wait, PROCESS_TIMEOUT_S)
        for index in range(ORDERS):
            async with database.transaction() as repo:
                await repo.upsert_orders(_order_events(worker, f"o{index}", stamper), NS)
            async with database.transaction() as repo:
                await repo.add_fills(shared_fills[index % FILLS : index % FILLS + 2], NS)


def _worker(url: str, worker: int, start: Barrier) -> None:
    asyncio.run(_write(url, worker, start))


async def _run_processes(url: str, count: int) -> list[int | None]:
    """Run ``count`` writer processes that start writing at the same moment."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(count)
    processes = [
        context.Process(target=_worker, args=(url, index, start)) for index in range(count)
    ]
    for process in processes:
        process.start()
    for process in processes:
        await asyncio.to_thread(process.join, PROCESS_TIMEOUT_S)
        if process.is_alive():
            process.kill()
    return [process.exitcode for process in processes]


async def test_two_processes_folding_events_into_same_orders_lose_nothing(db: Database) -> None:
    url = db.url.render_as_string(hide_password=False)

    exit_codes = await _run_processes(url, 2)

    assert exit_codes == [0, 0]
    async with db.reader() as repo:
        orders = await repo.list_orders(NS, limit=ORDERS)
        fills = await repo.load_fills(NS)
    assert len(orders) == ORDERS
    assert {(o.status, o.filled_quantity, o.order_type, o.limit_price) for o in orders} == {
        (OrderStatus.FILLED, Decimal("2"), OrderType.LIMIT, Decimal("100.5"))
    }
    assert sorted(fill.fill_id for fill in fills) == sorted(f"shared-{i}" for i in range(FILLS))


def _positions(stamper: Stamper, symbols: list[str], quantity: str) -> list[PositionSnapshot]:
    return [
        PositionSnapshot(
            **stamper(1),
            strategy_id="sma-1",
            symbol=symbol,
            quantity=Decimal(quantity),
            avg_price=Decimal("10"),
            last_price=Decimal("10"),
            realized_pnl=Decimal(0),
            unrealized_pnl=Decimal(0),
        )
        for symbol in symbols
    ]


async def test_concurrent_position_replacements_leave_exactly_one_set(
    db: Database, stamper: Stamper
) -> None:
    other = Database(db.url.render_as_string(hide_password=False))
    await other.connect()
    sets = {
        "1": _positions(stamper, ["BTC-USD", "ETH-USD"], "1"),
        "2": _positions(stamper, ["ETH-USD", "SOL-USD"], "2"),
    }

    async def replace(database: Database, quantity: str, rounds: int) -> None:
        for ts in range(rounds):
            async with database.transaction() as repo:
                await repo.replace_positions(NS, sets[quantity], ts=ts)
                await asyncio.sleep(0)  # let the other unit's statements interleave with ours

    try:
        await asyncio.gather(replace(db, "1", 30), replace(other, "2", 30))
    finally:
        await other.close()

    async with db.reader() as repo:
        stored = await repo.load_positions(NS)
    quantities = {position.quantity for position in stored}
    assert len(quantities) == 1
    (quantity,) = quantities
    assert [p.symbol for p in stored] == [p.symbol for p in sets[str(quantity)]]
