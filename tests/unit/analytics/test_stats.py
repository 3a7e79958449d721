"""compute_stats: parity with backtesting.py 0.6.6 on its own examples, and edge cases.

The parity tests run backtesting.py's SmaCross example, turn its trades into tickmesh fills, rebuild
the trades with :func:`build_trades` and compare every statistic with the one backtesting.py
printed. They skip when backtesting.py (a test-only dependency) or pandas is not installed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from tickmesh.analytics import BacktestStats, Trade, build_trades, compute_stats
from tickmesh.analytics.periods import (
    NS_PER_DAY,
    Calendar,
    calendar_for,
    format_duration,
    format_timestamp,
    infer_periods_per_year,
    last_per_period,
    resolution,
)
from tickmesh.core.decimal import to_decimal
from tickmesh.core.errors import ConfigError, DataError
from tickmesh.model import Fill, Side

D = Decimal
HOUR = 3_600_000_000_000
MONDAY = 1_704_672_000 * 1_000_000_000  # 2024-01-08T00:00:00Z

# --- parity with backtesting.py -------------------------------------------------------------

KEYS = {
    "start": "Start",
    "end": "End",
    "duration": "Duration",
    "exposure_time_pct": "Exposure Time [%]",
    "equity_final": "Equity Final [$]",
    "equity_peak": "Equity Peak [$]",
    "return_pct": "Return [%]",
    "buy_hold_return_pct": "Buy & Hold Return [%]",
    "return_ann_pct": "Return (Ann.) [%]",
    "volatility_ann_pct": "Volatility (Ann.) [%]",
    "sharpe_ratio": "Sharpe Ratio",
    "sortino_ratio": "Sortino Ratio",
    "calmar_ratio": "Calmar Ratio",
    "max_drawdown_pct": "Max. Drawdown [%]",
    "avg_drawdown_pct": "Avg. Drawdown [%]",
    "max_drawdown_duration": "Max. Drawdown Duration",
    "avg_drawdown_duration": "Avg. Drawdown Duration",
    "n_trades": "# Trades",
    "win_rate_pct": "Win Rate [%]",
    "best_trade_pct": "Best Trade [%]",
    "worst_trade_pct": "Worst Trade [%]",
    "avg_trade_pct": "Avg. Trade [%]",
    "max_trade_duration": "Max. Trade Duration",
    "avg_trade_duration": "Avg. Trade Duration",
    "profit_factor": "Profit Factor",
    "expectancy_pct": "Expectancy [%]",
    "sqn": "SQN",
}
SMA_FAST, SMA_SLOW = 10, 20
WARMUP_BARS = SMA_SLOW - 1
"""backtesting.py measures buy & hold from the first bar where every indicator is defined."""


@dataclass(frozen=True)
class Case:
    data: str
    commission: float
    finalize_trades: bool = False
    merge_flips: bool = False
    decimal_equity: bool = False


CASES = {
    "goog-flip-fills": Case("GOOG", 0.0, merge_flips=True),
    "eurusd-commission-decimal-equity": Case("EURUSD", 0.002, decimal_equity=True),
    "goog-commission-finalized": Case("GOOG", 0.002, finalize_trades=True),
}


@dataclass(frozen=True)
class Run:
    """One backtesting.py run and what tickmesh computed from the same backtest."""

    case: Case
    theirs: Any
    ours: BacktestStats
    bar_times: list[int]


def ns(stamp: Any) -> int:
    import pandas as pd

    return int(pd.Timestamp(stamp).as_unit("ns").value)


def duration_ns(delta: Any) -> int:
    import pandas as pd

    return int(pd.Timedelta(delta).as_unit("ns").value)


def run_backtesting(case: Case) -> Any:
    backtesting = pytest.importorskip("backtesting", reason="backtesting.py is a test extra")
    pytest.importorskip("pandas", reason="pandas is a test extra")
    from backtesting.lib import crossover
    from backtesting.test import EURUSD, GOOG, SMA

    class SmaCross(backtesting.Strategy):  # type: ignore[misc, name-defined]
        def init(self) -> None:
            self.fast = self.I(SMA, self.data.Close, SMA_FAST)
            self.slow = self.I(SMA, self.data.Close, SMA_SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell()

    data = {"GOOG": GOOG, "EURUSD": EURUSD}[case.data]
    engine = backtesting.Backtest(
        data, SmaCross, commission=case.commission, finalize_trades=case.finalize_trades
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open", pandas deprecations
        return engine.run()


def fills_from(theirs: Any, case: Case) -> list[Fill]:
    """A fill per entry and exit of every trade backtesting.py made (closed and still open),
    exits before entries at the same time; with ``merge_flips``, one net fill per time."""
    legs: list[tuple[int, int, Side, Decimal, Decimal]] = []
    for row in theirs._trades.itertuples():
        size = D(int(row.Size))
        legs.append((ns(row.EntryTime), 1, _side(size), abs(size), dec(row.EntryPrice)))
        legs.append((ns(row.ExitTime), 0, _side(-size), abs(size), dec(row.ExitPrice)))
    for trade in theirs._strategy.trades:  # still open at the end
        size = D(int(trade.size))
        legs.append((ns(trade.entry_time), 1, _side(size), abs(size), dec(trade.entry_price)))
    legs.sort(key=lambda leg: (leg[0], leg[1]))
    if case.merge_flips:
        legs = _merged(legs)
    return [_fill(n, leg, case.commission) for n, leg in enumerate(legs)]


def dec(value: Any) -> Decimal:
    """numpy floats repr as ``np.float64(...)``: convert through a plain float."""
    return to_decimal(float(value))


def _side(signed: Decimal) -> Side:
    return Side.BUY if signed > 0 else Side.SELL


def _merged(
    legs: list[tuple[int, int, Side, Decimal, Decimal]],
) -> list[tuple[int, int, Side, Decimal, Decimal]]:
    net: dict[int, tuple[Decimal, Decimal]] = {}
    for ts, _, side, quantity, price in legs:
        before, before_price = net.get(ts, (D(0), price))
        assert before_price == price  # a flip closes and opens at one price (no spread)
        net[ts] = (before + side.sign * quantity, price)
    return [(ts, 0, _side(q), abs(q), price) for ts, (q, price) in net.items() if q]


def _fill(n: int, leg: tuple[int, int, Side, Decimal, Decimal], commission: float) -> Fill:
    ts, _, side, quantity, price = leg
    fee = to_decimal(float(quantity) * float(price) * commission)  # backtesting.py's formula
    return Fill(
        event_id=f"e{n}",
        ts_event=ts,
        ts_init=ts,
        fill_id=f"f{n}",
        order_id=f"o{n}",
        strategy_id="sma-cross",
        symbol="X",
        side=side,
        quantity=quantity,
        price=price,
        fee=fee,
    )


def ours_from(theirs: Any, case: Case, bar_times: list[int]) -> BacktestStats:
    book = build_trades(fills_from(theirs, case), bar_times=bar_times)
    trades = list(book.closed)
    if case.finalize_trades:  # backtesting.py closes them at the last bar's open, with commission
        last_open = to_decimal(float(theirs._strategy.data.Open[-1]))
        for trade in book.open:
            fee = to_decimal(float(abs(trade.size)) * float(last_open) * case.commission)
            trades.append(trade.close_at(bar_times[-1], last_open, fee, len(bar_times) - 1))
    curve = theirs._equity_curve["Equity"]
    equity: list[tuple[int, Decimal | float]] = [
        (ts, to_decimal(float(v)) if case.decimal_equity else float(v))
        for ts, v in zip(bar_times, curve, strict=True)
    ]
    close = theirs._strategy.data.Close
    closes = [(bar_times[i], float(close[i])) for i in range(WARMUP_BARS, len(bar_times))]
    return compute_stats(equity, trades, closes)


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def run(request: pytest.FixtureRequest) -> Run:
    case = CASES[request.param]
    theirs = run_backtesting(case)
    bar_times = [ns(stamp) for stamp in theirs._equity_curve.index]
    return Run(case, theirs, ours_from(theirs, case, bar_times), bar_times)


def their_value(theirs: Any, key: str) -> Any:
    import pandas as pd

    value = theirs[KEYS[key]]
    if isinstance(value, pd.Timestamp):
        return ns(value)
    if isinstance(value, pd.Timedelta):
        return duration_ns(value)
    if value is pd.NaT:
        return None
    return value


def same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, int) or ours is None:
        return bool(ours == theirs)
    if math.isnan(float(theirs)):
        return math.isnan(float(ours))
    return math.isclose(float(ours), float(theirs), rel_tol=1e-9, abs_tol=1e-12)


def test_backtesting_py_smacross_every_statistic_matches(run: Run) -> None:
    stats = run.ours

    mismatches = {
        key: (getattr(stats, key), their_value(run.theirs, key))
        for key in KEYS
        if not same(getattr(stats, key), their_value(run.theirs, key))
    }

    assert mismatches == {}
    assert {f.name for f in fields(stats)} == {*KEYS, "trades"}


def test_backtesting_py_smacross_trades_match_row_by_row(run: Run) -> None:
    rows = list(run.theirs._trades.itertuples())

    ours = [
        (int(t.size), t.entry_bar, t.exit_bar, float(t.entry_price), float(t.exit_price))
        for t in run.ours.trades
    ]
    theirs = [
        (int(r.Size), int(r.EntryBar), int(r.ExitBar), float(r.EntryPrice), float(r.ExitPrice))
        for r in rows
    ]
    assert ours == theirs
    for trade, row in zip(run.ours.trades, rows, strict=True):
        assert math.isclose(float(trade.pnl), row.PnL, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(float(trade.fees), row.Commission, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(trade.return_pct, row.ReturnPct, rel_tol=1e-9, abs_tol=1e-15)
        assert (trade.entry_time, trade.duration) == (ns(row.EntryTime), duration_ns(row.Duration))


@pytest.mark.parametrize("run", ["eurusd-commission-decimal-equity"], indirect=True)
def test_backtesting_py_decimal_equity_keeps_money_exact(run: Run) -> None:
    final = run.theirs["Equity Final [$]"]

    assert run.ours.equity_final == dec(final)
    assert isinstance(run.ours.equity_peak, Decimal)


@pytest.mark.parametrize("run", ["goog-commission-finalized"], indirect=True)
def test_backtesting_py_finalized_trades_close_on_last_bar_open(run: Run) -> None:
    last = run.theirs._trades.iloc[-1]

    assert int(last.ExitBar) == len(run.bar_times) - 1
    assert float(last.ExitPrice) == float(run.theirs._strategy.data.Open[-1])
    assert run.ours.trades[-1].exit_bar == len(run.bar_times) - 1
    assert run.ours.n_trades == len(run.theirs._trades)


# --- hand-checked figures -------------------------------------------------------------------


def daily(values: list[float | Decimal], start: int = MONDAY) -> list[tuple[int, Any]]:
    return [(start + i * NS_PER_DAY, v) for i, v in enumerate(values)]


def a_trade(entry: int, exit_: int, pnl: str, return_pct: float, size: str = "1") -> Trade:
    return Trade(
        strategy_id="s",
        symbol="X",
        size=D(size),
        entry_time=entry,
        exit_time=exit_,
        entry_price=D(100),
        exit_price=D(100) + D(pnl),
        pnl=D(pnl),
        fees=D(0),
        return_pct=return_pct,
    )


def test_drawdown_recovered_later_has_depth_and_duration_between_peaks() -> None:
    equity = daily([100.0, 110.0, 99.0, 121.0])

    stats = compute_stats(equity, [], equity)

    assert stats.max_drawdown_pct == pytest.approx(-10.0)
    assert stats.avg_drawdown_pct == pytest.approx(-10.0)
    assert stats.max_drawdown_duration == 2 * NS_PER_DAY
    assert stats.avg_drawdown_duration == 2 * NS_PER_DAY
    assert stats.return_pct == pytest.approx(21.0)
    assert stats.calmar_ratio == pytest.approx(stats.return_ann_pct / 100 / 0.1)


def test_daily_returns_compound_geometric_mean_over_252_days() -> None:
    equity = daily([100.0, 110.0, 99.0, 121.0])
    daily_growth = (121 / 100) ** (1 / 3)

    stats = compute_stats(equity, [], equity)

    assert stats.return_ann_pct == pytest.approx((daily_growth**252 - 1) * 100)
    assert stats.buy_hold_return_pct == pytest.approx(21.0)


def test_trades_give_win_rate_profit_factor_and_sqn() -> None:
    day = NS_PER_DAY
    trades = [
        a_trade(MONDAY, MONDAY + day, "10", 0.10),
        a_trade(MONDAY + day, MONDAY + 3 * day, "-5", -0.05),
        a_trade(MONDAY + 3 * day, MONDAY + 4 * day, "20", 0.20),
    ]
    equity = daily([100.0, 110.0, 105.0, 105.0, 125.0])

    stats = compute_stats(equity, trades, equity)

    pnl = np.array([10.0, -5.0, 20.0])
    assert stats.n_trades == 3
    assert stats.win_rate_pct == pytest.approx(200 / 3)
    assert stats.profit_factor == pytest.approx(0.30 / 0.05)
    assert stats.expectancy_pct == pytest.approx(25 / 3)
    assert stats.avg_trade_pct == pytest.approx(((1.1 * 0.95 * 1.2) ** (1 / 3) - 1) * 100)
    assert stats.sqn == pytest.approx(math.sqrt(3) * pnl.mean() / pnl.std(ddof=1))
    assert (stats.best_trade_pct, stats.worst_trade_pct) == pytest.approx((20.0, -5.0))
    assert (stats.max_trade_duration, stats.avg_trade_duration) == (2 * day, 2 * day)
    assert stats.exposure_time_pct == 100.0


def test_trade_durations_average_rounds_up_to_the_bar_unit() -> None:
    trades = [
        a_trade(MONDAY, MONDAY + HOUR, "1", 0.01),
        a_trade(MONDAY, MONDAY + 2 * HOUR, "1", 0.01),
    ]
    equity = [(MONDAY + i * HOUR, 100.0) for i in range(4)]

    stats = compute_stats(equity, trades, equity)

    assert stats.avg_trade_duration == 2 * HOUR  # 1.5 h rounded up to whole hours
    assert stats.exposure_time_pct == 75.0  # bars 0..2 of 4


def test_no_losing_period_gives_infinite_sortino_and_none_in_json() -> None:
    equity = daily([100.0, 101.0, 103.0])

    stats = compute_stats(equity, [], equity)

    assert stats.sortino_ratio == math.inf
    assert stats.to_dict()["sortino_ratio"] is None


def test_periods_per_year_override_changes_only_annualisation() -> None:
    equity = daily([100.0, 110.0, 99.0, 121.0])

    inferred = compute_stats(equity, [], equity)
    crypto = compute_stats(equity, [], equity, periods_per_year=365)

    assert crypto.return_ann_pct == pytest.approx(((121 / 100) ** (365 / 3) - 1) * 100)
    assert crypto.max_drawdown_pct == inferred.max_drawdown_pct


# --- edge cases -----------------------------------------------------------------------------


def test_no_trades_gives_zero_count_and_null_trade_figures() -> None:
    equity = daily([100.0, 105.0, 103.0])

    stats = compute_stats(equity, [], equity)
    doc = stats.to_dict()

    assert (stats.n_trades, stats.exposure_time_pct, doc["trades"]) == (0, 0.0, [])
    for key in ("win_rate_pct", "best_trade_pct", "worst_trade_pct", "avg_trade_pct", "sqn"):
        assert doc[key] is None
    for key in ("profit_factor", "expectancy_pct", "max_trade_duration", "avg_trade_duration"):
        assert doc[key] is None


def test_constant_equity_has_no_drawdown_and_undefined_ratios() -> None:
    equity = daily([100.0] * 5)

    stats = compute_stats(equity, [], equity)
    doc = stats.to_dict()

    assert (stats.return_pct, stats.max_drawdown_pct, stats.volatility_ann_pct) == (0, 0, 0)
    assert (stats.return_ann_pct, doc["max_drawdown_duration"]) == (0, None)
    for key in ("sharpe_ratio", "sortino_ratio", "calmar_ratio", "avg_drawdown_pct"):
        assert doc[key] is None


def test_single_bar_is_defined_with_zero_duration_and_undefined_ratios() -> None:
    equity = [(MONDAY, D("1000.50"))]

    stats = compute_stats(equity, [], [(MONDAY, 10.0)])

    assert (stats.start, stats.end, stats.duration) == (MONDAY, MONDAY, 0)
    assert (stats.return_pct, stats.buy_hold_return_pct, stats.equity_final) == (0, 0, D("1000.50"))
    assert all(math.isnan(v) for v in (stats.return_ann_pct, stats.sharpe_ratio, stats.sqn))
    assert stats.max_drawdown_duration is None


def test_unsorted_equity_timestamps_raise_data_error_naming_the_point() -> None:
    equity = [(MONDAY, 100.0), (MONDAY + 2, 101.0), (MONDAY + 1, 102.0)]

    with pytest.raises(DataError, match=r"equity timestamps must increase strictly: #2"):
        compute_stats(equity, [], equity)


def test_repeated_close_timestamp_raises_data_error() -> None:
    equity = daily([100.0, 101.0])

    with pytest.raises(DataError, match="close timestamps must increase strictly: #1"):
        compute_stats(equity, [], [(MONDAY, 1.0), (MONDAY, 2.0)])


@pytest.mark.parametrize(
    ("equity", "match"),
    [
        ([], "equity curve is empty"),
        ([(MONDAY, math.nan)], "not finite"),
        ([(MONDAY, D("Infinity"))], "not finite"),
    ],
)
def test_bad_equity_raises_data_error(equity: list[tuple[int, Any]], match: str) -> None:
    with pytest.raises(DataError, match=match):
        compute_stats(equity, [], [(MONDAY, 1.0)])


def test_trade_outside_the_equity_curve_raises_data_error() -> None:
    equity = daily([100.0, 101.0])
    late = a_trade(MONDAY, MONDAY + 5 * NS_PER_DAY, "1", 0.01)

    with pytest.raises(DataError, match="after the last bar"):
        compute_stats(equity, [late], equity)


@pytest.mark.parametrize(("kwargs"), [{"risk_free_rate": 1.0}, {"periods_per_year": 0}])
def test_bad_settings_raise_config_error(kwargs: dict[str, float]) -> None:
    equity = daily([100.0, 101.0])

    with pytest.raises(ConfigError):
        compute_stats(equity, [], equity, **kwargs)


def test_to_dict_renders_times_durations_and_exact_money() -> None:
    equity = daily([D("100.10"), D("110.20"), D("99.30")])
    trades = [a_trade(MONDAY, MONDAY + NS_PER_DAY, "10.1", 0.1)]

    stats = compute_stats(equity, trades, [(MONDAY, 1.0), (MONDAY + NS_PER_DAY, 1.5)])
    human, raw = stats.to_dict(), stats.to_dict(human=False)

    assert (human["start"], human["duration"]) == ("2024-01-08T00:00:00Z", "2 days 00:00:00")
    assert (raw["start"], raw["duration"]) == (MONDAY, 2 * NS_PER_DAY)
    assert (human["equity_final"], human["equity_peak"]) == ("99.30", "110.20")
    assert human["trades"] == [trades[0].to_dict()]
    assert list(human) == [f.name for f in fields(BacktestStats)]


# --- edge cases against backtesting.py's own compute_stats -----------------------------------

EDGE_CURVES = {
    "single-bar": [100.0],
    "constant": [100.0] * 5,
    "one-bar-drop-at-end": [100.0, 90.0],  # no drawdown episode, yet a drawdown
    "only-gains": [100.0, 101.0, 103.0],
    "wiped-out": [100.0, 0.0, 0.0],
    "drawdown-recovered": [100.0, 110.0, 99.0, 121.0],
}
EDGE_TRADES = {
    "none": [],
    "one-winner": [(0, 1, "5", 0.05)],
    "winners-only": [(0, 1, "5", 0.05), (1, 2, "3", 0.03)],
    "total-loss": [(0, 1, "-100", -1.0), (1, 2, "3", 0.03)],
}


def their_compute_stats(equity: list[float], trades: list[Trade]) -> Any:
    """backtesting.py's compute_stats (a private function) on a curve and a trades table."""
    pytest.importorskip("backtesting", reason="backtesting.py is a test extra")
    pd = pandas_or_skip()
    from backtesting._stats import compute_stats as backtesting_compute_stats

    index = pd.to_datetime([ts for ts, _ in daily([*equity])], unit="ns")
    table = pd.DataFrame(
        {
            "PnL": pd.Series([float(t.pnl) for t in trades], dtype=float),
            "ReturnPct": pd.Series([t.return_pct for t in trades], dtype=float),
            "EntryBar": pd.Series([t.entry_bar for t in trades], dtype=int),
            "ExitBar": pd.Series([t.exit_bar for t in trades], dtype=int),
            "Duration": pd.to_timedelta([t.duration for t in trades], unit="ns"),
        }
    )
    ohlc = pd.DataFrame({"Close": equity}, index=index)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return backtesting_compute_stats(table, np.array(equity), ohlc, None)


