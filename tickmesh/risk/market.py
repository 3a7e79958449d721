"""What the risk manager knows about the market: last trade price, data age and ATR per symbol."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tickmesh.model.events import Bar, BarBatch, Tick
from tickmesh.strategies.indicators import ATR


class MarketView:
    """Last price and last data time per symbol, plus an ATR per (symbol, timeframe).

    Data older than what was already seen for a symbol never moves the price back, and a bar
    that is not newer than the last one of its series (a redelivery) leaves the ATR alone.

    Bars reach the ATR lazily: they are kept (runs of a :class:`BarBatch` as views, no copies)
    until the ATR is read or :data:`PENDING_BARS` have gathered, and then go through one
    compiled ``extend`` (the same state, bit for bit, as bar by bar). Most bars cost a list
    append; only ATR-based sizing reads the ATR.
    """

    PENDING_BARS = 8192

    def __init__(self, atr_period: int) -> None:
        self._atr_period = atr_period
        self._price: dict[str, float] = {}
        self._data_ts: dict[str, int] = {}
        self._atr: dict[tuple[str, str], ATR] = {}
        self._last_bar_ts: dict[tuple[str, str], int] = {}
        self._pending: dict[tuple[str, str], list[_Run]] = {}
        self._pending_bars: dict[tuple[str, str], int] = {}

    def on_tick(self, tick: Tick) -> None:
        self._observe(tick.symbol, tick.price, tick.ts_event)

    def on_bar(self, bar: Bar) -> None:
        self._observe(bar.symbol, bar.close, bar.ts_event)
        key = (bar.symbol, bar.timeframe)
        if bar.ts_event <= self._last_bar_ts.get(key, -1):
            return
        self._last_bar_ts[key] = bar.ts_event
        self._defer(key, ((bar.high,), (bar.low,), (bar.close,)), 1)

    def on_bar_batch(self, bars: BarBatch) -> None:
        """Each bar's open print, then the bar, in turn (see :class:`BarBatch`)."""
        if not len(bars):
            return
        symbol, last_ts = bars.symbol, bars.ts_event
        if last_ts >= self._data_ts.get(symbol, last_ts):
            self._data_ts[symbol] = last_ts
            last = float(bars.close[-1])
            if not last > 0:  # the last positive print, opens and closes interleaved
                prices = np.column_stack((bars.open, bars.close)).ravel()
                positive = np.flatnonzero(prices > 0)
                last = float(prices[positive[-1]]) if positive.size else 0.0
            if last > 0:
                self._price[symbol] = last
        key = (symbol, bars.timeframe)
        span = last_ts - int(bars.ts_open[-1])
        first = int(np.searchsorted(bars.ts_open, self._last_bar_ts.get(key, -1) - span, "right"))
        if first < len(bars):
            self._last_bar_ts[key] = last_ts
            run = (bars.high[first:], bars.low[first:], bars.close[first:])
            self._defer(key, run, len(bars) - first)

    def price(self, symbol: str) -> float | None:
        return self._price.get(symbol)

    def data_ts(self, symbol: str) -> int | None:
        return self._data_ts.get(symbol)

    def atr(self, symbol: str, timeframe: str) -> float | None:
        key = (symbol, timeframe)
        atr = self._settled(key) if key in self._pending else self._atr.get(key)
        return None if atr is None else atr.value

    def _defer(self, key: tuple[str, str], run: _Run, bars: int) -> None:
        self._pending.setdefault(key, []).append(run)
        waiting = self._pending_bars[key] = self._pending_bars.get(key, 0) + bars
        if waiting >= self.PENDING_BARS:
            self._settled(key)

    def _settled(self, key: tuple[str, str]) -> ATR:
        """The series' ATR with every pending run of bars applied."""
        atr = self._atr.get(key)
        if atr is None:
            atr = self._atr[key] = ATR(self._atr_period)
        runs = self._pending.pop(key, None)
        if runs:
            del self._pending_bars[key]
            high, low, close = (np.concatenate(column) for column in zip(*runs, strict=True))
            atr.extend(high, low, close)
        return atr

    def _observe(self, symbol: str, price: float, ts: int) -> None:
        if ts < self._data_ts.get(symbol, ts):
            return
        self._data_ts[symbol] = ts
        if price > 0:
            self._price[symbol] = price


_Run = tuple[npt.NDArray[np.float64] | tuple[float], ...]
