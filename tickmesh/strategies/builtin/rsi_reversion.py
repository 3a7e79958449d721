"""Mean reversion on RSI: buy oversold, exit once overbought."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tickmesh.model import Bar, BarBatch
from tickmesh.strategies.base import Strategy, StrategyContext
from tickmesh.strategies.indicators import RSI
from tickmesh.strategies.parameters import IntParameter
from tickmesh.strategies.registry import register


@register
class RsiReversion(Strategy):
    """Buy when RSI crosses below ``lower`` while flat; close a long once RSI is above ``upper``.

    The entry is a strict cross (previous RSI above ``lower``, current below), so a market that
    stays oversold does not keep asking to buy.
    """

    name = "rsi_reversion"
    period = IntParameter(14, 2, 100)
    lower = IntParameter(30, 5, 50)
    upper = IntParameter(70, 50, 95)

    _rsi: RSI
    _prev: float | None

    def check_params(self) -> None:
        if self.lower >= self.upper:
            raise ValueError(
                f"parameter 'lower' ({self.lower}) must be below 'upper' ({self.upper})"
            )

    def warmup_bars(self) -> int:
        return self.period

    def on_start(self, ctx: StrategyContext) -> None:
        self._rsi = RSI(self.period)
        self._prev = None

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> None:
        prev, rsi = self._prev, self._rsi.update(bar.close)
        self._prev = rsi
        if rsi is None:
            return
        if ctx.position > 0 and rsi > self.upper:
            ctx.close(reason=f"RSI {rsi:.1f} above {self.upper}")
        elif ctx.flat and prev is not None and prev > self.lower > rsi:
            ctx.buy(reason=f"RSI {rsi:.1f} crossed below {self.lower}")

    def candidates(self, bars: BarBatch) -> npt.NDArray[np.int64]:
        """The bars with RSI above ``upper`` or crossing below ``lower``, from the compiled,
        bit-identical RSI."""
        from tickmesh.backtest import sweep_indicators as compiled

        close = np.ascontiguousarray(bars.close, dtype=np.float64)
        rsi = np.empty_like(close)
        compiled.rsi_into(close, self.period, rsi)
        prev = np.concatenate([[np.nan], rsi[:-1]])
        crossed = (prev > self.lower) & (rsi < self.lower)
        return np.flatnonzero((rsi > self.upper) | crossed).astype(np.int64)

    def fast_forward(self, bars: BarBatch) -> None:
        self._prev = self._rsi.extend(bars.close)