def same_edge(key: str, ours: Any, theirs: Any) -> bool:
    """As :func:`same`; a duration backtesting.py gives as NaN or as a drawdown fraction (no
    drawdown episode) is None in tickmesh."""
    import pandas as pd

    if key.endswith("duration") and key != "duration" and not isinstance(theirs, pd.Timedelta):
        return ours is None
    return same(ours, their_value(pd.Series({KEYS[key]: theirs}), key))


@pytest.mark.parametrize("trades_name", list(EDGE_TRADES))
@pytest.mark.parametrize("curve_name", list(EDGE_CURVES))
def test_backtesting_py_edge_case_statistics_match(curve_name: str, trades_name: str) -> None:
    values = EDGE_CURVES[curve_name]
    specs = [s for s in EDGE_TRADES[trades_name] if s[1] < len(values)]
    trades = [
        replace(
            a_trade(MONDAY + a * NS_PER_DAY, MONDAY + b * NS_PER_DAY, pnl, r),
            entry_bar=a,
            exit_bar=b,
        )
        for a, b, pnl, r in specs
    ]
    equity = daily([*values])

    ours = compute_stats(equity, trades, equity)

    theirs = their_compute_stats(values, trades)
    mismatches = {
        key: (getattr(ours, key), theirs[KEYS[key]])
        for key in KEYS
        if not same_edge(key, getattr(ours, key), theirs[KEYS[key]])
    }
    assert mismatches == {}


