"""Rolls source bars (1m) up into higher timeframes aligned to the epoch.

A ``5m`` bar covers ``[t0, t0 + 300s)`` with ``t0 % 300s == 0``. It is emitted as soon as the
source bar closing exactly at its end arrives, or else when a source bar starting at or after its
end arrives, or on :meth:`BarAggregator.flush`. Source bars are expected per symbol in order, as
:class:`~tickmesh.bars.builder.TickBarBuilder` emits them; one for an already emitted higher bar
is counted in ``late_dropped``, a redelivered one (same symbol and ``ts_open``) in
``duplicates``, and neither changes anything.

Open is the first source bar's open, close the last one's close, volume the correctly rounded
exact sum of the source volumes, trade_count their sum. Like the builder, no gap filling.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from tickmesh.bars.open_bar import BarBook, OpenBar
from tickmesh.core.errors import DataError
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Bar
from tickmesh.topics import timeframe_seconds

_NS = 1_000_000_000


class _Outcome(Enum):
    ADDED = 0
    LATE = 1
    DUPLICATE = 2


class BarAggregator:
    """Builds ``target_tfs`` bars from ``source_tf`` bars for every symbol (see module docs).

    Counters: ``bars`` received, ``late_dropped`` (a source bar refused by at least one target
    as late, and by none as a duplicate) and ``duplicates``.
    """

    def __init__(
        self,
        stamper: Stamper,
        source_tf: str = "1m",
        target_tfs: Iterable[str] = ("5m", "15m", "1h"),
    ) -> None:
        self.source_tf = source_tf
        self.target_tfs = tuple(target_tfs)
        _validate(source_tf, self.target_tfs)
        self.bars = 0
        self.late_dropped = 0
        self.duplicates = 0
        self._stamper = stamper
        self._targets = [(tf, timeframe_seconds(tf) * _NS) for tf in self.target_tfs]
        self._books: dict[str, list[tuple[str, int, BarBook]]] = {}

    def on_bar(self, bar: Bar) -> list[Bar]:
        """Take one source bar; returns the higher bars it completed, by target then age."""
        if bar.timeframe != self.source_tf:
            raise DataError(
                f"bar {bar.event_id} for {bar.symbol} has timeframe {bar.timeframe!r}; "
                f"this aggregator rolls up {self.source_tf!r} bars"
            )
        self.bars += 1
        out: list[Bar] = []
        late = duplicate = False
        for tf, tf_ns, book in self._books_of(bar.symbol):
            outcome = self._roll(tf, tf_ns, book, bar, out)
            late |= outcome is _Outcome.LATE
            duplicate |= outcome is _Outcome.DUPLICATE
        if duplicate:
            self.duplicates += 1
        elif late:
            self.late_dropped += 1
        return out

    def flush(self) -> list[Bar]:
        """Emit every open higher bar; source bars for them that arrive later are late."""
        out: list[Bar] = []
        for symbol, books in self._books.items():
            for tf, tf_ns, book in books:
                if book.bars:
                    out.extend(self._close(symbol, tf, tf_ns, book, max(book.bars) + tf_ns))
        return out

    def _roll(self, tf: str, tf_ns: int, book: BarBook, source: Bar, out: list[Bar]) -> _Outcome:
        t0 = source.ts_open - source.ts_open % tf_ns
        if t0 > book.floor:
            out.extend(self._close(source.symbol, tf, tf_ns, book, t0))
        if source.ts_open < book.floor:
            return _Outcome.LATE
        bar = book.bars.get(t0) or book.bar_at(t0)
        if source.ts_open in bar.ids:
            return _Outcome.DUPLICATE
        bar.ids.add(source.ts_open)
        _add_source(bar, source)
        if source.ts_event >= t0 + tf_ns:
            out.extend(self._close(source.symbol, tf, tf_ns, book, t0 + tf_ns))
        return _Outcome.ADDED

    def _books_of(self, symbol: str) -> list[tuple[str, int, BarBook]]:
        books = self._books.get(symbol)
        if books is None:
            books = self._books[symbol] = [(tf, tf_ns, BarBook()) for tf, tf_ns in self._targets]
        return books

    def _close(self, symbol: str, tf: str, tf_ns: int, book: BarBook, floor: int) -> list[Bar]:
        return [bar.to_bar(self._stamper, symbol, tf, tf_ns) for bar in book.close_before(floor)]


def _add_source(bar: OpenBar, source: Bar) -> None:
    """``OpenBar.add_span`` for one source bar, inlined: this runs for every bar and target."""
    key = (source.ts_open, "", 0)
    if key < bar.open_key:
        bar.open_key, bar.open = key, source.open
    if key > bar.close_key:
        bar.close_key, bar.close = key, source.close
    if source.high > bar.high:  # noqa: PLR1730 - a branch is cheaper than max() per bar
        bar.high = source.high
    if source.low < bar.low:  # noqa: PLR1730
        bar.low = source.low
    bar.count += source.trade_count
    bar.volume.add(source.volume)


def _validate(source_tf: str, target_tfs: tuple[str, ...]) -> None:
    source_s = timeframe_seconds(source_tf)
    if not target_tfs:
        raise ValueError("target_tfs must name at least one timeframe")
    if len(set(target_tfs)) != len(target_tfs):
        raise ValueError(f"target_tfs has repeats: {target_tfs}")
    for tf in target_tfs:
        target_s = timeframe_seconds(tf)
        if target_s <= source_s or target_s % source_s:
            raise ValueError(
                f"target_tfs: {tf!r} must be a longer whole multiple of source_tf {source_tf!r}"
            )
