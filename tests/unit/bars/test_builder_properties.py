"""Properties of the tick bar builder over random trade streams."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from tickmesh.bars import TickBarBuilder
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Tick

from .support import (
    BASE,
    LATENESS,
    MINUTE,
    PROPERTY,
    by_symbol_and_start,
    reference_bars,
    run,
    shuffle_within,
    tick,
    trade_streams,
)


def builder(lateness_ns: int, timeframe: str = "1m") -> TickBarBuilder:
    return TickBarBuilder(Stamper.deterministic("bars"), timeframe, allowed_lateness_ns=lateness_ns)


@PROPERTY
@given(ticks=trade_streams(), lateness=LATENESS, timeframe=st.sampled_from(["1m", "5m"]))
def test_sorted_stream_matches_group_by_reference(
    ticks: list[Tick], lateness: int, timeframe: str
) -> None:
    tf_ns = {"1m": MINUTE, "5m": 5 * MINUTE}[timeframe]

    bars = run(builder(lateness, timeframe), ticks)

    assert by_symbol_and_start(bars) == reference_bars(ticks, timeframe, tf_ns)


@PROPERTY
@given(data=st.data(), ticks=trade_streams(), lateness=LATENESS)
def test_bars_keep_ohlc_invariants_in_any_arrival_order(
    data: st.DataObject, ticks: list[Tick], lateness: int
) -> None:
    shuffled = data.draw(st.permutations(ticks))

    bars = run(builder(lateness), shuffled)

    for bar in bars:
        window = [
            t for t in ticks if t.symbol == bar.symbol and bar.ts_open <= t.ts_event < bar.ts_event
        ]
        prices = {t.price for t in window}
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert {bar.open, bar.close, bar.high, bar.low} <= prices
        assert 1 <= bar.trade_count <= len(window)
        assert bar.volume <= math.fsum(t.size for t in window)


@PROPERTY
@given(data=st.data(), ticks=trade_streams(), lateness=LATENESS)
def test_stream_shuffled_within_lateness_gives_sorted_stream_bars(
    data: st.DataObject, ticks: list[Tick], lateness: int
) -> None:
    shuffled = shuffle_within(data, ticks, lateness)
    b = builder(lateness)

    bars = run(b, shuffled)

    assert by_symbol_and_start(bars) == by_symbol_and_start(run(builder(lateness), ticks))
    assert b.late_dropped == 0


@PROPERTY
@given(data=st.data(), ticks=trade_streams(), lateness=LATENESS)
def test_duplicated_ticks_change_nothing(
    data: st.DataObject, ticks: list[Tick], lateness: int
) -> None:
    arrival = shuffle_within(data, ticks, lateness)
    repeats = data.draw(st.lists(st.integers(0, max(len(arrival) - 1, 0)), max_size=20))
    with_dups = list(arrival)
    for i in repeats if arrival else []:
        position = data.draw(st.integers(with_dups.index(arrival[i]) + 1, len(with_dups)))
        with_dups.insert(position, arrival[i])
    b = builder(lateness)

    bars = run(b, with_dups)

    assert by_symbol_and_start(bars) == by_symbol_and_start(run(builder(lateness), ticks))
    assert b.duplicates + b.late_dropped == len(with_dups) - len(arrival)


@PROPERTY
@given(data=st.data(), ticks=trade_streams(), lateness=LATENESS)
def test_ticks_later_than_lateness_are_dropped_without_changing_bars(
    data: st.DataObject, ticks: list[Tick], lateness: int
) -> None:
    stream: list[Tick] = []
    injected = 0
    for t in ticks:
        stream.append(t)
        floor = t.ts_event - lateness - (t.ts_event - lateness) % MINUTE
        if floor > BASE and data.draw(st.booleans()):
            late_ts = data.draw(st.integers(BASE - MINUTE, floor - 1))
            stream.append(tick(late_ts, 1e9, 1e9, trade_id=f"late{injected}", symbol=t.symbol))
            injected += 1
    b = builder(lateness)

    bars = run(b, stream)

    assert by_symbol_and_start(bars) == by_symbol_and_start(run(builder(lateness), ticks))
    assert b.late_dropped == injected


@PROPERTY
@given(data=st.data(), ticks=trade_streams(), lateness=LATENESS)
def test_any_arrival_order_emits_each_bar_once_and_accounts_for_every_tick(
    data: st.DataObject, ticks: list[Tick], lateness: int
) -> None:
    shuffled = data.draw(st.permutations(ticks))
    b = builder(lateness)

    bars = run(b, shuffled)

    starts = [(bar.symbol, bar.ts_open) for bar in bars]
    assert max(Counter(starts).values(), default=1) == 1
    for symbol in {bar.symbol for bar in bars}:
        own = [bar.ts_open for bar in bars if bar.symbol == symbol]
        assert own == sorted(own)
    assert sum(bar.trade_count for bar in bars) + b.late_dropped + b.duplicates == b.ticks
    assert b.ticks == len(ticks)
