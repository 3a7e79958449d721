"""The column-at-a-time statistics give what the row-by-row code gave, bit for bit.

``compute_stats`` converts the equity curve and the closes a column at a time, finds drawdown
episodes and exposure with array operations, and reads the rows one by one only to name a bad
one. The references below are the straightforward row-by-row computations it replaced; random
inputs (hypothesis) must give identical floats, the identical Decimal objects, and the same
exception with the same message. Fixed curves pin every figure of the whole result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import fields
from decimal import Decimal
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickmesh.analytics import BacktestStats, Columns, Trade, TradeBuilder, compute_stats
from tickmesh.analytics import stats as stats_module
from tickmesh.analytics.periods import (
    NS_PER_DAY,
    bar_at,
    bar_spacing,
    ceil_mean,
    ceil_to,
    require_increasing,
    resolution,
)
from tickmesh.core.errors import DataError
from tickmesh.model import Side

from .test_trades import fill

D = Decimal
MINUTE = 60_000_000_000
HOUR = 60 * MINUTE
MONDAY = 1_704_672_000 * 1_000_000_000  # 2024-01-08T00:00:00Z
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the row-by-row references ---------------------------------------------------------------


def reference_curve(equity: Sequence[Any]) -> tuple[list[int], np.ndarray, Any, Any]:
    """Times, float values, final and peak value, as the row-by-row code computed them."""
    if not equity:
        raise DataError("the equity curve is empty: it needs at least one (ts, equity) point")
    times = [int(ts) for ts, _ in equity]
    require_increasing(times, "equity")
    money = [value for _, value in equity]
    for index, value in enumerate(money):
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
        if not finite:
            raise DataError(f"equity #{index} at {times[index]} is not finite: {value}")
    values = np.array([float(value) for value in money], dtype=np.float64)
    return times, values, money[-1], max(money)


def reference_drawdowns(times: Sequence[int], values: np.ndarray, unit: int) -> tuple[Any, ...]:
    """Depth and duration figures, one episode at a time."""
    with np.errstate(all="ignore"):
        drawdown = 1 - values / np.maximum.accumulate(values)
    max_fraction = float(np.nan_to_num(drawdown.max()))
    marks = np.unique(np.append(np.flatnonzero(drawdown == 0), len(drawdown) - 1))
    episodes = [(int(start), int(end)) for start, end in pairwise(marks) if end > start + 1]
    if not episodes:
        nonzero = drawdown[drawdown != 0]
        present = nonzero[~np.isnan(nonzero)]
        mean = float(np.mean(present)) if len(present) else math.nan
        return (max_fraction, -mean * 100, None, None)
    durations = [int(times[end] - times[start]) for start, end in episodes]
    with np.errstate(all="ignore"):
        peaks = np.array([np.nanmax(drawdown[start : end + 1]) for start, end in episodes])
    return (
        max_fraction,
        -float(np.mean(peaks)) * 100,
        ceil_to(max(durations), unit),
        ceil_mean(durations, unit),
    )


def reference_exposure(times: Sequence[int], trades: Sequence[Trade]) -> float:
    """Percent of bars marked held, trade by trade."""
    bar_times = [int(ts) for ts in times]
    held = np.zeros(len(bar_times), dtype=bool)
    for trade in trades:
        what = f"trade {trade.strategy_id}/{trade.symbol} entered at {trade.entry_time}"
        if trade.exit_time > bar_times[-1] and trade.exit_bar is None:
            raise DataError(
                f"{what} exits at {trade.exit_time}, after the last bar ({bar_times[-1]})"
            )
        entry = trade.entry_bar
        if entry is None:
            entry = bar_at(bar_times, trade.entry_time, what)
        exit_ = trade.exit_bar
        if exit_ is None:
            exit_ = bar_at(bar_times, trade.exit_time, what)
        if not 0 <= entry <= exit_ < len(bar_times):
            raise DataError(f"{what} spans bars {entry}..{exit_}, outside 0..{len(bar_times) - 1}")
        held[entry : exit_ + 1] = True
    return float(held.mean() * 100)


def reference_buy_hold(closes: Sequence[Any]) -> float:
    if not closes:
        raise DataError("closes are empty: buy & hold needs at least one (ts, close) point")
    require_increasing([ts for ts, _ in closes], "close")
    prices = np.array([close for _, close in closes], dtype=np.float64)
    if not np.all(np.isfinite(prices)):
        raise DataError(f"closes must be finite, found {prices[~np.isfinite(prices)][0]}")
    with np.errstate(all="ignore"):
        return float((prices[-1] - prices[0]) / prices[0] * 100)


# --- comparing outcomes ---------------------------------------------------------------------


def outcome(compute: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", result) or ("raised", (exception type, message))."""
    try:
        return "ok", compute()
    except Exception as error:
        return "raised", (type(error), str(error))


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or float(a).hex() == float(b).hex()


