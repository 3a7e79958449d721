"""The vectorized sweep evaluator: parity with backtesting.py (its own SmaCross, and tickmesh's
built-in strategies driven through its broker), parity with the event-driven engine, grid
consistency, bit-exact indicators, and refusals of bad input.

backtesting.py is a test-only reference (AGPL, never imported by tickmesh).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickmesh.backtest import (
    PriceDataError,
    Prices,
    SweepConfig,
    SweepConfigError,
    SweepTrade,
    build_grid,
    evaluate,
    evaluate_grid,
    int_range,
    parse_axis,
    rank,
)
from tickmesh.backtest import sweep_indicators as ind
from tickmesh.backtest import sweep_kernel as kernel
from tickmesh.backtest.sweep_families import FAMILIES, chunks
from tickmesh.backtest.sweep_grid import ParameterGrid
from tickmesh.core.stamp import Stamper
from tickmesh.model import Bar, Side, Signal
from tickmesh.strategies import RSI, SMA, Donchian, StrategyRunner

pd = pytest.importorskip("pandas")

SETTINGS = settings(max_examples=100, deadline=None)
MINUTE_NS = 60_000_000_000


def gbm_frame(n: int, seed: int, sigma: float = 0.01) -> Any:
    """A seeded random walk in backtesting.py's layout: open = previous close."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0.0, sigma / 2, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    index = pd.date_range("2024-01-01", periods=n, freq="min")
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close}, index=index)


# --- backtesting.py as the reference -------------------------------------------------------------


def backtesting_module() -> Any:
    return pytest.importorskip("backtesting", reason="backtesting.py is the parity reference")


def native_sma_cross(long_only: bool) -> Any:
    """backtesting.py's SmaCross example (README), and its long-only variant."""
    bt = backtesting_module()
    from backtesting.lib import crossover
    from backtesting.test import SMA as BT_SMA

    class SmaCross(bt.Strategy):  # type: ignore[misc,name-defined]
        n1 = 10
        n2 = 20

        def init(self) -> None:
            self.sma1 = self.I(BT_SMA, self.data.Close, self.n1)
            self.sma2 = self.I(BT_SMA, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                if not long_only:
                    self.sell()

    return SmaCross


def driven_by_tickmesh(name: str, params: Mapping[str, Any]) -> Any:
    """A backtesting.py strategy whose decisions are tickmesh's built-in strategy's own: every
    bar goes through a ``StrategyRunner`` that knows backtesting.py's position, and each signal
    becomes the matching order (reduce-only -> close, buy -> all-in buy, sell -> all-in sell)."""
    bt = backtesting_module()

    class Driven(bt.Strategy):  # type: ignore[misc,name-defined]
        def init(self) -> None:
            self.runner = StrategyRunner(Stamper.deterministic("oracle"))
            self.sid = self.runner.add(name, "X", dict(params), "1m")
            self.fed = 0
            self.stamper = Stamper.deterministic("bars")

        def next(self) -> None:
            now = len(self.data) - 1
            self.runner.restore_positions([(self.sid, "X", Decimal(int(self.position.size)))])
            signals: list[Signal] = []
            for k in range(self.fed, now + 1):
                events = self.runner.on_bar(self._bar(k))
                signals = [e for e in events if isinstance(e, Signal)]
            self.fed = now + 1
            for signal in signals:
                if signal.reduce_only:
                    self.position.close()
                elif signal.side is Side.BUY:
                    self.buy()
                else:
                    self.sell()

        def _bar(self, k: int) -> Bar:
            data = self.data
            return Bar(
                **self.stamper((k + 1) * MINUTE_NS),
                symbol="X",
                timeframe="1m",
                ts_open=k * MINUTE_NS,
                open=float(data.Open[k]),
                high=float(data.High[k]),
                low=float(data.Low[k]),
                close=float(data.Close[k]),
                volume=1.0,
            )

    return Driven


def run_reference(frame: Any, strategy: Any, commission: float, cash: float = 10_000) -> Any:
    bt = backtesting_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bt.Backtest(frame, strategy, cash=cash, commission=commission).run()


def reference_trades(stats: Any) -> list[SweepTrade]:
    """backtesting.py's closed trades and its trades still open, in our shape."""
    closed = [
        SweepTrade(
            int(t.EntryBar),
            int(t.ExitBar),
            t.EntryPrice,
            t.ExitPrice,
            float(t.Size),
            t.PnL,
            t.Commission,
        )
        for t in stats._trades.itertuples()
    ]
    still_open = [(int(t.entry_bar), t.entry_price, float(t.size)) for t in stats._strategy.trades]
    return closed + [SweepTrade(b, None, p, None, s, math.nan, math.nan) for b, p, s in still_open]


def assert_same_trades(ours: tuple[SweepTrade, ...], expected: list[SweepTrade]) -> None:
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected, strict=True):
        assert (mine.entry_bar, mine.exit_bar, mine.size) == (
            theirs.entry_bar,
            theirs.exit_bar,
            theirs.size,
        )
        assert (mine.entry_price, mine.exit_price) == (theirs.entry_price, theirs.exit_price)
        if theirs.exit_bar is not None:
            assert mine.pnl == pytest.approx(theirs.pnl, rel=1e-9, abs=1e-9)
            assert mine.commission == pytest.approx(theirs.commission, rel=1e-9, abs=1e-9)


