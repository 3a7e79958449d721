"""Trades to OHLCV bars by event time, with allowed lateness.

Contract (per symbol):

* A trade goes into the epoch-aligned bar ``[t0, t0 + tf)`` holding its ``ts_event``.
* The watermark is the largest ``ts_event`` accepted so far. A bar is closed, and emitted, once
  ``watermark >= t0 + tf + allowed_lateness_ns``; a trade arriving at most
  ``allowed_lateness_ns`` behind the watermark therefore always finds its bar open.
* A trade whose bar is closed is late: counted in ``late_dropped`` and dropped. An emitted bar
  never changes. A trade whose non-empty ``trade_id`` is already in its (open) bar is counted in
  ``duplicates`` and ignored.
* Open and close are the prices of the trades with the smallest and largest
  ``(ts_event, trade_id, arrival sequence)``: trade ids compare as strings, and trades without
  one (every trade of a :class:`TickBatch`) tie-break on the order they reached the builder
  (position inside a batch). A stream shuffled within the allowed lateness thus gives exactly the
  bars of the sorted stream when trade ids are unique. Volume is the correctly rounded exact sum
  of the sizes, whatever their order.
* Each symbol's bars come out in ``ts_open`` order, each exactly once.
* No gap filling: a bar with no trades is never emitted.
* Prices and sizes are assumed finite; feeds validate them.
"""

from __future__ import annotations

from tickmesh.bars.batch import Span, admit, read_columns, select, spans
from tickmesh.bars.open_bar import BarBook, OpenBar, align
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Bar, Tick, TickBatch
from tickmesh.topics import timeframe_seconds

DEFAULT_ALLOWED_LATENESS_NS = 2_000_000_000


class TickBarBuilder:
    """Builds ``timeframe`` bars for every symbol it is given trades for (see module docs).

    Counters: ``ticks`` received (one per trade, batches included), ``late_dropped`` and
    ``duplicates``; the accepted trades are ``ticks - late_dropped - duplicates``.
    """

    def __init__(
        self,
        stamper: Stamper,
        timeframe: str = "1m",
        allowed_lateness_ns: int = DEFAULT_ALLOWED_LATENESS_NS,
    ) -> None:
        if allowed_lateness_ns < 0:
            raise ValueError(f"allowed_lateness_ns must be >= 0, got {allowed_lateness_ns}")
        self.timeframe = timeframe
        self.allowed_lateness_ns = allowed_lateness_ns
        self.ticks = 0
        self.late_dropped = 0
        self.duplicates = 0
        self._stamper = stamper
        self._tf_ns = timeframe_seconds(timeframe) * 1_000_000_000
        self._books: dict[str, BarBook] = {}
        self._seq = 0

    def on_tick(self, tick: Tick) -> list[Bar]:
        """Take one trade; returns the bars its watermark closed, oldest first."""
        self.ticks += 1
        seq = self._seq
        self._seq += 1
        book = self._book(tick.symbol)
        ts, trade_id = tick.ts_event, tick.trade_id
        if ts < book.floor:
            self.late_dropped += 1
            return []
        bar = book.bar_at(align(ts, self._tf_ns))
        if trade_id:
            if trade_id in bar.ids:
                self.duplicates += 1
                return []
            bar.ids.add(trade_id)
        bar.add((ts, trade_id, seq), tick.price, tick.size)
        if ts <= book.watermark:
            return []
        book.watermark = ts
        return self._close(tick.symbol, book, align(ts - self.allowed_lateness_ns, self._tf_ns))

    def on_tick_batch(self, batch: TickBatch) -> list[Bar]:
        """Take a columnar batch of one symbol's trades; same bars as :meth:`on_tick` on each
        trade in batch order. In-order batches are fully vectorised; others pay for a sort."""
        columns = read_columns(batch)
        count = len(columns.ts)
        self.ticks += count
        if count == 0:
            return []
        seq0 = self._seq
        self._seq += count
        book = self._book(batch.symbol)
        admission = admit(
            columns.ts, book.watermark, book.floor, self.allowed_lateness_ns, self._tf_ns
        )
        kept = select(columns, admission.keep)
        self.late_dropped += count - len(kept.ts)
        if len(kept.ts):
            self._merge(book, spans(kept, self._tf_ns), seq0)
        book.watermark = admission.watermark
        return self._close(batch.symbol, book, admission.floor)

    def flush(self) -> list[Bar]:
        """Emit every open bar (end of a replay): per symbol oldest first, symbols in the order
        first seen. Trades for the flushed bars that arrive afterwards are late."""
        out: list[Bar] = []
        for symbol, book in self._books.items():
            if not book.bars:
                continue
            end = align(book.watermark, self._tf_ns) + self._tf_ns
            book.watermark = max(book.watermark, end + self.allowed_lateness_ns)
            out.extend(self._close(symbol, book, end))
        return out

    def _book(self, symbol: str) -> BarBook:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = BarBook()
        return book

    def _merge(self, book: BarBook, bar_spans: list[Span], seq0: int) -> None:
        for span in bar_spans:
            bar = book.bar_at(span.t0)
            bar.add_span(
                (span.first_ts, "", seq0 + span.first_pos),
                span.first_price,
                (span.last_ts, "", seq0 + span.last_pos),
                span.last_price,
                span.high,
                span.low,
                span.trades,
            )
            bar.volume.add_array(span.sizes)

    def _close(self, symbol: str, book: BarBook, floor: int) -> list[Bar]:
        return [self._emit(symbol, bar) for bar in book.close_before(floor)]

    def _emit(self, symbol: str, bar: OpenBar) -> Bar:
        return bar.to_bar(self._stamper, symbol, self.timeframe, self._tf_ns)
