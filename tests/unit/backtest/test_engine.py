"""The event-driven backtest: parity with backtesting.py, determinism, and bad input.

backtesting.py is a test-only reference (AGPL, never imported by tickmesh); these tests run it
side by side with our engine on the data it ships.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from tickmesh.backtest.engine import Backtest, BacktestConfig, StrategySpec
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
    assert result.stats.max_drawdown_pct == pytest.approx(
        expected["Max. Drawdown [%]"], rel=1e-6
    )


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
