"""The state of bars still being built, shared by the tick builder and the timeframe roll-up."""

from __future__ import annotations

import math

from tickmesh.bars.exact_sum import ExactSum
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Bar

Key = tuple[int, str, int]
"""Orders the trades of a bar: (ts_event, trade_id, arrival sequence)."""

FAR_PAST = -(1 << 62)
_FIRST_KEY: Key = (-(1 << 63), "", 0)
_LAST_KEY: Key = (1 << 63, "", 0)


def align(ts: int, tf_ns: int) -> int:
    """Start of the epoch-aligned bar of length ``tf_ns`` holding ``ts``."""
    return ts - ts % tf_ns


class OpenBar:
    """A bar still taking trades.

    Open and close come from the smallest and largest :data:`Key`, not from arrival order, so
    the same trades in any order give the same bar. ``ids`` holds what was already counted in
    it (trade ids, or source bar starts) and is dropped with the bar, which bounds memory.
    """

    __slots__ = (
        "close",
        "close_key",
        "count",
        "high",
        "ids",
        "low",
        "open",
        "open_key",
        "t0",
        "volume",
    )

    def __init__(self, t0: int) -> None:
        self.t0 = t0
        self.open_key = _LAST_KEY
        self.close_key = _FIRST_KEY
        self.open = self.close = math.nan
        self.high = -math.inf
        self.low = math.inf
        self.count = 0
        self.volume = ExactSum()
        self.ids: set[str | int] = set()

    def add(self, key: Key, price: float, size: float) -> None:
        """One trade."""
        self.add_span(key, price, key, price, price, price, 1)
        self.volume.add(size)

    def add_span(
        self,
        first_key: Key,
        first_price: float,
        last_key: Key,
        last_price: float,
        high: float,
        low: float,
        count: int,
    ) -> None:
        """A run of trades summarised by its first and last trade, extremes and count; the
        caller adds their sizes to :attr:`volume`."""
        if first_key < self.open_key:
            self.open_key, self.open = first_key, first_price
        if last_key > self.close_key:
            self.close_key, self.close = last_key, last_price
        self.high = max(self.high, high)
        self.low = min(self.low, low)
        self.count += count

    def to_bar(self, stamper: Stamper, symbol: str, timeframe: str, tf_ns: int) -> Bar:
        close_ts = self.t0 + tf_ns
        return Bar(
            **stamper(close_ts),
            symbol=symbol,
            timeframe=timeframe,
            ts_open=self.t0,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume.total(),
            trade_count=self.count,
        )


class BarBook:
    """The open bars of one symbol at one timeframe.

    ``floor`` is the boundary below which every bar is closed: anything that would land there
    is late. ``watermark`` is the largest event time accepted so far.
    """

    __slots__ = ("bars", "floor", "watermark")

    def __init__(self) -> None:
        self.bars: dict[int, OpenBar] = {}
        self.floor = FAR_PAST
        self.watermark = FAR_PAST

    def bar_at(self, t0: int) -> OpenBar:
        bar = self.bars.get(t0)
        if bar is None:
            bar = self.bars[t0] = OpenBar(t0)
        return bar

    def close_before(self, floor: int) -> list[OpenBar]:
        """Raise the floor to ``floor`` and take out the bars it closes, oldest first."""
        if floor <= self.floor:
            return []
        self.floor = floor
        due = sorted(t0 for t0 in self.bars if t0 < floor)
        return [self.bars.pop(t0) for t0 in due]