def same_figures(ours: tuple[Any, ...], theirs: tuple[Any, ...]) -> bool:
    return len(ours) == len(theirs) and all(
        same_float(a, b) if isinstance(a, float) else (a == b and type(a) is type(b))
        for a, b in zip(ours, theirs, strict=True)
    )


def fingerprint(stats: BacktestStats) -> dict[str, Any]:
    """Every figure but the trades, floats as hex (NaN and infinity included), Decimals as text."""
    out: dict[str, Any] = {}
    for field in fields(stats):
        value = getattr(stats, field.name)
        if field.name == "trades":
            continue
        if isinstance(value, float):
            out[field.name] = value.hex()
        elif isinstance(value, Decimal):
            out[field.name] = f"D{value}"
        else:
            out[field.name] = value
    return out


# --- inputs ---------------------------------------------------------------------------------

spacings = st.sampled_from([1, 1_000, MINUTE, HOUR, NS_PER_DAY, 7 * NS_PER_DAY])
decimal_values = st.decimals(
    min_value=-1_000, max_value=1_000_000, allow_nan=False, allow_infinity=False, places=4
)
float_values = st.floats(min_value=-1e6, max_value=1e9, allow_nan=False, allow_infinity=False)
money_values = st.one_of(
    decimal_values,
    float_values,
    st.integers(min_value=-1_000, max_value=10**6),
    st.sampled_from([D("1.0"), D("1.00"), 1.0, 1, D(0), 0.0, -0.0, D("-0"), D("1E+400")]),
)


@st.composite
def stamps(draw: st.DrawFn, size: int) -> list[int]:
    """Increasing timestamps, evenly spaced with a few longer gaps (weekends, say)."""
    spacing = draw(spacings)
    gaps = draw(st.lists(st.sampled_from([1, 1, 1, 2, 3]), min_size=size, max_size=size))
    start = MONDAY + draw(st.integers(min_value=0, max_value=6)) * NS_PER_DAY
    return [start + spacing * step for step in np.cumsum([0, *gaps[1:]]).tolist()]


@st.composite
def curves(draw: st.DrawFn, values: st.SearchStrategy[Any] = money_values) -> list[Any]:
    """(ts, value) rows with runs of one repeated value: flat stretches and ties at the peak."""
    runs = draw(st.lists(st.tuples(values, st.integers(1, 4)), min_size=1, max_size=40))
    money = [value for value, count in runs for _ in range(count)]
    return list(zip(draw(stamps(len(money))), money, strict=True))


BAD_VALUES = [D("NaN"), D("sNaN"), D("-Infinity"), math.nan, math.inf, "1.5", None, 10**400]
BAD_STAMPS = [None, "x", math.nan, 2**63, 1e300]


@st.composite
def damaged(draw: st.DrawFn, rows: list[Any], bad_values: list[Any]) -> list[Any]:
    """``rows`` with up to three defects: a bad value, a bad or repeated time, a row that is not
    a pair."""
    rows = list(rows)
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(rows) - 1))
        ts, value = rows[index][0], rows[index][-1]
        kind = draw(st.sampled_from(["value", "stamp", "repeat", "short", "long"]))
        if kind == "value":
            rows[index] = (ts, draw(st.sampled_from(bad_values)))
        elif kind == "stamp":
            rows[index] = (draw(st.sampled_from(BAD_STAMPS)), value)
        elif kind == "repeat" and index:
            rows[index] = (rows[index - 1][0], value)
        elif kind == "short":
            rows[index] = (ts,)
        elif kind == "long":
            rows[index] = (ts, value, value)
    return rows


# --- equity curve ---------------------------------------------------------------------------


def curve_outcome(equity: Any) -> tuple[str, Any]:
    def run() -> tuple[list[int], np.ndarray, Any, Any]:
        curve = stats_module._equity_curve(equity)
        return curve.times.tolist(), curve.values, curve.final, curve.peak

    return outcome(run)


