"""Round-trip trades from fills, and backtest statistics as backtesting.py defines them."""

from tickmesh.analytics.stats import BacktestStats, compute_stats
from tickmesh.analytics.trades import OpenTrade, Trade, TradeBook, TradeBuilder, build_trades

__all__ = [
    "BacktestStats",
    "OpenTrade",
    "Trade",
    "TradeBook",
    "TradeBuilder",
    "build_trades",
    "compute_stats",
]