def assert_matches_reference(
    frame: Any,
    name: str,
    params: dict[str, Any],
    stats: Any,
    commission: float,
    cash: float = 10_000,
) -> None:
    result = evaluate(
        Prices.from_frame(frame), name, params, SweepConfig(cash=cash, commission=commission)
    )

    assert_same_trades(result.trades, reference_trades(stats))
    assert result.metrics.final_equity == pytest.approx(stats["Equity Final [$]"], rel=1e-9)
    assert result.metrics.return_pct == pytest.approx(stats["Return [%]"], rel=1e-9, abs=1e-9)
    assert result.metrics.max_drawdown_pct == pytest.approx(
        stats["Max. Drawdown [%]"], rel=1e-9, abs=1e-12
    )
    np.testing.assert_allclose(result.equity, stats._equity_curve.Equity, rtol=1e-12)


def shipped_data() -> dict[str, Any]:
    bt_test = pytest.importorskip("backtesting.test")
    return {"GOOG": bt_test.GOOG, "EURUSD": bt_test.EURUSD}


@pytest.mark.parametrize("data", ["GOOG", "EURUSD"])
@pytest.mark.parametrize("long_only", [False, True], ids=["long-short", "long-only"])
@pytest.mark.parametrize("commission", [0.0, 0.002], ids=["no-fees", "fees"])
def test_sma_cross_on_shipped_data_trades_and_equity_equal_backtesting_py(
    data: str, long_only: bool, commission: float
) -> None:
    frame = shipped_data()[data]
    stats = run_reference(frame, native_sma_cross(long_only), commission)

    params = {"fast": 10, "slow": 20, "allow_short": not long_only}
    assert_matches_reference(frame, "sma_cross", params, stats, commission)


BUILTIN_CASES = [
    ("sma_cross", {"fast": 5, "slow": 30, "allow_short": True}),
    ("sma_cross", {"fast": 15, "slow": 40}),
    ("donchian_breakout", {"entry": 20, "exit": 10}),
    ("donchian_breakout", {"entry": 5, "exit": 30}),
    ("rsi_reversion", {"period": 14, "lower": 30, "upper": 70}),
    ("rsi_reversion", {"period": 6, "lower": 40, "upper": 55}),
]


