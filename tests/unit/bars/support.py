"""Trade streams, reference bars and helpers shared by the bar tests."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tickmesh.bars import BarAggregator, TickBarBuilder
from tickmesh.model.events import Bar, Tick, TickBatch

NS = 1_000_000_000
MINUTE = 60 * NS
BASE = 1_699_999_200 * NS  # a whole hour, so every timeframe starts a bar here
STEP = NS // 2  # coarse event times, so equal timestamps are common
SYMBOLS = ("BTC-USD", "ETH-USD")
LATENESS = st.sampled_from([0, NS, 45 * NS, 150 * NS])

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Content = tuple[Any, ...]


def tick(
    ts: int, price: float, size: float = 1.0, trade_id: str = "", symbol: str = "BTC-USD"
) -> Tick:
    return Tick(
        event_id=f"t{ts}",
        ts_event=ts,
        ts_init=ts,
        symbol=symbol,
        price=price,
        size=size,
        trade_id=trade_id,
    )


def tick_batch(symbol: str, ticks: Sequence[Tick]) -> TickBatch:
    return TickBatch(
        event_id="b",
        ts_event=max((t.ts_event for t in ticks), default=0),
        ts_init=0,
        symbol=symbol,
        ts=np.array([t.ts_event for t in ticks], dtype="<i8").tobytes(),
        price=np.array([t.price for t in ticks], dtype="<f8").tobytes(),
        size=np.array([t.size for t in ticks], dtype="<f8").tobytes(),
    )


def content(bar: Bar) -> Content:
    """Everything about a bar except the fields the stamper fills in."""
    return (
        bar.symbol,
        bar.timeframe,
        bar.ts_open,
        bar.ts_event,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.trade_count,
    )


def run(builder: TickBarBuilder, ticks: Iterable[Tick]) -> list[Bar]:
    out = [bar for t in ticks for bar in builder.on_tick(t)]
    return out + builder.flush()


def roll_up(aggregator: BarAggregator, bars: Iterable[Bar]) -> list[Bar]:
    out = [higher for bar in bars for higher in aggregator.on_bar(bar)]
    return out + aggregator.flush()


def by_symbol_and_start(bars: Iterable[Bar]) -> list[Content]:
    return sorted(content(bar) for bar in bars)


def reference_bars(ticks: Iterable[Tick], timeframe: str, tf_ns: int) -> list[Content]:
    """Bars by a plain group-by over all trades: what the builder must produce when none is late."""
    groups: dict[tuple[str, int], list[Tick]] = defaultdict(list)
    for t in ticks:
        groups[t.symbol, t.ts_event - t.ts_event % tf_ns].append(t)
    rows = []
    for (symbol, t0), trades in sorted(groups.items()):
        prices = [t.price for t in trades]
        first = min(trades, key=lambda t: (t.ts_event, t.trade_id))
        last = max(trades, key=lambda t: (t.ts_event, t.trade_id))
        volume = math.fsum(t.size for t in trades)
        rows.append(
            (
                symbol,
                timeframe,
                t0,
                t0 + tf_ns,
                first.price,
                max(prices),
                min(prices),
                last.price,
                volume,
                len(trades),
            )
        )
    return rows


@st.composite
def trade_streams(
    draw: st.DrawFn, sizes: st.SearchStrategy[float] | None = None, max_minutes: int = 12
) -> list[Tick]:
    """Trades of a few symbols with unique trade ids, sorted by (ts_event, trade_id)."""
    size_strategy = (
        sizes if sizes is not None else st.floats(0.0, 1e4, allow_nan=False, allow_infinity=False)
    )
    price = st.floats(1.0, 1e5, allow_nan=False, allow_infinity=False)
    step = draw(st.sampled_from([STEP, 20 * STEP]))  # coarse steps make equal timestamps common
    steps = st.integers(0, max_minutes * MINUTE // step)
    rows = draw(
        st.lists(st.tuples(steps, price, size_strategy, st.sampled_from(SYMBOLS)), max_size=120)
    )
    ticks = [
        tick(BASE + n * step, p, s, trade_id=f"{i:05d}", symbol=sym)
        for i, (n, p, s, sym) in enumerate(rows)
    ]
    return sorted(ticks, key=lambda t: (t.ts_event, t.trade_id))


def shuffle_within(data: st.DataObject, ticks: list[Tick], lateness_ns: int) -> list[Tick]:
    """An arrival order where no trade is more than ``lateness_ns`` behind the newest one seen:
    each trade arrives at ts + delay with delay <= lateness."""
    delays = data.draw(
        st.lists(st.integers(0, lateness_ns), min_size=len(ticks), max_size=len(ticks))
    )
    noise = data.draw(st.randoms(use_true_random=False))
    arrival = [(t.ts_event + d, noise.random(), t) for t, d in zip(ticks, delays, strict=True)]
    return [t for *_, t in sorted(arrival, key=lambda row: row[:2])]
