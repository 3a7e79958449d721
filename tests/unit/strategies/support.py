"""Hand-made market data for strategy tests."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tickmesh.core.stamp import Stamper
from tickmesh.model import Bar, Fill, Side, Signal, Tick

MINUTE_NS = 60_000_000_000
STAMPER = Stamper.deterministic("test-feed")


def bar(
    close: float,
    *,
    index: int = 0,
    symbol: str = "BTC-USD",
    timeframe: str = "1m",
    high: float | None = None,
    low: float | None = None,
) -> Bar:
    ts_close = (index + 1) * MINUTE_NS
    return Bar(
        **STAMPER(ts_close),
        symbol=symbol,
        timeframe=timeframe,
        ts_open=ts_close - MINUTE_NS,
        open=close,
        high=close if high is None else high,
        low=close if low is None else low,
        close=close,
        volume=1.0,
    )


def bars(closes: Sequence[float], *, symbol: str = "BTC-USD", timeframe: str = "1m") -> list[Bar]:
    return [bar(c, index=i, symbol=symbol, timeframe=timeframe) for i, c in enumerate(closes)]


def tick(price: float, *, symbol: str = "BTC-USD", ts: int = 1) -> Tick:
    return Tick(**STAMPER(ts), symbol=symbol, price=price, size=1.0)


def fill(
    strategy_id: str,
    side: Side,
    quantity: str,
    *,
    symbol: str = "BTC-USD",
    fill_id: str = "f1",
    order_id: str = "o1",
) -> Fill:
    return Fill(
        **STAMPER(1),
        fill_id=fill_id,
        order_id=order_id,
        strategy_id=strategy_id,
        symbol=symbol,
        side=side,
        quantity=Decimal(quantity),
        price=Decimal("100"),
    )


def summary(signals: Sequence[object]) -> list[tuple[int, Side, bool]]:
    """(bar index, side, reduce_only) of each signal, bar index taken from ts_event."""
    out = []
    for s in signals:
        assert isinstance(s, Signal)
        out.append((s.ts_event // MINUTE_NS - 1, s.side, s.reduce_only))
    return out