@pytest.mark.parametrize(("name", "params"), BUILTIN_CASES)
def test_builtin_strategy_trades_equal_its_event_driven_rules_on_backtesting_py_broker(
    name: str, params: dict[str, Any]
) -> None:
    frame = shipped_data()["GOOG"]
    stats = run_reference(frame, driven_by_tickmesh(name, params), 0.001)

    assert len(stats._trades) > 3
    assert_matches_reference(frame, name, params, stats, 0.001)


def test_random_walk_with_fees_trades_equal_tickmesh_rules_on_backtesting_py_broker() -> None:
    frame = gbm_frame(3000, seed=11)
    params = {"fast": 3, "slow": 12, "allow_short": True}
    stats = run_reference(frame, driven_by_tickmesh("sma_cross", params), 0.003)

    assert len(stats._trades) > 50
    assert_matches_reference(frame, "sma_cross", params, stats, 0.003)


def frame_of(closes: np.ndarray) -> Any:
    opens = np.concatenate(([closes[0]], closes[:-1]))
    return pd.DataFrame(
        {
            "Open": opens,
            "High": np.maximum(opens, closes),
            "Low": np.minimum(opens, closes),
            "Close": closes,
        },
        index=pd.date_range("2024-01-01", periods=len(closes), freq="D"),
    )


def test_averages_equal_then_apart_is_no_cross_as_in_tickmesh_crossover() -> None:
    flat_then_moves = np.concatenate(
        [
            np.full(30, 100.0),
            np.linspace(101, 120, 20),
            np.full(30, 120.0),
            np.linspace(119, 90, 30),
            np.linspace(91, 130, 30),
        ]
    )
    frame = frame_of(flat_then_moves)
    params = {"fast": 3, "slow": 8, "allow_short": True}
    stats = run_reference(frame, driven_by_tickmesh("sma_cross", params), 0.0)

    result = evaluate(Prices.from_frame(frame), "sma_cross", params)

    assert [t.entry_bar for t in result.trades] == [113]
    assert_same_trades(result.trades, reference_trades(stats))


def test_short_wiped_out_by_a_rally_leaves_zero_equity_like_backtesting_py() -> None:
    rally = np.concatenate([np.linspace(90, 100, 20), np.linspace(99, 80, 40), np.full(20, 250.0)])
    frame = frame_of(rally)
    params = {"fast": 2, "slow": 5, "allow_short": True}
    stats = run_reference(frame, driven_by_tickmesh("sma_cross", params), 0.0)

    result = evaluate(Prices.from_frame(frame), "sma_cross", params)

    assert stats["Equity Final [$]"] == 0.0
    assert result.metrics.final_equity == 0.0
    assert result.metrics.max_drawdown_pct == -100.0
    assert result.trades[-1].size < 0
    assert result.trades[-1].exit_bar == 60
    assert not result.equity[60:].any()
    assert_same_trades(result.trades, reference_trades(stats))


def test_short_covered_at_a_gap_open_for_more_than_equity_leaves_zero_like_backtesting_py() -> None:
    closes = np.concatenate(
        [np.linspace(90, 100, 20), np.linspace(99, 80, 20), [85.0], np.full(10, 300.0)]
    )
    frame = frame_of(closes)
    gap = len(closes) - 10
    frame.iloc[gap, frame.columns.get_loc("Open")] = 300.0
    params = {"fast": 2, "slow": 5, "allow_short": True}
    stats = run_reference(frame, driven_by_tickmesh("sma_cross", params), 0.0)

    result = evaluate(Prices.from_frame(frame), "sma_cross", params)

    assert stats["Equity Final [$]"] == 0.0
    assert result.metrics.final_equity == 0.0
    assert (result.trades[-1].exit_bar, result.trades[-1].exit_price) == (gap, 300.0)
    assert not result.equity[gap:].any()
    assert_same_trades(result.trades, reference_trades(stats))


