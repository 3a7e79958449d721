"""The cache writer: newest value per seed key, written at flush, heartbeats expiring."""

from __future__ import annotations

import json
from decimal import Decimal

from tickmesh import topics
from tickmesh.core.clock import SimulatedClock
from tickmesh.model import Bar, Heartbeat, PortfolioSnapshot, PositionSnapshot, Tick
from tickmesh.services.cache_writer import CacheWriter
from tickmesh.storage import MemoryCache

D = Decimal


def tick(price: float, n: int) -> Tick:
    return Tick(event_id=f"t{n}", ts_event=n, ts_init=n, symbol="BTC", price=price, size=1.0)


def position(strategy: str) -> PositionSnapshot:
    return PositionSnapshot(
        event_id=f"p-{strategy}", ts_event=5, ts_init=5, strategy_id=strategy, symbol="BTC",
        quantity=D("0.5"), avg_price=D("100"), last_price=D("101"), realized_pnl=D(0),
        unrealized_pnl=D("0.5"),
    )  # fmt: skip


def snapshot(strategy_id: str = "") -> PortfolioSnapshot:
    return PortfolioSnapshot(
        event_id=f"s{strategy_id}", ts_event=5, ts_init=5, strategy_id=strategy_id,
        cash=D("1000"), equity=D("1100.5"), realized_pnl=D(0), unrealized_pnl=D("1"), fees=D(0),
        gross_exposure=D("101"), net_exposure=D("101"), open_positions=2,
        positions=(position("a"), position("b")) if not strategy_id else (),
    )  # fmt: skip


async def test_only_the_newest_value_per_key_is_written_at_flush() -> None:
    cache = MemoryCache(SimulatedClock())
    writer = CacheWriter(cache, "paper", ["1m"])
    for n, price in enumerate((100.0, 101.0, 102.0)):
        writer.handle(topics.MARKET_TICKS, tick(price, n))

    assert await cache.keys() == []
    await writer.flush()

    last = await cache.get_event("market:snapshot:BTC", Tick)
    assert last is not None
    assert last.price == 102.0
    assert writer.writes == 1


async def test_portfolio_snapshots_fill_the_portfolio_and_positions_keys() -> None:
    cache = MemoryCache(SimulatedClock())
    writer = CacheWriter(cache, "paper", ["1m"])
    writer.handle(topics.portfolio("paper"), snapshot())
    writer.handle(topics.portfolio("paper"), snapshot("a"))

    await writer.flush()

    assert sorted(await cache.keys()) == [
        "paper:portfolio:a",
        "paper:portfolio:all",
        "paper:positions:BTC",
    ]
    stored = await cache.get_event("paper:portfolio:all", PortfolioSnapshot)
    assert stored is not None
    assert stored.equity == D("1100.5")
    raw = await cache.get("paper:positions:BTC")
    assert raw is not None
    assert [p["strategy_id"] for p in json.loads(raw)] == ["a", "b"]


async def test_heartbeats_expire_when_the_service_goes_quiet() -> None:
    clock = SimulatedClock()
    cache = MemoryCache(clock)
    writer = CacheWriter(cache, "paper", ["1m"])
    writer.handle(topics.SYSTEM_HEARTBEATS, Heartbeat(event_id="h", ts_event=1, ts_init=1,
                                                      service="bars"))  # fmt: skip
    await writer.flush()

    assert await cache.keys("svc:hb:*") == ["svc:hb:bars"]
    clock.advance_to(clock.now_ns() + 31 * 1_000_000_000)
    assert await cache.keys("svc:hb:*") == []


def test_bars_count_as_market_snapshots() -> None:
    writer = CacheWriter(MemoryCache(SimulatedClock()), "paper", ["1m", "5m"])

    assert "market.bars.5m" in writer.inputs()
    writer.handle(topics.bars("1m"), Bar(event_id="b", ts_event=60, ts_init=60, symbol="ETH",
                                         timeframe="1m", ts_open=0, open=1, high=1, low=1,
                                         close=1, volume=1))  # fmt: skip
    assert list(writer._pending) == ["market:snapshot:ETH"]
