"""Bars and ticks from CSV or Parquet files, checked whole before the first event is handed out.

A replay that stops at row 4,812 because it is garbage has already traded on 4,811 rows, so a
file is loaded and validated in full when it is opened. A bad row then either stops the read with
a :class:`DataError` naming file, line and reason (``on_error="stop"``) or is skipped and counted
in the reader's :class:`ReadStats` (``on_error="skip"``).

Lines are 1-based with the header on line 1 (one row per line is assumed); for Parquet ``line``
is the 1-based row number. Times without a zone are UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from tickmesh.adapters.feeds.columns import RowErrors, check_order, column_floats, column_times
from tickmesh.adapters.feeds.tables import Table, read_table
from tickmesh.core.errors import DataError
from tickmesh.core.stamp import Stamper
from tickmesh.model.enums import Side
from tickmesh.model.events import Bar, Event, Tick, TickBatch
from tickmesh.topics import timeframe_seconds

OnError = Literal["stop", "skip"]
E = TypeVar("E", bound=Event)

TIME_COLUMNS = ("timestamp", "datetime", "time", "date", "ts")
SIZE_COLUMNS = ("size", "qty", "quantity", "volume", "amount")
SIDE_COLUMNS = ("side", "aggressor", "taker_side")
TRADE_ID_COLUMNS = ("trade_id", "tradeid", "id")
PRICE_COLUMNS = ("open", "high", "low", "close")
MAX_REPORTED_ERRORS = 100

_SIDES = {"buy": Side.BUY, "b": Side.BUY, "sell": Side.SELL, "s": Side.SELL, "": None}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ReadStats:
    """What a read found: data rows, rows skipped, and the errors of the first skipped rows."""

    source: str
    rows: int
    skipped: int
    errors: tuple[DataError, ...] = ()

    @property
    def kept(self) -> int:
        return self.rows - self.skipped


class FileEvents(Iterator[E], Generic[E]):
    """The events of one validated file, with the :class:`ReadStats` of reading it."""

    def __init__(self, events: Iterator[E], stats: ReadStats) -> None:
        self._events = events
        self.stats = stats

    def __iter__(self) -> FileEvents[E]:
        return self

    def __next__(self) -> E:
        return next(self._events)


@dataclass(frozen=True)
class BarColumns:
    ts_open: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    stats: ReadStats


@dataclass(frozen=True)
class TickColumns:
    ts: IntArray
    price: FloatArray
    size: FloatArray
    sides: list[Side | None]
    trade_ids: list[str]
    stats: ReadStats


# --- public readers ---------------------------------------------------------------------------


def read_bars(
    path: str | Path, symbol: str, timeframe: str, stamper: Stamper, on_error: OnError = "stop"
) -> FileEvents[Bar]:
    """OHLCV bars; the file's time is the bar open, so ``ts_event = ts_open + timeframe``."""
    span_ns = timeframe_seconds(timeframe) * 1_000_000_000
    cols = load_bar_columns(path, on_error)
    return FileEvents(bar_events(cols, symbol, timeframe, span_ns, stamper), cols.stats)


def read_ticks(
    path: str | Path, symbol: str, stamper: Stamper, on_error: OnError = "stop", venue: str = ""
) -> FileEvents[Tick]:
    """Trade prints: time, price, size, and optionally side and trade id."""
    cols = load_tick_columns(path, on_error)
    return FileEvents(_tick_events(cols, symbol, venue, stamper), cols.stats)