# --- calendar rules (tickmesh.analytics.periods) ------------------------------------------


def pandas_or_skip() -> Any:
    return pytest.importorskip("pandas", reason="pandas is a test extra")


@pytest.mark.parametrize(
    "ns_value", [0, 1, 1_500_000_000, 3 * NS_PER_DAY + 4 * HOUR, NS_PER_DAY + 1_000, 26 * HOUR]
)
def test_format_duration_reads_like_pandas_timedelta(ns_value: int) -> None:
    pd = pandas_or_skip()

    assert format_duration(ns_value) == str(pd.Timedelta(ns_value, unit="ns"))


@pytest.mark.parametrize(
    ("spacing", "unit"),
    [(NS_PER_DAY, NS_PER_DAY), (HOUR, HOUR), (26 * HOUR + 180 * 10**9, 60 * 10**9), (1, 1)],
)
def test_resolution_is_the_finest_nonzero_unit_of_the_spacing(spacing: int, unit: int) -> None:
    assert resolution(spacing) == unit


@pytest.mark.parametrize(
    ("calendar", "rule"), [(Calendar.DAY, "D"), (Calendar.WEEK, "W"), (Calendar.MONTH, "ME")]
)
def test_last_per_period_groups_like_pandas_resample(calendar: Calendar, rule: str) -> None:
    pd = pandas_or_skip()
    times = np.array(sorted({MONDAY + k * 7 * HOUR - 40 * NS_PER_DAY for k in range(400)}))
    values = np.arange(len(times), dtype=np.float64)

    ours = last_per_period(times, values, calendar)

    series = pd.Series(values, index=pd.to_datetime(times, unit="ns"))
    assert list(ours) == list(series.resample(rule).last().dropna())


def test_weekly_bars_use_weeks_and_52_periods() -> None:
    times = np.array([MONDAY + i * 7 * NS_PER_DAY for i in range(10)])

    calendar = calendar_for(7 * NS_PER_DAY)

    assert (calendar, infer_periods_per_year(times, calendar)) == (Calendar.WEEK, 52)


def test_bars_every_day_of_the_week_annualise_over_365_days() -> None:
    times = np.array([MONDAY + i * NS_PER_DAY for i in range(14)])

    assert infer_periods_per_year(times, Calendar.DAY) == 365


def test_format_timestamp_keeps_nanoseconds() -> None:
    assert format_timestamp(MONDAY + 5) == "2024-01-08T00:00:00.000000005Z"