def test_cash_below_one_unit_enters_no_trade_like_backtesting_py() -> None:
    frame = shipped_data()["GOOG"]
    stats = run_reference(frame, native_sma_cross(long_only=False), 0.0, cash=50)

    result = evaluate(
        Prices.from_frame(frame), "sma_cross", {"allow_short": True}, SweepConfig(cash=50)
    )

    assert stats["# Trades"] == 0
    assert result.trades == ()
    assert result.metrics.final_equity == 50.0
    assert result.metrics.sharpe == 0.0


# --- the event-driven engine ---------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("sma_cross", {"fast": 10, "slow": 20, "allow_short": True}),
        ("donchian_breakout", {"entry": 20, "exit": 10}),
        ("rsi_reversion", {"period": 14, "lower": 30, "upper": 70}),
    ],
)
def test_trades_equal_the_event_driven_engine_rerunning_the_same_set(
    name: str, params: dict[str, Any]
) -> None:
    from tickmesh.backtest.engine import Backtest, BacktestConfig, StrategySpec
    from tickmesh.storage.candles import Candles

    frame = shipped_data()["GOOG"]
    times = np.asarray(frame.index.as_unit("ns").asi8, dtype=np.int64)
    columns = (frame[c].to_numpy(dtype=float) for c in ("Open", "High", "Low", "Close", "Volume"))
    config = BacktestConfig(
        strategies=[StrategySpec(name, ["GOOG"], params)],
        timeframe="1d",
        commission=Decimal("0.002"),
    )
    engine = Backtest(config, {"GOOG": Candles(times, *columns)}).run()

    ours = evaluate(Prices.from_frame(frame), name, params, SweepConfig(commission=0.002))

    closed = [t for t in ours.trades if t.exit_bar is not None]
    assert [(t.entry_bar, t.exit_bar, t.size) for t in closed] == [
        (t.entry_bar, t.exit_bar, float(t.size)) for t in engine.trades
    ]
    assert [(t.entry_price, t.exit_price) for t in closed] == [
        (float(t.entry_price), float(t.exit_price)) for t in engine.trades
    ]
    assert ours.metrics.final_equity == pytest.approx(float(engine.stats.equity_final), rel=1e-6)


# --- grids ---------------------------------------------------------------------------------------

GRIDS: dict[str, dict[str, tuple[object, ...]]] = {
    "sma_cross": {
        "fast": int_range("fast", 3, 15, 4),
        "slow": int_range("slow", 10, 40, 10),
        "allow_short": (False, True),
    },
    "donchian_breakout": {"entry": (5, 20, 55), "exit": (3, 10)},
    "rsi_reversion": {"period": (5, 14), "lower": (25, 35), "upper": (60, 75)},
}


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_every_grid_point_equals_its_single_set_evaluation(name: str) -> None:
    prices = Prices.from_frame(gbm_frame(2500, seed=3))
    grid = build_grid(name, GRIDS[name])
    config = SweepConfig(commission=0.001)

    result = evaluate_grid(prices, grid, config)

    for k, params in enumerate(grid.sets):
        single = evaluate(prices, name, params, config)
        assert result.metrics(k) == single.metrics
        assert single.metrics.n_trades == len(single.trades)
        assert single.equity[-1] == single.metrics.final_equity


def test_grid_in_chunks_and_on_one_thread_gives_identical_metrics() -> None:
    prices = Prices.from_frame(gbm_frame(20_000, seed=5))
    grid = build_grid("sma_cross", GRIDS["sma_cross"])

    whole = evaluate_grid(prices, grid, SweepConfig())
    chunked = evaluate_grid(prices, grid, SweepConfig(max_indicator_mib=1, threads=1))

    np.testing.assert_array_equal(whole.table, chunked.table)
    specs = [FAMILIES["sma_cross"][1](params) for params in grid.sets]
    rows_in_one_mib = 1024 * 1024 // (8 * len(prices))
    assert len(list(chunks(specs, rows_in_one_mib))) > 1


