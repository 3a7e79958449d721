"""The vectorized sweep and the event-driven engine give the same trades for every built-in
strategy across a grid of parameters, on the bundled data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tickmesh.adapters.feeds import bundled_dataset
from tickmesh.backtest import SweepConfig, build_grid
from tickmesh.backtest.engine import BacktestConfig, StrategySpec
from tickmesh.commands.sweep import prices_of, same_trades
from tickmesh.storage.candles import Candles, candles_from_bar_file

GRIDS: dict[str, dict[str, tuple[Any, ...]]] = {
    "sma_cross": {"fast": (5, 20), "slow": (30, 60), "allow_short": (False, True)},
    "donchian_breakout": {"entry": (10, 40), "exit": (5, 20)},
    "rsi_reversion": {"period": (7, 21), "lower": (25, 35)},
}


def bundled(name: str) -> tuple[str, str, Candles]:
    dataset = bundled_dataset(name)
    return dataset.symbol, dataset.timeframe, candles_from_bar_file(dataset.path)


@pytest.mark.parametrize("dataset", ["GOOGL_1d", "EURUSD_1h"])
@pytest.mark.parametrize("strategy", sorted(GRIDS))
def test_every_set_of_the_grid_trades_the_same_in_both_engines(
    dataset: str, strategy: str
) -> None:
    symbol, timeframe, candles = bundled(dataset)
    commission = Decimal("0.001")
    config = BacktestConfig(
        strategies=[StrategySpec(strategy, [symbol])], timeframe=timeframe, commission=commission
    )
    prices = prices_of(candles)
    grid = build_grid(strategy, GRIDS[strategy])

    outcomes = {
        tuple(sorted(params.items())): same_trades(
            config, {symbol: candles}, params, prices, SweepConfig(commission=float(commission))
        )
        for params in grid.sets
    }

    assert len(outcomes) == len(grid) >= 4
    assert all(outcomes.values()), [k for k, same in outcomes.items() if not same]
