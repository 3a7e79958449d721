"""Incremental indicators against straightforward whole-window reference computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickmesh.strategies.indicators import (
    ATR,
    EMA,
    RSI,
    SMA,
    Crossover,
    Donchian,
    RollingMax,
    RollingMin,
    RollingStd,
)

PRICES = st.lists(st.floats(1.0, 1000.0), max_size=80)
PERIODS = st.integers(1, 12)
BAR = st.tuples(st.floats(1.0, 1000.0), st.floats(0.0, 50.0), st.floats(0.0, 1.0)).map(
    lambda t: (t[0] + t[1], t[0], t[0] + t[2] * t[1])
)
SETTINGS = settings(max_examples=150, deadline=None)


def wilder_reference(values: list[float], n: int, alpha: float) -> list[float | None]:
    """TA-Lib seeding: mean of the first n values, then an exponential average (via pandas)."""
    if len(values) < n:
        return [None] * len(values)
    seeded = [float(np.mean(values[:n])), *values[n:]]
    smoothed = pd.Series(seeded).ewm(alpha=alpha, adjust=False).mean().tolist()
    return [None] * (n - 1) + smoothed


def assert_series_close(
    actual: list[float | None], expected: list[float | None], tol: float
) -> None:
    assert [a is None for a in actual] == [e is None for e in expected]
    for a, e in zip(actual, expected, strict=True):
        if a is not None and e is not None:
            assert a == pytest.approx(e, rel=tol, abs=tol)


@SETTINGS
@given(PRICES, PERIODS)
def test_sma_matches_window_mean(prices: list[float], n: int) -> None:
    sma = SMA(n)

    actual = [sma.update(p) for p in prices]

    expected = [
        float(np.mean(prices[i - n + 1 : i + 1])) if i >= n - 1 else None
        for i in range(len(prices))
    ]
    assert_series_close(actual, expected, 1e-9)


@SETTINGS
@given(PRICES, PERIODS)
def test_ema_matches_sma_seeded_pandas_ewm(prices: list[float], n: int) -> None:
    ema = EMA(n)

    actual = [ema.update(p) for p in prices]

    assert_series_close(actual, wilder_reference(prices, n, 2 / (n + 1)), 1e-9)


def rsi_reference(prices: list[float], n: int) -> list[float | None]:
    changes = np.diff(prices).tolist() if prices else []
    gains = wilder_reference([max(c, 0.0) for c in changes], n, 1 / n)
    losses = wilder_reference([max(-c, 0.0) for c in changes], n, 1 / n)
    out: list[float | None] = [None]
    for g, loss in zip(gains, losses, strict=True):
        if g is None or loss is None:
            out.append(None)
        else:
            out.append(50.0 if g + loss == 0 else 100 - 100 / (1 + g / loss) if loss else 100.0)
    return out[: len(prices)]


@SETTINGS
@given(PRICES, st.integers(2, 12))
def test_rsi_matches_wilder_reference(prices: list[float], n: int) -> None:
    rsi = RSI(n)

    actual = [rsi.update(p) for p in prices]

    assert_series_close(actual, rsi_reference(prices, n), 1e-7)


def test_rsi_on_wilder_textbook_series_matches_published_values() -> None:
    closes = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03,
              45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45,
              45.78, 45.35, 44.03, 44.18, 44.22, 44.57, 43.42, 42.66, 43.13]  # fmt: skip
    rsi = RSI(14)

    values = [v for v in (rsi.update(c) for c in closes) if v is not None]

    assert len(values) == len(closes) - 14
    assert values[0] == pytest.approx(70.464, abs=0.01)
    assert values[-2:] == pytest.approx([33.09, 37.79], abs=0.01)


def test_rsi_flat_prices_read_neutral_and_rising_prices_read_100() -> None:
    flat, rising = RSI(3), RSI(3)

    for p in [5.0] * 5:
        flat.update(p)
    for p in [1.0, 2.0, 3.0, 4.0]:
        rising.update(p)

    assert flat.value == 50.0
    assert rising.value == 100.0


@SETTINGS
@given(st.lists(BAR, max_size=60), PERIODS)
def test_atr_matches_wilder_true_range_reference(
    bars: list[tuple[float, float, float]], n: int
) -> None:
    atr = ATR(n)

    actual = [atr.update(h, lo, c) for h, lo, c in bars]

    ranges = [
        max(h - lo, abs(h - pc), abs(lo - pc))
        for (h, lo, _), (_, _, pc) in zip(bars[1:], bars[:-1], strict=True)
    ]
    expected = [None, *wilder_reference(ranges, n, 1 / n)][: len(bars)]
    assert_series_close(actual, expected, 1e-9)


@SETTINGS
@given(PRICES, PERIODS)
def test_rolling_max_and_min_match_window_extremes(prices: list[float], n: int) -> None:
    hi, lo = RollingMax(n), RollingMin(n)

    highs = [hi.update(p) for p in prices]
    lows = [lo.update(p) for p in prices]

    windows = [prices[i - n + 1 : i + 1] if i >= n - 1 else None for i in range(len(prices))]
    assert highs == [max(w) if w else None for w in windows]
    assert lows == [min(w) if w else None for w in windows]


@SETTINGS
@given(st.lists(BAR, max_size=60), PERIODS)
def test_donchian_uses_previous_n_bars_only(bars: list[tuple[float, float, float]], n: int) -> None:
    channel = Donchian(n)

    actual = [channel.update(h, lo) for h, lo, _ in bars]

    expected = [
        (max(b[0] for b in bars[i - n : i]), min(b[1] for b in bars[i - n : i])) if i >= n else None
        for i in range(len(bars))
    ]
    assert actual == expected


@SETTINGS
@given(PRICES, PERIODS, st.sampled_from([0, 1]))
def test_rolling_std_matches_numpy(prices: list[float], n: int, ddof: int) -> None:
    n = max(n, ddof + 1)
    std = RollingStd(n, ddof=ddof)

    actual = [std.update(p) for p in prices]

    expected = [
        float(np.std(prices[i - n + 1 : i + 1], ddof=ddof)) if i >= n - 1 else None
        for i in range(len(prices))
    ]
    assert [a is None for a in actual] == [e is None for e in expected]
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if a is not None and e is not None:
            scale = max(prices[max(0, i - 2 * n + 1) : i + 1])  # values since the last refresh
            assert a**2 == pytest.approx(e**2, rel=1e-9, abs=1e-12 * scale**2)


def test_rolling_std_constant_window_is_exactly_zero() -> None:
    std = RollingStd(3)

    values = [std.update(p) for p in [1.0, 714.0, 714.0, 714.0, 714.1]]

    assert values[3] == 0.0
    assert values[4] == pytest.approx(float(np.std([714.0, 714.0, 714.1])), rel=1e-6)


@pytest.mark.parametrize(
    ("factory", "feed", "warmup"),
    [
        (lambda: SMA(3), lambda i: i.update(1.0), 3),
        (lambda: EMA(3), lambda i: i.update(1.0), 3),
        (lambda: RSI(3), lambda i: i.update(1.0), 4),
        (lambda: ATR(3), lambda i: i.update(2.0, 1.0, 1.5), 4),
        (lambda: RollingMax(3), lambda i: i.update(1.0), 3),
        (lambda: Donchian(3), lambda i: i.update(2.0, 1.0), 4),
        (lambda: RollingStd(3), lambda i: i.update(1.0), 3),
    ],
)
def test_indicator_not_ready_until_warmup_then_ready(factory, feed, warmup) -> None:
    indicator = factory()
    states = []

    for _ in range(warmup):
        states.append((indicator.ready, indicator.value is None))
        feed(indicator)

    assert states == [(False, True)] * warmup
    assert indicator.ready
    assert indicator.value is not None


def test_sma_long_run_does_not_drift() -> None:
    sma = SMA(5)
    values = [1e6 + (i % 7) * 0.1 for i in range(10_000)]

    for v in values:
        sma.update(v)

    assert sma.value == pytest.approx(math.fsum(values[-5:]) / 5, rel=0, abs=1e-9)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_indicator_bad_period_raises(bad) -> None:
    with pytest.raises(ValueError, match="period"):
        SMA(bad)


def test_crossover_is_strict_like_backtesting_py() -> None:
    cross = Crossover()
    seen = []

    for a, b in [(1, 2), (3, 2), (3, 2), (2, 2), (1, 2), (2, 2), (3, 2), (0, 2)]:
        cross.update(a, b)
        seen.append((cross.up, cross.down))

    assert seen == [
        (False, False),
        (True, False),
        (False, False),
        (False, False),  # touching is not crossing
        (False, False),  # leaving a touch downwards: previous was not strictly above
        (False, False),
        (False, False),  # leaving a touch upwards: previous was not strictly below
        (False, True),
    ]


# --- extend: a run of inputs at once leaves the state of the inputs one by one, bit for bit -------

RUNS = st.lists(st.integers(0, 90), min_size=1, max_size=12)


@given(st.lists(st.floats(1.0, 1000.0), max_size=400), st.integers(1, 40), RUNS)
@SETTINGS
def test_sma_extended_in_runs_equals_updated_one_by_one(
    xs: list[float], n: int, runs: list[int]
) -> None:
    one, runs_sma = SMA(n), SMA(n)
    for x in xs:
        one.update(x)
    done = 0
    for size in [*runs, len(xs)]:
        runs_sma.extend(xs[done : done + size])
        done = min(len(xs), done + size)
        if done < len(xs):  # interleave single updates, as a replay does
            runs_sma.update(xs[done])
            done += 1

    assert runs_sma.value == one.value
    assert list(runs_sma._sum.window) == list(one._sum.window)
    assert runs_sma._sum.total == one._sum.total
    assert runs_sma._sum._since_refresh == one._sum._since_refresh


@given(st.lists(BAR, max_size=300), PERIODS, RUNS)
@SETTINGS
def test_atr_extended_in_runs_equals_updated_one_by_one(
    bars: list[tuple[float, float, float]], n: int, runs: list[int]
) -> None:
    one, runs_atr = ATR(n), ATR(n)
    for high, low, close in bars:
        one.update(high, low, close)
    columns = np.array(bars, dtype=np.float64).reshape(-1, 3)
    done = 0
    for size in [*runs, len(bars)]:
        part = columns[done : done + size]
        runs_atr.extend(part[:, 0], part[:, 1], part[:, 2])  # short runs loop, long ones compile
        done = min(len(bars), done + size)

    assert runs_atr.value == one.value
    assert runs_atr._prev_close == one._prev_close
    assert runs_atr._avg._count == one._avg._count
    assert runs_atr._avg._seed_sum == one._avg._seed_sum


def test_crossover_settled_reports_no_cross_and_compares_with_the_settled_values() -> None:
    cross = Crossover()
    cross.update(1.0, 2.0)
    cross.settle(3.0, 2.0)

    assert not cross.up
    assert not cross.down
    cross.update(1.0, 2.0)
    assert cross.down


def in_runs(xs: list[float], runs: list[int]) -> list[list[float]]:
    parts, done = [], 0
    for size in [*runs, len(xs)]:
        parts.append(xs[done : done + size])
        done = min(len(xs), done + size)
    return parts


@given(PRICES, PERIODS, RUNS)
@SETTINGS
def test_rsi_extended_in_runs_equals_updated_one_by_one(
    xs: list[float], n: int, runs: list[int]
) -> None:
    one, runs_rsi = RSI(n), RSI(n)
    for x in xs:
        one.update(x)
    for part in in_runs(xs, runs):
        runs_rsi.extend(part)  # short runs loop, long ones compile

    assert runs_rsi.value == one.value
    assert runs_rsi._prev == one._prev
    for mine, theirs in ((runs_rsi._gain, one._gain), (runs_rsi._loss, one._loss)):
        assert (mine.value, mine._count, mine._seed_sum) == (
            theirs.value, theirs._count, theirs._seed_sum,
        )  # fmt: skip


@given(st.lists(BAR, max_size=200), PERIODS, RUNS)
@SETTINGS
def test_extremes_and_donchian_extended_in_runs_equal_updated_one_by_one(
    bars: list[tuple[float, float, float]], n: int, runs: list[int]
) -> None:
    highs = [h for h, _, _ in bars]
    lows = [lo for _, lo, _ in bars]
    one_max, one_min, one_channel = RollingMax(n), RollingMin(n), Donchian(n)
    for high, low in zip(highs, lows, strict=True):
        one_max.update(high)
        one_min.update(low)
        one_channel.update(high, low)
    run_max, run_min, run_channel = RollingMax(n), RollingMin(n), Donchian(n)
    for h_part, l_part in zip(in_runs(highs, runs), in_runs(lows, runs), strict=True):
        run_max.extend(h_part)
        run_min.extend(l_part)
        run_channel.extend(h_part, l_part)

    assert (run_max.value, run_min.value) == (one_max.value, one_min.value)
    assert list(run_max._deque) == list(one_max._deque)
    assert list(run_min._deque) == list(one_min._deque)
    assert (run_channel.upper, run_channel.lower) == (one_channel.upper, one_channel.lower)
    assert run_channel._pending == one_channel._pending