def test_grid_drops_combinations_the_strategy_rejects_and_counts_them() -> None:
    grid = build_grid(
        "sma_cross", {"fast": int_range("fast", 5, 50, 5), "slow": int_range("slow", 20, 200, 20)}
    )

    assert len(grid) == 90
    assert grid.dropped == 10
    assert all(s["fast"] < s["slow"] for s in grid.sets)
    assert grid.sets[0] == {"fast": 5, "slow": 20, "allow_short": False}


def test_parse_axis_reads_inclusive_ranges_lists_and_booleans() -> None:
    assert parse_axis("fast=5:50:5") == ("fast", tuple(range(5, 51, 5)))
    assert parse_axis("slow = 20:23") == ("slow", (20, 21, 22, 23))
    assert parse_axis("period=7,14") == ("period", (7, 14))
    assert parse_axis("allow_short=true,false") == ("allow_short", (True, False))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fast=5:50:0", "'fast': step must be positive"),
        ("fast=5:50:-5", "'fast': step must be positive"),
        ("slow=200:20:20", "'slow': empty range"),
        ("fast=5:x", "'fast': 'x' is not an integer"),
        ("fast", "expected NAME=START:STOP:STEP"),
        ("fast=1:2:3:4", "'fast': range '1:2:3:4'"),
    ],
)
def test_bad_sweep_axis_raises_naming_the_parameter(spec: str, message: str) -> None:
    with pytest.raises(SweepConfigError, match=message):
        parse_axis(spec)


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"fast": (50, 60), "slow": (20, 40)}, "no valid parameter set.*'fast' .* below 'slow'"),
        ({"fast": (1, 5)}, "parameter 'fast': 1 is not allowed"),
        ({"fast": ()}, "parameter 'fast': no values"),
        ({"fast": (5, 5)}, "parameter 'fast': a value is listed twice"),
        ({"speed": (5,)}, "unknown parameter 'speed'"),
        ({"lower": (60,), "upper": (55,)}, "unknown parameter 'lower' for strategy 'sma_cross'"),
    ],
)
def test_invalid_grid_raises_config_error_naming_the_parameter(
    axes: dict[str, Any], message: str
) -> None:
    with pytest.raises(SweepConfigError, match=message):
        build_grid("sma_cross", axes)


def test_invalid_single_set_raises_value_error_naming_the_parameter() -> None:
    prices = Prices.from_frame(gbm_frame(300, seed=1))

    with pytest.raises(ValueError, match="'fast' \\(30\\) must be below 'slow' \\(20\\)"):
        evaluate(prices, "sma_cross", {"fast": 30, "slow": 20})


def test_strategy_without_a_kernel_is_refused_with_the_supported_list() -> None:
    prices = Prices.from_frame(gbm_frame(300, seed=1))
    grid = ParameterGrid("mystery", ("n",), ({"n": 3},))

    with pytest.raises(SweepConfigError, match=r"cannot evaluate 'mystery'.*sma_cross"):
        evaluate_grid(prices, grid)


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(SweepConfigError, match="unknown strategy 'nope'"):
        build_grid("nope", {})


# --- ranking -------------------------------------------------------------------------------------


def test_rank_orders_best_first_and_keeps_grid_order_on_ties() -> None:
    prices = Prices.from_frame(gbm_frame(3000, seed=8))
    result = evaluate_grid(prices, build_grid("sma_cross", GRIDS["sma_cross"]))

    top = rank(result, "return_pct", top=5)

    returns = result.column("return_pct")
    assert [r.rank for r in top] == [1, 2, 3, 4, 5]
    assert [r.metrics.return_pct for r in top] == sorted(returns, reverse=True)[:5]
    assert top[0].params == result.params(top[0].index)
    tied = rank(result, "max_drawdown_pct", top=len(result), min_trades=0)
    for first, second in itertools.pairwise(tied):
        if first.metrics.max_drawdown_pct == second.metrics.max_drawdown_pct:
            assert first.index < second.index


