"""Vectorised pieces of the batch path: which ticks of a batch are late, and per-bar summaries.

Every function here is whole-array numpy work; the only Python loop left to the caller is one
iteration per bar touched by the batch, never per tick.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tickmesh.bars.exact_sum import FloatArray
from tickmesh.core.errors import DataError
from tickmesh.model.events import TickBatch

IntArray = npt.NDArray[np.int64]


class Columns(NamedTuple):
    """Ticks of a batch as arrays. ``pos`` is each tick's position in the batch: it breaks ties
    in ts and gives the tick its arrival sequence number."""

    ts: IntArray
    price: FloatArray
    size: FloatArray
    pos: IntArray


class Span(NamedTuple):
    """The ticks of one batch that fall into one bar, summarised."""

    t0: int
    first_ts: int
    first_pos: int
    first_price: float
    last_ts: int
    last_pos: int
    last_price: float
    high: float
    low: float
    trades: int
    sizes: FloatArray


class Admission(NamedTuple):
    """Which ticks are on time, and the watermark and floor after the whole batch."""

    keep: npt.NDArray[np.bool_]
    watermark: int
    floor: int


def read_columns(batch: TickBatch) -> Columns:
    """Zero-copy views of the batch columns; a batch with unequal columns is malformed."""
    lengths = (len(batch.ts), len(batch.price), len(batch.size))
    if lengths[0] % 8 or len(set(lengths)) != 1:
        raise DataError(
            f"TickBatch {batch.event_id} for {batch.symbol}: columns must be equal multiples of "
            f"8 bytes, got ts={lengths[0]} price={lengths[1]} size={lengths[2]}"
        )
    return Columns(
        np.frombuffer(batch.ts, dtype="<i8"),
        np.frombuffer(batch.price, dtype="<f8"),
        np.frombuffer(batch.size, dtype="<f8"),
        np.arange(lengths[0] // 8, dtype=np.int64),
    )


def admit(ts: IntArray, watermark: int, floor: int, lateness_ns: int, tf_ns: int) -> Admission:
    """Tick i is late when its bar was closed by the watermark of ticks 0..i (and the batches
    before); the same rule the one-tick path applies as each tick arrives."""
    running = np.maximum.accumulate(ts)
    np.maximum(running, watermark, out=running)
    floors = running - lateness_ns
    floors -= floors % tf_ns
    np.maximum(floors, floor, out=floors)
    return Admission(ts >= floors, int(running[-1]), int(floors[-1]))


def select(columns: Columns, keep: npt.NDArray[np.bool_]) -> Columns:
    """The kept ticks, sorted by (ts, position) when they are not already in order."""
    if not keep.all():
        columns = _take(columns, keep)
    ts = columns.ts
    if len(ts) > 1 and not (ts[1:] >= ts[:-1]).all():
        order = np.argsort(ts, kind="stable")
        columns = _take(columns, order)
    return columns


def _take(columns: Columns, index: npt.NDArray[np.bool_] | IntArray) -> Columns:
    ts, price, size, pos = columns
    return Columns(ts[index], price[index], size[index], pos[index])


def spans(columns: Columns, tf_ns: int) -> list[Span]:
    """One summary per bar, oldest bar first; ``columns`` must be sorted and non-empty."""
    ts, price, size, pos = columns
    t0 = ts - ts % tf_ns
    cuts = np.flatnonzero(t0[1:] != t0[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [len(ts)]))
    lasts = stops - 1
    rows = zip(
        t0[starts].tolist(),
        ts[starts].tolist(),
        pos[starts].tolist(),
        price[starts].tolist(),
        ts[lasts].tolist(),
        pos[lasts].tolist(),
        price[lasts].tolist(),
        np.maximum.reduceat(price, starts).tolist(),
        np.minimum.reduceat(price, starts).tolist(),
        (stops - starts).tolist(),
        strict=True,
    )
    return [
        Span._make((*row, size[start:stop]))
        for row, start, stop in zip(rows, starts.tolist(), stops.tolist(), strict=True)
    ]