def read_tick_batches(
    path: str | Path,
    symbol: str,
    stamper: Stamper,
    batch_size: int = 10_000,
    on_error: OnError = "stop",
) -> FileEvents[TickBatch]:
    """Trade prints as columnar :class:`TickBatch` events of up to ``batch_size`` ticks."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    cols = load_tick_columns(path, on_error, details=False)
    batches = tick_batches(symbol, cols.ts, cols.price, cols.size, stamper, batch_size)
    return FileEvents(batches, cols.stats)


def validate_file(
    path: str | Path, kind: Literal["bars", "ticks"] = "bars", on_error: OnError = "stop"
) -> ReadStats:
    """Check a whole file before trading starts; raises on the first bad row unless skipping."""
    if kind == "bars":
        return load_bar_columns(path, on_error).stats
    return load_tick_columns(path, on_error).stats


def tick_batch(
    symbol: str, ts: IntArray, price: FloatArray, size: FloatArray, stamper: Stamper
) -> TickBatch:
    """One batch from equal-length columns; its ``ts_event`` is the last tick's time."""
    return TickBatch(
        **stamper(int(ts[-1])),
        symbol=symbol,
        ts=np.ascontiguousarray(ts, dtype="<i8").tobytes(),
        price=np.ascontiguousarray(price, dtype="<f8").tobytes(),
        size=np.ascontiguousarray(size, dtype="<f8").tobytes(),
    )


def tick_batches(
    symbol: str,
    ts: IntArray,
    price: FloatArray,
    size: FloatArray,
    stamper: Stamper,
    batch_size: int,
) -> Iterator[TickBatch]:
    for start in range(0, len(ts), batch_size):
        end = start + batch_size
        yield tick_batch(symbol, ts[start:end], price[start:end], size[start:end], stamper)


# --- loading and validation -------------------------------------------------------------------


def load_bar_columns(path: str | Path, on_error: OnError = "stop") -> BarColumns:
    """Parse and validate a bar file into numpy columns (rows that failed are dropped)."""
    table = read_table(Path(path))
    errors = table.errors
    ts = column_times(table.require("time", TIME_COLUMNS), "time", errors)
    prices = {
        name: column_floats(table.require(name, (name,)), name, errors) for name in PRICE_COLUMNS
    }
    volume_col = table.find(("volume",))
    volume = (
        np.zeros(len(ts)) if volume_col is None else column_floats(volume_col, "volume", errors)
    )
    _check_prices(errors, prices)
    _check_ohlc(errors, prices)
    _check_amount(errors, "volume", volume)
    check_order(errors, ts, strict=True)
    keep, stats = _settle(table, on_error)
    o, h, lo, c = (prices[name][keep] for name in PRICE_COLUMNS)
    return BarColumns(ts[keep], o, h, lo, c, volume[keep], stats)


def load_tick_columns(
    path: str | Path, on_error: OnError = "stop", *, details: bool = True
) -> TickColumns:
    """Parse and validate a tick file. Equal timestamps are allowed (several prints per ms);
    going backwards is not. ``details=False`` skips the side and trade-id columns."""
    table = read_table(Path(path))
    errors = table.errors
    ts = column_times(table.require("time", TIME_COLUMNS), "time", errors)
    price = column_floats(table.require("price", ("price",)), "price", errors)
    size = column_floats(table.require("size", SIZE_COLUMNS), "size", errors)
    sides = _sides(table.find(SIDE_COLUMNS), errors) if details else []
    trade_ids = _texts(table.find(TRADE_ID_COLUMNS), len(ts)) if details else []
    _check_prices(errors, {"price": price})
    _check_amount(errors, "size", size)
    check_order(errors, ts, strict=False)
    keep, stats = _settle(table, on_error)
    if details:
        kept_rows = np.flatnonzero(keep).tolist()
        sides = [sides[i] for i in kept_rows]
        trade_ids = [trade_ids[i] for i in kept_rows]
    return TickColumns(ts[keep], price[keep], size[keep], sides, trade_ids, stats)


def _check_prices(errors: RowErrors, prices: dict[str, FloatArray]) -> None:
    for name, values in prices.items():
        errors.flag(~np.isfinite(values), f"{name} is not a finite number ({{v}})", v=values)
        errors.flag(values <= 0, f"{name} must be positive, got {{v}}", v=values)


