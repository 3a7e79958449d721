"""Strategies that ship with tickmesh; importing this package registers them."""

from tickmesh.strategies.builtin.donchian_breakout import DonchianBreakout
from tickmesh.strategies.builtin.rsi_reversion import RsiReversion
from tickmesh.strategies.builtin.sma_cross import SmaCross

__all__ = ["DonchianBreakout", "RsiReversion", "SmaCross"]