def assert_same_curve(ours: tuple[str, Any], theirs: tuple[str, Any]) -> None:
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "raised":
        assert ours[1] == theirs[1]
        return
    times, values, final, peak = ours[1]
    ref_times, ref_values, ref_final, ref_peak = theirs[1]
    assert times == ref_times
    assert values.dtype == ref_values.dtype
    assert values.tobytes() == ref_values.tobytes()
    assert final is ref_final
    assert peak is ref_peak


@SETTINGS
@given(curves())
def test_equity_columns_are_the_row_by_row_floats_final_and_first_peak(equity: list[Any]) -> None:
    assert_same_curve(curve_outcome(equity), outcome(lambda: reference_curve(equity)))


@SETTINGS
@given(curves().flatmap(lambda rows: damaged(rows, BAD_VALUES)))
def test_bad_equity_raises_the_row_by_row_error_for_the_first_bad_row(equity: list[Any]) -> None:
    assert_same_curve(curve_outcome(equity), outcome(lambda: reference_curve(equity)))


@pytest.mark.parametrize("bad", [*BAD_VALUES, D("1E+400"), -(10**400)], ids=repr)
@pytest.mark.parametrize("index", [0, 3, 9])
def test_each_bad_value_raises_what_row_by_row_did(bad: Any, index: int) -> None:
    equity: list[Any] = [(MONDAY + i * MINUTE, D(100 + i)) for i in range(10)]
    equity[index] = (equity[index][0], bad)

    assert_same_curve(curve_outcome(equity), outcome(lambda: reference_curve(equity)))


@SETTINGS
@given(curves())
def test_equity_as_columns_reads_like_its_rows(equity: list[Any]) -> None:
    times = np.array([ts for ts, _ in equity], dtype=np.int64)
    columns = Columns(times, [value for _, value in equity])

    assert_same_curve(curve_outcome(columns), curve_outcome(equity))


def test_empty_curve_and_empty_closes_raise_as_before() -> None:
    empty = Columns(np.empty(0, np.int64), [])

    with pytest.raises(DataError, match="the equity curve is empty"):
        compute_stats(empty, [], [(MONDAY, 1.0)])
    with pytest.raises(DataError, match="closes are empty"):
        compute_stats([(MONDAY, 1.0)], [], empty)


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(DataError, match="columns differ in length: 2 times, 1 values"):
        Columns(np.array([1, 2]), [1.0])


# --- drawdowns ------------------------------------------------------------------------------


@SETTINGS
@given(curves(st.one_of(decimal_values, float_values, st.sampled_from([0.0, 5.0, -5.0]))))
def test_drawdown_figures_match_the_episode_by_episode_reference(equity: list[Any]) -> None:
    curve = stats_module._equity_curve(equity)
    unit = resolution(bar_spacing(curve.times))

    ours = tuple(stats_module._drawdowns(curve, unit))

    assert same_figures(ours, reference_drawdowns(curve.times.tolist(), curve.values, unit))


def test_drawdowns_of_a_long_curve_average_every_episode_as_before() -> None:
    draw = lcg(5)
    value, equity = 1_000.0, []
    for i in range(50_000):
        value *= 1 + (draw() - 0.499) * 0.01
        equity.append((MONDAY + i * MINUTE, value))
    curve = stats_module._equity_curve(equity)

    ours = tuple(stats_module._drawdowns(curve, MINUTE))

    assert same_figures(ours, reference_drawdowns(curve.times.tolist(), curve.values, MINUTE))


# --- exposure -------------------------------------------------------------------------------


@st.composite
def curve_and_trades(draw: st.DrawFn) -> tuple[list[int], list[Trade]]:
    """Bar times and trades placed by bar, by time (some outside the curve), or out of range."""
    times = draw(stamps(draw(st.integers(1, 60))))
    trades = []
    for _ in range(draw(st.integers(0, 12))):
        entry = draw(st.integers(-1, len(times)))
        exit_ = draw(st.integers(entry, len(times) + 1))
        by_time = draw(st.booleans())
        entry_time = times[min(max(entry, 0), len(times) - 1)] + draw(st.sampled_from([-1, 0, 1]))
        exit_time = max(entry_time, times[min(max(exit_, 0), len(times) - 1)])
        exit_time += draw(st.sampled_from([0, 0, 1, NS_PER_DAY * 400]))
        trades.append(
            Trade(
                strategy_id="s",
                symbol="X",
                size=D(1),
                entry_time=entry_time,
                exit_time=exit_time,
                entry_price=D(100),
                exit_price=D(101),
                pnl=D(1),
                fees=D(0),
                return_pct=0.01,
                entry_bar=None if by_time else entry,
                exit_bar=None if by_time else exit_,
            )
        )
    return times, trades