def test_rank_min_trades_leaves_out_sets_that_barely_trade() -> None:
    prices = Prices.from_frame(gbm_frame(3000, seed=8))
    result = evaluate_grid(prices, build_grid("donchian_breakout", GRIDS["donchian_breakout"]))
    needed = int(np.median(result.column("n_trades")))

    ranked = rank(result, "sharpe", top=100, min_trades=needed)

    assert ranked
    assert all(r.metrics.n_trades >= needed for r in ranked)
    assert len(ranked) == int(np.sum(result.column("n_trades") >= needed))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "n_trades"}, "cannot rank by 'n_trades'; choose one of: return_pct"),
        ({"metric": "profit"}, "cannot rank by 'profit'"),
        ({"top": 0}, "top must be at least 1"),
        ({"min_trades": -1}, "min_trades must be zero or more"),
    ],
)
def test_rank_with_bad_arguments_raises_config_error(kwargs: dict[str, Any], message: str) -> None:
    prices = Prices.from_frame(gbm_frame(300, seed=1))
    result = evaluate_grid(prices, build_grid("sma_cross", {"fast": (3,), "slow": (10,)}))

    with pytest.raises(SweepConfigError, match=message):
        rank(result, **kwargs)


# --- bad prices and settings ---------------------------------------------------------------------


def test_nan_close_raises_naming_the_bar_index() -> None:
    frame = gbm_frame(100, seed=2)
    frame.iloc[37, frame.columns.get_loc("Close")] = np.nan

    with pytest.raises(PriceDataError, match="close is nan at bar 37"):
        Prices.from_frame(frame)


def test_unsorted_bars_raise_naming_the_first_out_of_order_bar() -> None:
    frame = gbm_frame(100, seed=2)
    index = frame.index.to_numpy().copy()
    index[[10, 11]] = index[[11, 10]]
    frame.index = index

    with pytest.raises(PriceDataError, match="not in time order: bar 11"):
        Prices.from_frame(frame)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"close": [1.0, 2.0, 3.0]}, "columns differ in length"),
        ({"low": [1.0, 9.0, 1.0, 1.0]}, "low 9.0 is above high 5.0 at bar 1"),
        ({"open": [1.0, 0.0, 1.0, 1.0]}, "open must be positive; it is 0.0 at bar 1"),
        ({"high": [5.0, 5.0, np.inf, 5.0]}, "high is inf at bar 2"),
        ({"close": [[1.0]] * 4}, "close: expected one dimension"),
        ({"open": ["a"] * 4}, "open: not numbers"),
    ],
)
def test_malformed_price_arrays_raise_price_data_error(
    columns: dict[str, Any], message: str
) -> None:
    arrays = {"open": [1.0] * 4, "high": [5.0] * 4, "low": [1.0] * 4, "close": [2.0] * 4}

    with pytest.raises(PriceDataError, match=message):
        Prices.from_arrays(**{**arrays, **columns})


def test_frame_without_a_price_column_raises_naming_it() -> None:
    frame = gbm_frame(50, seed=2).drop(columns=["Low"])

    with pytest.raises(PriceDataError, match="missing price column\\(s\\): Low"):
        Prices.from_frame(frame)


