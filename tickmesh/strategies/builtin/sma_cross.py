"""Moving-average crossover, as backtesting.py's ``SmaCross`` example."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tickmesh.model import Bar, BarBatch
from tickmesh.strategies.base import Strategy, StrategyContext
from tickmesh.strategies.indicators import SMA, Crossover
from tickmesh.strategies.parameters import BoolParameter, IntParameter
from tickmesh.strategies.registry import register


@register
class SmaCross(Strategy):
    """Long when the fast SMA crosses above the slow one, flat when it crosses back below.

    With ``allow_short`` it is always in the market after the first cross, reversing on each
    cross: close the current position, then open the other way.
    """

    name = "sma_cross"
    fast = IntParameter(10, 2, 100)
    slow = IntParameter(20, 5, 300)
    allow_short = BoolParameter(False)

    _fast_sma: SMA
    _slow_sma: SMA
    _cross: Crossover

    def check_params(self) -> None:
        if self.fast >= self.slow:
            raise ValueError(f"parameter 'fast' ({self.fast}) must be below 'slow' ({self.slow})")

    def warmup_bars(self) -> int:
        return self.slow - 1

    def on_start(self, ctx: StrategyContext) -> None:
        self._fast_sma = SMA(self.fast)
        self._slow_sma = SMA(self.slow)
        self._cross = Crossover()

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> None:
        fast = self._fast_sma.update(bar.close)
        slow = self._slow_sma.update(bar.close)
        if fast is None or slow is None:
            return
        self._cross.update(fast, slow)
        if self._cross.up:
            self._on_cross_up(ctx)
        elif self._cross.down:
            self._on_cross_down(ctx)

    def candidates(self, bars: BarBatch) -> npt.NDArray[np.int64]:
        """The bars where the SMAs cross, from the compiled twins of the incremental SMAs
        (bit-identical, so no cross is missed or invented)."""
        from tickmesh.backtest import sweep_indicators as compiled

        close = np.ascontiguousarray(bars.close, dtype=np.float64)
        partials = np.empty(compiled.PARTIALS)
        fast, slow = np.empty_like(close), np.empty_like(close)
        compiled.sma_into(close, self.fast, partials, fast)
        compiled.sma_into(close, self.slow, partials, slow)
        a0, b0, a1, b1 = fast[:-1], slow[:-1], fast[1:], slow[1:]
        crossed = ((a0 < b0) & (a1 > b1)) | ((a0 > b0) & (a1 < b1))
        return np.flatnonzero(crossed).astype(np.int64) + 1

    def fast_forward(self, bars: BarBatch) -> None:
        closes = bars.close.tolist()
        fast = self._fast_sma.extend(closes)
        slow = self._slow_sma.extend(closes)
        if fast is not None and slow is not None:
            self._cross.settle(fast, slow)

    def _on_cross_up(self, ctx: StrategyContext) -> None:
        if ctx.position < 0:
            ctx.close(reason="fast SMA crossed above slow")
        if ctx.position <= 0:
            ctx.buy(reason="fast SMA crossed above slow")

    def _on_cross_down(self, ctx: StrategyContext) -> None:
        if ctx.position > 0:
            ctx.close(reason="fast SMA crossed below slow")
        if self.allow_short and ctx.position >= 0:
            ctx.sell(reason="fast SMA crossed below slow")
