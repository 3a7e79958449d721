"""Round-trip trades from fills, and backtest statistics as backtesting.py defines them."""

from tickmesh.analytics.stats import BacktestStats, Columns, compute_stats
from tickmesh.analytics.trades import OpenTrade, Trade, TradeBook, TradeBuilder, build_trades

__all__ = [
    "BacktestStats",
    "Columns",
    "OpenTrade",
    "Trade",
    "TradeBook",
    "TradeBuilder",
    "build_trades",
    "compute_stats",
]
