"""Worked examples of the tick bar builder's contract."""

from __future__ import annotations

import pytest

from tickmesh.bars import TickBarBuilder
from tickmesh.core.errors import DataError
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import TickBatch

from .support import BASE, MINUTE, NS, content, tick, tick_batch


def builder(lateness_ns: int = 0, timeframe: str = "1m") -> TickBarBuilder:
    return TickBarBuilder(Stamper.deterministic("bars"), timeframe, allowed_lateness_ns=lateness_ns)


def test_watermark_reaching_close_plus_lateness_emits_bar() -> None:
    b = builder(lateness_ns=5 * NS)
    b.on_tick(tick(BASE + 10 * NS, 100.0, 2.0))

    before = b.on_tick(tick(BASE + MINUTE + 5 * NS - 1, 101.0))
    at = b.on_tick(tick(BASE + MINUTE + 5 * NS, 102.0))

    assert before == []
    assert [content(bar) for bar in at] == [
        ("BTC-USD", "1m", BASE, BASE + MINUTE, 100.0, 100.0, 100.0, 100.0, 2.0, 1)
    ]


def test_emitted_bar_carries_close_time_as_ts_event() -> None:
    b = builder()
    b.on_tick(tick(BASE + NS, 100.0))

    (bar,) = b.on_tick(tick(BASE + MINUTE, 101.0))

    assert (bar.ts_open, bar.ts_event, bar.source) == (BASE, BASE + MINUTE, "bars")


def test_late_tick_for_open_bar_amends_it() -> None:
    b = builder(lateness_ns=30 * NS)
    b.on_tick(tick(BASE + 30 * NS, 100.0))
    b.on_tick(tick(BASE + MINUTE + 10 * NS, 100.0))

    b.on_tick(tick(BASE + 5 * NS, 90.0, 3.0))
    (bar,) = b.on_tick(tick(BASE + MINUTE + 30 * NS, 100.0))

    assert (bar.open, bar.low, bar.volume, bar.trade_count) == (90.0, 90.0, 4.0, 2)
    assert b.late_dropped == 0


def test_tick_for_emitted_bar_is_dropped_and_counted() -> None:
    b = builder()
    b.on_tick(tick(BASE + NS, 100.0))
    b.on_tick(tick(BASE + MINUTE, 100.0))

    out = b.on_tick(tick(BASE + 2 * NS, 50.0))
    rest = b.flush()

    assert out == []
    assert b.late_dropped == 1
    assert [bar.ts_open for bar in rest] == [BASE + MINUTE]


def test_tick_for_empty_closed_bar_is_late_too() -> None:
    b = builder()
    b.on_tick(tick(BASE + 5 * MINUTE, 100.0))

    b.on_tick(tick(BASE + NS, 100.0))

    assert b.late_dropped == 1
    assert [bar.ts_open for bar in b.flush()] == [BASE + 5 * MINUTE]


def test_gap_without_trades_emits_no_bar() -> None:
    b = builder()
    b.on_tick(tick(BASE, 100.0))

    out = b.on_tick(tick(BASE + 3 * MINUTE, 101.0))

    assert [bar.ts_open for bar in out] == [BASE]


def test_duplicate_trade_id_is_ignored_and_counted() -> None:
    b = builder()
    b.on_tick(tick(BASE, 100.0, 1.0, trade_id="7"))

    b.on_tick(tick(BASE, 100.0, 1.0, trade_id="7"))
    (bar,) = b.flush()

    assert (bar.volume, bar.trade_count, b.duplicates, b.ticks) == (1.0, 1, 1, 2)


def test_ticks_without_trade_id_are_never_duplicates() -> None:
    b = builder()
    b.on_tick(tick(BASE, 100.0))

    b.on_tick(tick(BASE, 100.0))
    (bar,) = b.flush()

    assert (bar.trade_count, b.duplicates) == (2, 0)


def test_equal_timestamps_without_trade_id_tie_break_by_arrival() -> None:
    b = builder()
    for price in (3.0, 1.0, 2.0):
        b.on_tick(tick(BASE + NS, price))

    (bar,) = b.flush()

    assert (bar.open, bar.close) == (3.0, 2.0)


def test_equal_timestamps_tie_break_by_trade_id_not_arrival() -> None:
    b = builder()
    b.on_tick(tick(BASE + NS, 2.0, trade_id="b"))
    b.on_tick(tick(BASE + NS, 1.0, trade_id="a"))

    (bar,) = b.flush()

    assert (bar.open, bar.close) == (1.0, 2.0)


def test_symbols_keep_separate_watermarks() -> None:
    b = builder()
    b.on_tick(tick(BASE, 100.0, symbol="BTC-USD"))

    out = b.on_tick(tick(BASE + 5 * MINUTE, 10.0, symbol="ETH-USD"))
    b.on_tick(tick(BASE + NS, 101.0, symbol="BTC-USD"))

    assert out == []
    assert b.late_dropped == 0


def test_tick_after_flush_for_flushed_bar_is_late() -> None:
    b = builder(lateness_ns=30 * NS)
    b.on_tick(tick(BASE + 10 * NS, 100.0))
    b.flush()

    b.on_tick(tick(BASE + 20 * NS, 100.0))

    assert b.late_dropped == 1
    assert b.flush() == []


def test_flush_with_nothing_open_returns_nothing() -> None:
    assert builder().flush() == []


def test_batch_builds_same_bar_as_single_ticks() -> None:
    b = builder()
    ticks = [tick(BASE + 2 * NS, 5.0, 1.5), tick(BASE + NS, 4.0, 0.5), tick(BASE + NS, 6.0, 1.0)]

    b.on_tick_batch(tick_batch("BTC-USD", ticks))
    (bar,) = b.flush()

    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trade_count) == (
        4.0,
        6.0,
        4.0,
        5.0,
        3.0,
        3,
    )


def test_empty_batch_returns_nothing() -> None:
    b = builder()

    out = b.on_tick_batch(tick_batch("BTC-USD", []))

    assert (out, b.ticks, b.flush()) == ([], 0, [])


def test_batch_with_unequal_columns_raises_data_error() -> None:
    batch = TickBatch(
        event_id="b",
        ts_event=0,
        ts_init=0,
        symbol="BTC-USD",
        ts=b"\0" * 16,
        price=b"\0" * 8,
        size=b"\0" * 16,
    )

    with pytest.raises(DataError, match="columns"):
        builder().on_tick_batch(batch)


def test_negative_lateness_raises_naming_field() -> None:
    with pytest.raises(ValueError, match="allowed_lateness_ns"):
        builder(lateness_ns=-1)


def test_unknown_timeframe_raises() -> None:
    with pytest.raises(ValueError, match="timeframe"):
        builder(timeframe="7m")


def test_batch_with_ragged_column_raises_data_error() -> None:
    batch = TickBatch(
        event_id="b",
        ts_event=0,
        ts_init=0,
        symbol="BTC-USD",
        ts=b"\0" * 9,
        price=b"\0" * 9,
        size=b"\0" * 9,
    )

    with pytest.raises(DataError, match="multiples of 8"):
        builder().on_tick_batch(batch)
