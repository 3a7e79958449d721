"""Trades to OHLCV bars by event time, and bars to higher timeframes. Pure domain code."""

from tickmesh.bars.builder import DEFAULT_ALLOWED_LATENESS_NS, TickBarBuilder
from tickmesh.bars.exact_sum import ExactSum
from tickmesh.bars.resample import BarAggregator

__all__ = ["DEFAULT_ALLOWED_LATENESS_NS", "BarAggregator", "ExactSum", "TickBarBuilder"]
