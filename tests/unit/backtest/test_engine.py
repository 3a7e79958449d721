"""The event-driven backtest: parity with backtesting.py, determinism, and bad input.

backtesting.py is a test-only reference (AGPL, never imported by tickmesh); these tests run it
side by side with our engine on the data it ships.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from tickmesh.backtest.engine import Backtest, BacktestConfig, StrategySpec
from tickmesh.model import BarBatch
from tickmesh.risk import RiskLimits
from tickmesh.storage.candles import Candles

pytestmark = pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")

bt = pytest.importorskip("backtesting", reason="backtesting.py is the parity reference")
pd = pytest.importorskip("pandas")
from backtesting.test import EURUSD, GOOG  # noqa: E402

from .test_vectorized import native_sma_cross  # noqa: E402


def candles(frame: Any) -> Candles:
    ts = np.asarray(frame.index.as_unit("ns").asi8, dtype=np.int64)
    columns = (frame[c].to_numpy(dtype=float) for c in ("Open", "High", "Low", "Close", "Volume"))
    return Candles(ts, *columns)


def ours(frame: Any, symbol: str, timeframe: str, commission: float) -> Any:
    config = BacktestConfig(
        strategies=[
            StrategySpec("sma_cross", [symbol], {"fast": 10, "slow": 20, "allow_short": True})
        ],
        timeframe=timeframe,
        cash=Decimal(10_000),
        commission=Decimal(str(commission)),
    )
    return Backtest(config, {symbol: candles(frame)}).run()


def reference(frame: Any, commission: float) -> Any:
    strategy = native_sma_cross(long_only=False)
    with pytest.warns(UserWarning, match="trades remain open"):
        return bt.Backtest(frame, strategy, cash=10_000, commission=commission).run()


def trade_rows(result: Any) -> list[tuple[Any, ...]]:
    return [
        (
            pd.Timestamp(t.entry_time, unit="ns"),
            float(t.entry_price),
            int(t.size),
            pd.Timestamp(t.exit_time, unit="ns"),
            float(t.exit_price),
        )
        for t in result.trades
    ]


def reference_rows(stats: Any) -> list[tuple[Any, ...]]:
    trades = stats._trades
    return list(
        zip(
            trades.EntryTime,
            trades.EntryPrice.astype(float),
            trades.Size.astype(int),
            trades.ExitTime,
            trades.ExitPrice.astype(float),
            strict=True,
        )
    )


@pytest.mark.parametrize(
    ("frame", "symbol", "timeframe", "commission"),
    [(GOOG, "GOOG", "1d", 0.0), (GOOG, "GOOG", "1d", 0.002), (EURUSD, "EURUSD", "1h", 0.0002)],
    ids=["goog", "goog-commission", "eurusd-commission"],
)
def test_sma_cross_trades_and_final_equity_equal_backtesting_py(
    frame: Any, symbol: str, timeframe: str, commission: float
) -> None:
    expected = reference(frame, commission)

    result = ours(frame, symbol, timeframe, commission)

    assert trade_rows(result) == reference_rows(expected)
    final = float(result.stats.equity_final)
    assert final == pytest.approx(expected["Equity Final [$]"], rel=1e-4)
    assert result.stats.n_trades == expected["# Trades"]
    assert result.stats.buy_hold_return_pct == pytest.approx(
        expected["Buy & Hold Return [%]"], rel=1e-9
    )
    assert result.stats.max_drawdown_pct == pytest.approx(expected["Max. Drawdown [%]"], rel=1e-6)


def test_same_backtest_twice_gives_identical_trades_fills_and_stats() -> None:
    first = ours(GOOG, "GOOG", "1d", 0.002)
    second = ours(GOOG, "GOOG", "1d", 0.002)

    assert first.fills == second.fills
    assert first.trades == second.trades
    assert first.stats.to_dict() == second.stats.to_dict()


def test_several_symbols_and_strategies_share_one_portfolio() -> None:
    data = {"GOOG": candles(GOOG.iloc[:600]), "COPY": candles(GOOG.iloc[:600])}
    config = BacktestConfig(
        strategies=[
            StrategySpec("sma_cross", ["GOOG", "COPY"], {"fast": 5, "slow": 20}),
            StrategySpec("rsi_reversion", ["GOOG"], {"period": 14}),
        ],
        timeframe="1d",
        cash=Decimal(100_000),
        limits=None,
    )

    result = Backtest(config, data).run()

    traded = {(t.strategy_id, t.symbol) for t in result.trades}
    assert {"GOOG", "COPY"} <= {symbol for _, symbol in traded}
    assert len({strategy for strategy, _ in traded}) >= 2
    assert result.equity[-1][1] == result.stats.equity_final


def test_strategy_on_a_symbol_without_data_is_refused() -> None:
    config = BacktestConfig(strategies=[StrategySpec("sma_cross", ["MSFT"])], timeframe="1d")

    with pytest.raises(ValueError, match="no data for symbol MSFT"):
        Backtest(config, {"GOOG": candles(GOOG)})


# --- fast-forward: runs of quiet bars as one batch give the bar-by-bar result exactly -------------


def both_ways(config: BacktestConfig, data: dict[str, Candles]) -> tuple[Any, Any, int]:
    """The run bar by bar, the run fast-forwarded, and how many batches the latter used."""
    slow = Backtest(dataclasses.replace(config, fast_forward=False), data).run()
    fast_engine = Backtest(config, data)
    batches = count_batches(fast_engine)
    fast = fast_engine.run()
    return slow, fast, batches[0]


def count_batches(engine: Backtest) -> list[int]:
    """[batches, batches whose first open print went out alone] as the strategies see them."""
    seen = [0, 0]
    strategies = next(s for s in engine.host.services if s.name == "strategies")
    handle = strategies.handle

    def counting(topic: str, event: Any) -> Any:
        if isinstance(event, BarBatch):
            seen[0] += 1
            seen[1] += event.opened
        return handle(topic, event)

    strategies.handle = counting  # type: ignore[method-assign]
    return seen


def assert_same_run(slow: Any, fast: Any) -> None:
    assert fast.fills == slow.fills
    assert fast.trades == slow.trades
    assert fast.open_trades == slow.open_trades
    assert fast.equity == slow.equity
    assert [str(v) for _, v in fast.equity] == [str(v) for _, v in slow.equity]
    assert fast.rejections == slow.rejections
    assert fast.stats.to_dict() == slow.stats.to_dict()


@pytest.mark.parametrize("allow_short", [False, True])
@pytest.mark.parametrize("commission", ["0", "0.002"])
def test_fast_forward_gives_the_bar_by_bar_fills_equity_and_stats_on_goog(
    allow_short: bool, commission: str
) -> None:
    config = BacktestConfig(
        strategies=[
            StrategySpec(
                "sma_cross", ["GOOG"], {"fast": 10, "slow": 20, "allow_short": allow_short}
            )
        ],
        timeframe="1d",
        commission=Decimal(commission),
        allow_short=allow_short,
    )

    slow, fast, batches = both_ways(config, {"GOOG": candles(GOOG)})

    assert batches > 50  # it really fast-forwarded
    assert len(fast.trades) > 40
    assert_same_run(slow, fast)


def test_a_fill_bar_joins_the_next_run_after_its_open_print_with_the_bar_by_bar_result() -> None:
    config = BacktestConfig(
        strategies=[StrategySpec("sma_cross", ["GOOG"], {"fast": 10, "slow": 20})],
        timeframe="1d",
        allow_short=False,
    )
    engine = Backtest(config, {"GOOG": candles(GOOG)})
    seen = count_batches(engine)
    fast = engine.run()
    slow = Backtest(dataclasses.replace(config, fast_forward=False), {"GOOG": candles(GOOG)}).run()

    # nearly every fill came at an open whose bar then went with the next run (not when the
    # SMAs cross again on the fill bar itself)
    assert len(fast.fills) > 40
    assert len(fast.fills) - 2 <= seen[1] <= len(fast.fills), seen
    assert_same_run(slow, fast)


def test_fast_forward_across_symbols_on_different_clocks_gives_the_bar_by_bar_result() -> None:
    # a second hourly symbol half an hour off EURUSD's clock, missing every third bar
    eur = candles(EURUSD.iloc[:3000])
    kept = np.flatnonzero(np.arange(len(eur)) % 3 != 0)
    other = eur.take(kept)
    other = Candles(other.ts_open + 1_800_000_000_000, *(other.open, other.high, other.low),
                    other.close * 1.1, other.volume)  # fmt: skip
    data = {"EURUSD": eur, "OTHER": other}
    config = BacktestConfig(
        strategies=[
            StrategySpec("sma_cross", ["EURUSD", "OTHER"], {"fast": 5, "slow": 30}),
        ],
        timeframe="1h",
        cash=Decimal(100_000),
    )

    slow, fast, batches = both_ways(config, data)

    assert batches > 20
    assert {t.symbol for t in fast.trades} == {"EURUSD", "OTHER"}
    assert_same_run(slow, fast)


def test_fast_forward_with_risk_limits_snapshotting_every_bar_runs_bar_by_bar_alike() -> None:
    config = BacktestConfig(
        strategies=[
            StrategySpec("sma_cross", ["GOOG"], {"fast": 5, "slow": 20}),
            StrategySpec("rsi_reversion", ["GOOG"], {"period": 14}),
        ],
        timeframe="1d",
        cash=Decimal(100_000),
        limits=RiskLimits(halt_at_drawdown_pct=0.3, sizing="all_in", all_in_fraction=0.5),
    )

    slow, fast, batches = both_ways(config, {"GOOG": candles(GOOG)})

    assert batches == 0  # drawdown limits watch equity at every bar: nothing is quiet
    assert_same_run(slow, fast)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("rsi_reversion", {"period": 14, "lower": 30, "upper": 70}),
        ("rsi_reversion", {"period": 5, "lower": 40, "upper": 60}),
        ("donchian_breakout", {"entry": 20, "exit": 10}),
        ("donchian_breakout", {"entry": 5, "exit": 3}),
    ],
)
def test_fast_forward_of_the_other_builtins_gives_the_bar_by_bar_result(
    name: str, params: dict[str, int]
) -> None:
    config = BacktestConfig(
        strategies=[StrategySpec(name, ["GOOG"], params)], timeframe="1d", allow_short=False
    )

    slow, fast, batches = both_ways(config, {"GOOG": candles(GOOG)})

    assert batches > 20
    assert len(fast.trades) > 5
    assert_same_run(slow, fast)