def test_prices_too_short_for_the_longest_warm_up_raise_naming_the_set() -> None:
    prices = Prices.from_frame(gbm_frame(150, seed=2))
    grid = build_grid("sma_cross", {"fast": (5,), "slow": (20, 200)})

    with pytest.raises(PriceDataError, match=r"150 bars are too few.*slow=200.*at least 202"):
        evaluate_grid(prices, grid)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"cash": 0.0}, "cash"),
        ({"commission": -0.01}, "commission"),
        ({"commission": 0.5}, "commission"),
        ({"periods_per_year": 0.0}, "periods_per_year"),
        ({"threads": 0}, "threads"),
        ({"max_indicator_mib": 0}, "max_indicator_mib"),
    ],
)
def test_invalid_sweep_config_raises_naming_the_setting(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(SweepConfigError, match=f"^{name} "):
        SweepConfig(**kwargs)


def test_more_threads_than_numba_has_raises_config_error() -> None:
    prices = Prices.from_frame(gbm_frame(300, seed=1))
    grid = build_grid("sma_cross", {"fast": (3,), "slow": (10,)})

    with pytest.raises(SweepConfigError, match="threads 4096 is not allowed"):
        evaluate_grid(prices, grid, SweepConfig(threads=4096))


# --- bit-exact building blocks -------------------------------------------------------------------

PRICES = st.lists(st.floats(0.5, 1000.0), min_size=2, max_size=120)


def reference_series(indicator: Any, values: list[float]) -> list[float]:
    out = [indicator.update(v) for v in values]
    return [math.nan if v is None else v for v in out]


@SETTINGS
@given(PRICES, st.integers(1, 25))
def test_sma_row_equals_tickmesh_sma_bit_for_bit(prices: list[float], n: int) -> None:
    close = np.array(prices)
    row = ind.indicator_rows(np.array([ind.SMA]), np.array([n]), close, close, close)[0]

    np.testing.assert_array_equal(row, reference_series(SMA(n), prices))


@SETTINGS
@given(PRICES, st.integers(1, 25))
def test_rsi_row_equals_tickmesh_rsi_bit_for_bit(prices: list[float], n: int) -> None:
    close = np.array(prices)
    row = ind.indicator_rows(np.array([ind.RSI]), np.array([n]), close, close, close)[0]

    np.testing.assert_array_equal(row, reference_series(RSI(n), prices))


@SETTINGS
@given(PRICES, st.integers(1, 25))
def test_channel_rows_equal_tickmesh_donchian(prices: list[float], n: int) -> None:
    high, low = np.array(prices) * 1.01, np.array(prices) * 0.99
    channel = Donchian(n)
    upper, lower = [], []
    for h, lo in zip(high, low, strict=True):
        channel.update(float(h), float(lo))
        upper.append(math.nan if channel.upper is None else channel.upper)
        lower.append(math.nan if channel.lower is None else channel.lower)
    kinds = np.array([ind.CHANNEL_HIGH, ind.CHANNEL_LOW])

    rows = ind.indicator_rows(kinds, np.array([n, n]), high, low, np.array(prices))

    np.testing.assert_array_equal(rows[0], upper)
    np.testing.assert_array_equal(rows[1], lower)


WIDE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@SETTINGS
@given(st.lists(WIDE | st.sampled_from([1.0, 2.0**-53, 2.0**-106, 1e16, -1e16]), max_size=40))
def test_exact_sum_equals_math_fsum(values: list[float]) -> None:
    assert ind.exact_sum(np.array(values, dtype=float), np.empty(ind.PARTIALS)) == math.fsum(values)


def backtesting_all_in_units(cash: float, price: float, rate: float) -> int:
    """backtesting.py 0.6.6's arithmetic for ``buy()`` (size ``1 - eps``) from flat."""
    size = 1 - 2.220446049250313e-16
    per_unit = price + (0 + abs(size) * price * rate) / abs(size)
    units = int((max(0, cash) * (1 / 1) * abs(size)) // per_unit)
    return 0 if units * per_unit > max(0, cash) * (1 / 1) else units


@SETTINGS
@given(st.floats(0.0, 1e9), st.floats(1e-3, 1e5), st.sampled_from([0.0, 0.0002, 0.002, 0.05]))
def test_all_in_units_equal_backtesting_py_sizing(cash: float, price: float, rate: float) -> None:
    assert kernel.all_in_units(cash, price, rate) == backtesting_all_in_units(cash, price, rate)


def test_all_in_units_on_exact_multiples_floor_like_python() -> None:
    for cash, price in [(10_000.0, 100.0), (1.0, 0.1), (3.0, 0.1), (10_000.0, 0.3)]:
        assert kernel.all_in_units(cash, price, 0.0) == backtesting_all_in_units(cash, price, 0.0)
