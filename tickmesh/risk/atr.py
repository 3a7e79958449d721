"""Incremental Wilder ATR, the volatility yardstick behind risk-adjusted stop distances.

Kept inside ``risk/`` so sizing does not depend on the strategy indicator library.
"""

from __future__ import annotations


class WilderAtr:
    """Average true range with Wilder smoothing.

    The first ``period`` true ranges are averaged to seed the value; after that each bar moves
    it by ``(tr - atr) / period``. ``value`` is ``None`` until ``period`` bars have been seen.
    """

    __slots__ = ("_count", "_period", "_prev_close", "_sum", "value")

    def __init__(self, period: int = 14) -> None:
        if period <= 0:
            raise ValueError(f"period must be positive, got {period}")
        self._period = period
        self._count = 0
        self._sum = 0.0
        self._prev_close: float | None = None
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        tr = self._true_range(high, low)
        self._prev_close = close
        if self.value is not None:
            self.value += (tr - self.value) / self._period
            return self.value
        self._count += 1
        self._sum += tr
        if self._count == self._period:
            self.value = self._sum / self._period
        return self.value

    def _true_range(self, high: float, low: float) -> float:
        if self._prev_close is None:
            return high - low
        prev = self._prev_close
        return max(high - low, abs(high - prev), abs(low - prev))