@SETTINGS
@given(curve_and_trades())
def test_exposure_matches_marking_each_trades_bars(case: tuple[list[int], list[Trade]]) -> None:
    times, trades = case
    array = np.array(times, dtype=np.int64)

    ours = outcome(lambda: stats_module._exposure_pct(array, trades))
    theirs = outcome(lambda: reference_exposure(times, trades))

    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1] if ours[0] == "raised" else same_float(ours[1], theirs[1])


@pytest.mark.parametrize("first", [True, np.int64(1), np.uint8(1), 1.0], ids=repr)
def test_exposure_takes_and_refuses_the_bar_numbers_slicing_did(first: Any) -> None:
    times = [MONDAY + i * MINUTE for i in range(5)]
    trade = Trade("s", "X", D(1), times[1], times[3], D(1), D(1), D(0), D(0), 0.0, first, 3)

    ours = outcome(lambda: stats_module._exposure_pct(np.array(times), [trade]))

    assert ours == outcome(lambda: reference_exposure(times, [trade]))


# --- buy & hold -----------------------------------------------------------------------------

close_values = st.one_of(
    st.floats(min_value=1e-3, max_value=1e6), st.sampled_from([D("2.5"), 3, np.float64(4.5)])
)
BAD_CLOSES = [math.nan, -math.inf, None, "7.5", D("NaN"), D("sNaN"), 10**400, [1.0]]


@SETTINGS
@given(
    curves(close_values).flatmap(lambda rows: st.one_of(st.just(rows), damaged(rows, BAD_CLOSES)))
)
def test_buy_hold_matches_the_list_based_reference(closes: list[Any]) -> None:
    ours = outcome(lambda: stats_module._buy_hold_pct(closes))
    theirs = outcome(lambda: reference_buy_hold(closes))

    assert ours[0] == theirs[0], (ours, theirs)
    assert ours[1] == theirs[1] if ours[0] == "raised" else same_float(ours[1], theirs[1])


# --- whole results --------------------------------------------------------------------------


def lcg(seed: int) -> Callable[[], float]:
    """A portable uniform [0, 1) stream, so the fixed curves do not depend on numpy's RNG."""
    state = seed

    def draw() -> float:
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        return (state >> 11) / 2**53

    return draw


def minute_decimal_case() -> tuple[list[Any], list[Trade], list[Any]]:
    """5,000 minute bars of Decimal equity (flat between trades), trades placed by bar."""
    draw = lcg(7)
    times = [MONDAY + i * MINUTE for i in range(5_000)]
    closes, price = [], 100.0
    for _ in times:
        price *= 1 + (draw() - 0.5) * 0.004
        closes.append(price)
    equity, trades, cash, held, entry = [], [], D(10_000), D(0), 0
    for bar, close in enumerate(closes):
        mark = D(str(round(close, 6)))
        if bar % 97 == 10 and not held:
            held, entry, cash = D(50), bar, cash - D(50) * mark
            entry_mark = mark
        elif bar % 97 == 60 and held:
            pnl = held * (mark - entry_mark)
            trades.append(trade_between(times, entry, bar, pnl, float(pnl / (held * entry_mark))))
            cash, held = cash + held * mark, D(0)
        equity.append((times[bar], (cash + held * mark).quantize(D("1E-8"))))
    return equity, trades, list(zip(times[29:], closes[29:], strict=True))


def daily_float_case() -> tuple[list[Any], list[Trade], list[Any]]:
    """Two years of weekday float equity with deep and shallow drawdowns, no trades."""
    draw = lcg(11)
    days = [MONDAY + i * NS_PER_DAY for i in range(730) if i % 7 < 5]
    value, equity = 1_000.0, []
    for ts in days:
        value *= 1 + (draw() - 0.48) * 0.03
        equity.append((ts, value))
    return equity, [], equity


