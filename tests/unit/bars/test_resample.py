"""Rolling 1m bars up into higher timeframes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickmesh.bars import BarAggregator, TickBarBuilder
from tickmesh.core.errors import DataError
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Bar, Tick

from .support import (
    BASE,
    LATENESS,
    MINUTE,
    PROPERTY,
    by_symbol_and_start,
    content,
    roll_up,
    run,
    shuffle_within,
    trade_streams,
)

DYADIC_SIZES = st.integers(1, 10**6).map(lambda n: n / 64)  # sums are exact in any grouping


def aggregator(*targets: str) -> BarAggregator:
    return BarAggregator(Stamper.deterministic("agg"), "1m", targets or ("5m", "15m", "1h"))


def minute_bar(
    minute: int,
    open_: float = 10.0,
    close: float = 10.0,
    volume: float = 1.0,
    symbol: str = "BTC-USD",
    timeframe: str = "1m",
) -> Bar:
    t0 = BASE + minute * MINUTE
    return Bar(
        event_id=f"b{minute}",
        ts_event=t0 + MINUTE,
        ts_init=0,
        symbol=symbol,
        timeframe=timeframe,
        ts_open=t0,
        open=open_,
        high=max(open_, close) + 1,
        low=min(open_, close) - 1,
        close=close,
        volume=volume,
        trade_count=2,
    )


@PROPERTY
@given(data=st.data(), ticks=trade_streams(DYADIC_SIZES, max_minutes=150), lateness=LATENESS)
def test_rolled_up_bars_equal_bars_built_from_ticks(
    data: st.DataObject, ticks: list[Tick], lateness: int
) -> None:
    arrival = shuffle_within(data, ticks, lateness)
    stamper = Stamper.deterministic("bars")
    minutes = run(TickBarBuilder(stamper, "1m", allowed_lateness_ns=lateness), arrival)

    rolled = roll_up(aggregator("5m", "1h"), minutes)

    for tf in ("5m", "1h"):
        direct = run(TickBarBuilder(stamper, tf, allowed_lateness_ns=lateness), arrival)
        assert by_symbol_and_start(b for b in rolled if b.timeframe == tf) == by_symbol_and_start(
            direct
        )


def test_source_bar_closing_at_end_emits_immediately() -> None:
    agg = aggregator("5m")
    for minute in range(4):
        assert agg.on_bar(minute_bar(minute)) == []

    (bar,) = agg.on_bar(minute_bar(4, close=12.0))

    assert content(bar) == (
        "BTC-USD",
        "5m",
        BASE,
        BASE + 5 * MINUTE,
        10.0,
        13.0,
        9.0,
        12.0,
        5.0,
        10,
    )


def test_source_bar_after_gap_emits_unfinished_bar() -> None:
    agg = aggregator("5m")
    agg.on_bar(minute_bar(1, open_=7.0))
    agg.on_bar(minute_bar(2, close=8.0))

    (bar,) = agg.on_bar(minute_bar(7))

    assert (bar.ts_open, bar.open, bar.close, bar.trade_count) == (BASE, 7.0, 8.0, 4)


def test_higher_bars_align_to_the_epoch() -> None:
    agg = aggregator("15m")
    agg.on_bar(minute_bar(20))

    (bar,) = agg.flush()

    assert bar.ts_open == BASE + 15 * MINUTE
    assert bar.ts_open % (15 * MINUTE) == 0


def test_one_source_bar_can_close_every_target() -> None:
    agg = aggregator()
    for minute in range(59):
        agg.on_bar(minute_bar(minute))

    out = agg.on_bar(minute_bar(59))

    assert [(b.timeframe, b.ts_open) for b in out] == [
        ("5m", BASE + 55 * MINUTE),
        ("15m", BASE + 45 * MINUTE),
        ("1h", BASE),
    ]


def test_redelivered_source_bar_is_counted_and_ignored() -> None:
    agg = aggregator("5m")
    agg.on_bar(minute_bar(0, volume=2.0))

    agg.on_bar(minute_bar(0, volume=2.0))
    (bar,) = agg.flush()

    assert (bar.volume, agg.duplicates, agg.bars) == (2.0, 1, 2)


def test_source_bar_for_emitted_bar_is_late() -> None:
    agg = aggregator("5m")
    agg.on_bar(minute_bar(1))
    agg.on_bar(minute_bar(6))

    out = agg.on_bar(minute_bar(2))

    assert out == []
    assert agg.late_dropped == 1
    assert [b.ts_open for b in agg.flush()] == [BASE + 5 * MINUTE]


def test_symbols_roll_up_separately() -> None:
    agg = aggregator("5m")
    agg.on_bar(minute_bar(0, symbol="BTC-USD"))

    out = agg.on_bar(minute_bar(8, symbol="ETH-USD"))

    assert out == []
    assert sorted(b.symbol for b in agg.flush()) == ["BTC-USD", "ETH-USD"]


def test_bar_of_another_timeframe_raises_data_error() -> None:
    with pytest.raises(DataError, match="5m"):
        aggregator().on_bar(minute_bar(0, timeframe="5m"))


@pytest.mark.parametrize(
    ("source", "targets"),
    [("5m", ("1m",)), ("5m", ("5m",)), ("1m", ()), ("1m", ("5m", "5m"))],
)
def test_bad_target_timeframes_raise(source: str, targets: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="target_tfs"):
        BarAggregator(Stamper.deterministic("agg"), source, targets)
