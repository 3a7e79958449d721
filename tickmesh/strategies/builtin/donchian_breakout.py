"""Channel breakout (the turtle rule): enter on a new ``entry``-bar high, exit on a new
``exit``-bar low."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tickmesh.model import Bar, BarBatch
from tickmesh.strategies.base import Strategy, StrategyContext
from tickmesh.strategies.indicators import Donchian
from tickmesh.strategies.parameters import IntParameter
from tickmesh.strategies.registry import register


@register
class DonchianBreakout(Strategy):
    """Buy when the close is above the highest high of the previous ``entry`` bars while flat;
    close a long when the close is below the lowest low of the previous ``exit`` bars."""

    name = "donchian_breakout"
    entry = IntParameter(20, 2, 300)
    exit = IntParameter(10, 2, 300)

    _entry_channel: Donchian
    _exit_channel: Donchian

    def warmup_bars(self) -> int:
        return self.entry - 1

    def on_start(self, ctx: StrategyContext) -> None:
        self._entry_channel = Donchian(self.entry)
        self._exit_channel = Donchian(self.exit)

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> None:
        self._entry_channel.update(bar.high, bar.low)
        self._exit_channel.update(bar.high, bar.low)
        upper, lower = self._entry_channel.upper, self._exit_channel.lower
        if ctx.position > 0 and lower is not None and bar.close < lower:
            ctx.close(reason=f"close {bar.close} below {self.exit}-bar low {lower}")
        elif ctx.flat and upper is not None and bar.close > upper:
            ctx.buy(reason=f"close {bar.close} above {self.entry}-bar high {upper}")

    def candidates(self, bars: BarBatch) -> npt.NDArray[np.int64]:
        """The bars that close outside a channel (either side, whatever the position), from
        the compiled channels (the same values: maxima and minima, no arithmetic)."""
        from tickmesh.backtest import sweep_indicators as compiled

        high = np.ascontiguousarray(bars.high, dtype=np.float64)
        low = np.ascontiguousarray(bars.low, dtype=np.float64)
        close = np.asarray(bars.close, dtype=np.float64)
        upper, lower = np.empty_like(high), np.empty_like(low)
        compiled.previous_extreme_into(high, self.entry, 1.0, upper)
        compiled.previous_extreme_into(low, self.exit, -1.0, lower)
        return np.flatnonzero((close < lower) | (close > upper)).astype(np.int64)

    def fast_forward(self, bars: BarBatch) -> None:
        self._entry_channel.extend(bars.high, bars.low)
        self._exit_channel.extend(bars.high, bars.low)