def hourly_mixed_case() -> tuple[list[Any], list[Trade], list[Any]]:
    """Hourly equity mixing Decimal, float and int with ties at the peak; trades by time."""
    draw = lcg(3)
    times = [MONDAY + i * HOUR for i in range(300)]
    pattern: list[Any] = [D("105.00"), 105.0, D("105.0"), 105, D("99.5"), 101.25]
    equity = [
        (ts, pattern[i % 6] if i % 50 < 6 else D(str(round(90 + draw() * 14, 3))))
        for i, ts in enumerate(times)
    ]
    trades = [
        trade_between(times, start, start + 7, D("1.5"), 0.015, by_time=True)
        for start in range(5, 280, 31)
    ]
    return equity, trades, [(ts, float(i % 17 + 10)) for i, ts in enumerate(times)]


def trade_between(
    times: list[int], entry: int, exit_: int, pnl: Decimal, return_pct: float, by_time: bool = False
) -> Trade:
    return Trade(
        strategy_id="s",
        symbol="X",
        size=D(50),
        entry_time=times[entry],
        exit_time=times[exit_],
        entry_price=D(100),
        exit_price=D(100),
        pnl=pnl,
        fees=D(0),
        return_pct=return_pct,
        entry_bar=None if by_time else entry,
        exit_bar=None if by_time else exit_,
    )


CASES = {
    "minute_decimal": minute_decimal_case,
    "daily_float": daily_float_case,
    "hourly_mixed": hourly_mixed_case,
}

