"""Bar parity: exact minute-by-minute comparison of two pipelines' bars."""

from __future__ import annotations

from tickmesh.bars.reconcile import compare_bars, overall_percent
from tickmesh.model import Bar

MIN = 60_000_000_000


def bar(minute: int, close: float = 1.5, volume: float = 10.0) -> Bar:
    return Bar(
        event_id=f"b{minute}-{close}", ts_event=(minute + 1) * MIN, ts_init=0, symbol="X",
        timeframe="1m", ts_open=minute * MIN, open=1.0, high=2.0, low=0.5, close=close,
        volume=volume, trade_count=3,
    )  # fmt: skip


def test_identical_series_are_in_full_parity_whatever_their_order() -> None:
    parity = compare_bars("X", [bar(0), bar(1)], [bar(1), bar(0)])

    assert (parity.minutes, parity.matching, parity.percent) == (2, 2, 100.0)


def test_a_changed_field_and_a_missing_minute_are_both_reported() -> None:
    parity = compare_bars("X", [bar(0), bar(1), bar(2)], [bar(0), bar(1, close=1.6)])

    assert parity.percent == 100.0 / 3
    assert [(m.ts_open // MIN, m.problem) for m in parity.mismatches] == [
        (1, "close 1.5 != 1.6"),
        (2, "only in a"),
    ]


def test_last_bit_of_volume_counts_as_a_difference() -> None:
    parity = compare_bars("X", [bar(0, volume=0.1 + 0.2)], [bar(0, volume=0.3)])

    assert parity.matching == 0


def test_overall_parity_weights_symbols_by_minutes() -> None:
    big = compare_bars("X", [bar(m) for m in range(9)], [bar(m) for m in range(9)])
    small = compare_bars("Y", [bar(0)], [])

    assert overall_percent([big, small]) == 90.0
    assert overall_percent([]) == 100.0