def _check_ohlc(errors: RowErrors, p: dict[str, FloatArray]) -> None:
    high, low = p["high"], p["low"]
    errors.flag(high < low, "high {h} is below low {lo}", h=high, lo=low)
    for name in ("open", "close"):
        outside = (p[name] < low) | (p[name] > high)
        template = f"{name} {{v}} is outside [low, high] = [{{lo}}, {{h}}]"
        errors.flag(outside, template, v=p[name], lo=low, h=high)


def _check_amount(errors: RowErrors, name: str, values: FloatArray) -> None:
    errors.flag(~np.isfinite(values), f"{name} is not a finite number ({{v}})", v=values)
    errors.flag(values < 0, f"{name} must not be negative, got {{v}}", v=values)


def _sides(column: pa.ChunkedArray | None, errors: RowErrors) -> list[Side | None]:
    if column is None:
        return [None] * errors.rows
    texts = _texts(column, errors.rows)
    sides: list[Side | None] = []
    for row, text in enumerate(texts):
        key = text.strip().lower()
        if key not in _SIDES:
            errors.add(row, f"side {text!r} is neither buy nor sell")
        sides.append(_SIDES.get(key))
    return sides


def _texts(column: pa.ChunkedArray | None, rows: int) -> list[str]:
    if column is None:
        return [""] * rows
    return ["" if v is None else str(v) for v in column.to_pylist()]


def _settle(table: Table, on_error: OnError) -> tuple[npt.NDArray[np.bool_], ReadStats]:
    """Apply the error policy: raise on the first bad row, or drop bad rows and count them."""
    errors = table.errors
    bad = sorted(errors.reasons)
    if bad and on_error == "stop":
        row = bad[0]
        raise DataError(errors.reasons[row], source=table.source, line=int(table.lines[row]))
    reported = tuple(
        DataError(errors.reasons[row], source=table.source, line=int(table.lines[row]))
        for row in bad[:MAX_REPORTED_ERRORS]
    )
    stats = ReadStats(table.source, errors.rows, len(bad), reported)
    return ~errors.mask(), stats


# --- columns to events ------------------------------------------------------------------------


class OhlcvColumns(Protocol):
    """Bars as columns: what a bar file and the candle store both hold."""

    @property
    def ts_open(self) -> IntArray: ...
    @property
    def open(self) -> FloatArray: ...
    @property
    def high(self) -> FloatArray: ...
    @property
    def low(self) -> FloatArray: ...
    @property
    def close(self) -> FloatArray: ...
    @property
    def volume(self) -> FloatArray: ...


def bar_events(
    cols: OhlcvColumns, symbol: str, timeframe: str, span_ns: int, stamper: Stamper
) -> Iterator[Bar]:
    """One :class:`Bar` per row, stamped at its close (``ts_open + span_ns``)."""
    rows = zip(
        cols.ts_open.tolist(),
        cols.open.tolist(),
        cols.high.tolist(),
        cols.low.tolist(),
        cols.close.tolist(),
        cols.volume.tolist(),
        strict=True,
    )
    for ts_open, open_, high, low, close, volume in rows:
        yield Bar(
            **stamper(ts_open + span_ns),
            symbol=symbol,
            timeframe=timeframe,
            ts_open=ts_open,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
        )


def _tick_events(cols: TickColumns, symbol: str, venue: str, stamper: Stamper) -> Iterator[Tick]:
    columns = (cols.ts.tolist(), cols.price.tolist(), cols.size.tolist())
    rows = zip(*columns, cols.sides, cols.trade_ids, strict=True)
    for ts, price, size, side, trade_id in rows:
        yield Tick(
            **stamper(ts),
            symbol=symbol,
            price=price,
            size=size,
            aggressor=side,
            trade_id=trade_id,
            venue=venue,
        )


__all__ = [
    "FileEvents",
    "OnError",
    "ReadStats",
    "load_bar_columns",
    "load_tick_columns",
    "read_bars",
    "read_tick_batches",
    "read_ticks",
    "tick_batch",
    "tick_batches",
    "validate_file",
]