EXPECTED: dict[str, dict[str, Any]] = {
    # Recorded with the row-by-row implementation this replaced (tickmesh 1ed9c09).
    "daily_float": {
        "start": 1704672000000000000,
        "end": 1767657600000000000,
        "duration": 62985600000000000,
        "exposure_time_pct": "0x0.0p+0",
        "equity_final": "0x1.110dafeeb9af6p+10",
        "equity_peak": "0x1.1192884fc215fp+10",
        "return_pct": "0x1.fcabcb35ebde6p+2",
        "buy_hold_return_pct": "0x1.fcabcb35ebde6p+2",
        "return_ann_pct": "0x1.e25cfcbc0adbcp+1",
        "volatility_ann_pct": "0x1.c01c1fc64e497p+3",
        "sharpe_ratio": "0x1.13918cebbcaa6p-2",
        "sortino_ratio": "0x1.a1d052bf9b0a1p-2",
        "calmar_ratio": "0x1.cea5fabb113a3p-3",
        "max_drawdown_pct": "-0x1.0ae8b0f3a6d4cp+4",
        "avg_drawdown_pct": "-0x1.a3a32c0c75434p+1",
        "max_drawdown_duration": 52617600000000000,
        "avg_drawdown_duration": 5702400000000000,
        "n_trades": 0,
        "win_rate_pct": "nan",
        "best_trade_pct": "nan",
        "worst_trade_pct": "nan",
        "avg_trade_pct": "nan",
        "max_trade_duration": None,
        "avg_trade_duration": None,
        "profit_factor": "nan",
        "expectancy_pct": "nan",
        "sqn": "nan",
    },
    "hourly_mixed": {
        "start": 1704672000000000000,
        "end": 1705748400000000000,
        "duration": 1076400000000000,
        "exposure_time_pct": "0x1.8000000000000p+4",
        "equity_final": "D102.037",
        "equity_peak": "D105.00",
        "return_pct": "-0x1.69342cdc675f4p+1",
        "buy_hold_return_pct": "0x1.9000000000000p+6",
        "return_ann_pct": "0x1.7d3e29321a144p+5",
        "volatility_ann_pct": "0x1.7b239a3b70dbap+7",
        "sharpe_ratio": "0x1.016ba466bd05fp-2",
        "sortino_ratio": "0x1.956591852665cp-1",
        "calmar_ratio": "0x1.abeef3cba8e56p+1",
        "max_drawdown_pct": "-0x1.c8231bcb564ecp+3",
        "avg_drawdown_pct": "-0x1.79832b65e991cp+3",
        "max_drawdown_duration": 169200000000000,
        "avg_drawdown_duration": 129600000000000,
        "n_trades": 9,
        "win_rate_pct": "0x1.9000000000000p+6",
        "best_trade_pct": "0x1.8000000000000p+0",
        "worst_trade_pct": "0x1.8000000000000p+0",
        "avg_trade_pct": "0x1.7ffffffffffd4p+0",
        "max_trade_duration": 25200000000000,
        "avg_trade_duration": 25200000000000,
        "profit_factor": "nan",
        "expectancy_pct": "0x1.8000000000001p+0",
        "sqn": "nan",
    },
    "minute_decimal": {
        "start": 1704672000000000000,
        "end": 1704971940000000000,
        "duration": 299940000000000,
        "exposure_time_pct": "0x1.a028f5c28f5c2p+5",
        "equity_final": "D10202.65510000",
        "equity_peak": "D10256.13055000",
        "return_pct": "0x1.036605ee568a4p+1",
        "buy_hold_return_pct": "-0x1.4ae6a70b39544p+0",
        "return_ann_pct": "0x1.404c8857a1ef3p+10",
        "volatility_ann_pct": "0x1.545e1ee821d6ap+7",
        "sharpe_ratio": "0x1.e1cfc0ed516f8p+2",
        "sortino_ratio": "inf",
        "calmar_ratio": "0x1.f78e5da7ac0b1p+8",
        "max_drawdown_pct": "-0x1.45ab7dec0e7acp+1",
        "avg_drawdown_pct": "-0x1.0e221f9d5030dp-2",
        "max_drawdown_duration": 166740000000000,
        "avg_drawdown_duration": 7920000000000,
        "n_trades": 51,
        "win_rate_pct": "0x1.b737373737374p+5",
        "best_trade_pct": "0x1.eac57346c4800p+0",
        "worst_trade_pct": "-0x1.3632c3c9a6086p+1",
        "avg_trade_pct": "0x1.3e688860f2400p-4",
        "max_trade_duration": 3000000000000,
        "avg_trade_duration": 3000000000000,
        "profit_factor": "0x1.447000ca5ee16p+0",
        "expectancy_pct": "0x1.4d919393ec705p-4",
        "sqn": "0x1.47d782b2f189ep-1",
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixed_curves_keep_every_figure(name: str) -> None:
    equity, trades, closes = CASES[name]()

    assert fingerprint(compute_stats(equity, trades, closes)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(CASES))
def test_columns_give_the_same_figures_as_rows(name: str) -> None:
    equity, trades, closes = CASES[name]()
    equity_columns = Columns(
        np.array([ts for ts, _ in equity], dtype=np.int64), [value for _, value in equity]
    )
    close_columns = Columns(
        np.array([ts for ts, _ in closes], dtype=np.int64),
        np.array([float(close) for _, close in closes]),
    )

    stats = compute_stats(equity_columns, trades, close_columns)

    assert fingerprint(stats) == EXPECTED[name]
    assert stats.equity_peak is compute_stats(equity, trades, closes).equity_peak


# --- trade builder --------------------------------------------------------------------------


def test_bar_times_as_an_int64_array_place_trades_like_the_list() -> None:
    times = [MONDAY + i * MINUTE for i in range(1_000)]
    fills = [
        fill(i, Side.SELL if i % 2 else Side.BUY, "1", "100", ts=times[0] + i * 37 * MINUTE // 2)
        for i in range(50)
    ]

    def trades(bar_times: Sequence[int] | npt.NDArray[np.int64]) -> list[Trade | None]:
        builder = TradeBuilder(bar_times=bar_times)
        return [builder.apply(fill) for fill in fills]

    listed = trades(times)

    assert trades(np.array(times, dtype=np.int64)) == listed
    assert all(type(t.entry_bar) is int for t in listed if t is not None)


@pytest.mark.parametrize(
    ("quantity", "price", "fee", "message"),
    [
        ("0", "NaN", "NaN", "fill f1 quantity must be positive, got 0"),
        ("sNaN", "1", "0", "fill f1 quantity must be positive, got sNaN"),
        ("1", "-2", "Infinity", "fill f1 price must be positive, got -2"),
        ("1", "sNaN", "0", "fill f1 price must be positive, got sNaN"),
        ("1", "3", "-Infinity", "fill f1 fee must be finite, got -Infinity"),
        ("1", "3", "NaN", "fill f1 fee must be finite, got NaN"),
    ],
)
def test_bad_fill_names_its_first_bad_amount(
    quantity: str, price: str, fee: str, message: str
) -> None:
    bad = fill(1, Side.BUY, quantity, price, fee, ts=MONDAY)

    with pytest.raises(DataError) as raised:
        TradeBuilder(bar_times=[MONDAY]).apply(bad)

    assert str(raised.value) == message
