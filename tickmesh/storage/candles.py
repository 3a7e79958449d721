"""The local candle store: OHLCV bars as Parquet, one file per symbol and timeframe.

Layout: ``<root>/symbol=<SYMBOL>/timeframe=<TF>/candles.parquet`` (hive-style partitions, so
pyarrow, pandas or DuckDB read the whole store as one dataset). Rows are bar opens in ns (UTC),
sorted and unique. Imports merge into what is stored: rows equal to stored ones are counted as
unchanged, rows that disagree with stored ones are refused (naming the first one) unless the
caller asks to replace them. A file is written to a temporary name and renamed into place, so a
crash mid-write never leaves a torn file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from tickmesh.adapters.feeds.columns import format_ns
from tickmesh.core.errors import DataError
from tickmesh.topics import timeframe_seconds

_NS = 1_000_000_000
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FILE_NAME = "candles.parquet"
COLUMNS = ("ts_open", "open", "high", "low", "close", "volume")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Candles:
    """Bars of one symbol and timeframe as columns; ``ts_open`` in ns, sorted and unique."""

    ts_open: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return len(self.ts_open)

    def take(self, index: npt.NDArray[np.int64] | slice) -> Candles:
        return Candles(*(getattr(self, name)[index] for name in COLUMNS))

    def table(self) -> pa.Table:
        return pa.table({name: getattr(self, name) for name in COLUMNS})

    @classmethod
    def from_table(cls, table: pa.Table) -> Candles:
        return cls(
            np.asarray(table.column("ts_open").to_numpy(), dtype=np.int64),
            *(np.asarray(table.column(n).to_numpy(), dtype=np.float64) for n in COLUMNS[1:]),
        )


@dataclass(frozen=True)
class ImportResult:
    added: int
    unchanged: int
    replaced: int
    total: int


@dataclass(frozen=True)
class StoredSeries:
    """What ``tickmesh data list`` shows for one symbol and timeframe."""

    symbol: str
    timeframe: str
    rows: int
    first: int
    last: int
    gaps: int
    missing_bars: int

    @property
    def first_text(self) -> str:
        return format_ns(self.first)

    @property
    def last_text(self) -> str:
        return format_ns(self.last)


def check_symbol(symbol: str) -> str:
    if not _SYMBOL_RE.match(symbol):
        raise DataError(
            f"invalid symbol {symbol!r}: use letters, digits, '.', '_' or '-' (at most 64), "
            "starting with a letter or digit"
        )
    return symbol


def gaps_of(ts_open: IntArray, timeframe: str) -> tuple[int, int]:
    """``(gaps, missing bars)``: places where consecutive bars are more than one step apart."""
    if len(ts_open) < 2:
        return 0, 0
    step = timeframe_seconds(timeframe) * _NS
    jumps = np.diff(ts_open)
    wide = jumps > step
    missing = int(np.sum(jumps[wide] // step - 1))
    return int(np.count_nonzero(wide)), missing


class CandleStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, symbol: str, timeframe: str) -> Path:
        timeframe_seconds(timeframe)
        return self.root / f"symbol={check_symbol(symbol)}" / f"timeframe={timeframe}" / FILE_NAME

    def read(
        self, symbol: str, timeframe: str, start: int | None = None, end: int | None = None
    ) -> Candles:
        """Stored bars with ``start <= ts_open < end``; a missing series is a clear error."""
        path = self.path(symbol, timeframe)
        if not path.exists():
            stored = ", ".join(f"{s.symbol} {s.timeframe}" for s in self.series()) or "nothing"
            raise DataError(
                f"no {timeframe} candles stored for {symbol} in {self.root} (stored: {stored}); "
                f"import some with: tickmesh data import FILE --symbol {symbol} "
                f"--timeframe {timeframe}"
            )
        candles = Candles.from_table(pq.read_table(path))
        lo = 0 if start is None else int(np.searchsorted(candles.ts_open, start, "left"))
        hi = len(candles) if end is None else int(np.searchsorted(candles.ts_open, end, "left"))
        return candles.take(slice(lo, hi))

    def write(
        self, symbol: str, timeframe: str, new: Candles, *, replace: bool = False
    ) -> ImportResult:
        """Merge ``new`` into the stored series (see the module docs for the rules)."""
        _check_sorted_unique(new)
        path = self.path(symbol, timeframe)
        old = Candles.from_table(pq.read_table(path)) if path.exists() else None
        merged, result = _merge(old, new, replace, f"{symbol} {timeframe}")
        if result.added or result.replaced or old is None:
            _atomic_write(path, merged.table())
        return result

    def series(self) -> list[StoredSeries]:
        """Every stored symbol and timeframe with its range and gaps, sorted."""
        found = []
        for path in sorted(self.root.glob(f"symbol=*/timeframe=*/{FILE_NAME}")):
            symbol = path.parent.parent.name.removeprefix("symbol=")
            timeframe = path.parent.name.removeprefix("timeframe=")
            ts = np.asarray(pq.read_table(path, columns=["ts_open"]).column(0).to_numpy())
            if len(ts) == 0:
                continue
            gaps, missing = gaps_of(ts, timeframe)
            found.append(
                StoredSeries(symbol, timeframe, len(ts), int(ts[0]), int(ts[-1]), gaps, missing)
            )
        return found


def _check_sorted_unique(candles: Candles) -> None:
    steps = np.diff(candles.ts_open)
    bad = np.flatnonzero(steps <= 0)
    if len(bad):
        i = int(bad[0]) + 1
        what = "duplicated" if steps[bad[0]] == 0 else "out of order"
        raise DataError(f"row {i}: timestamp {format_ns(int(candles.ts_open[i]))} is {what}")


def _merge(
    old: Candles | None, new: Candles, replace: bool, series: str
) -> tuple[Candles, ImportResult]:
    if old is None or len(old) == 0:
        return new, ImportResult(len(new), 0, 0, len(new))
    common, old_idx, new_idx = np.intersect1d(old.ts_open, new.ts_open, return_indices=True)
    same = np.ones(len(common), dtype=bool)
    for name in COLUMNS[1:]:
        same &= getattr(old, name)[old_idx] == getattr(new, name)[new_idx]
    conflicts = common[~same]
    if len(conflicts) and not replace:
        raise DataError(
            f"{series}: {len(conflicts)} bar(s) differ from the stored ones, first at "
            f"{format_ns(int(conflicts[0]))}; pass --replace to overwrite them"
        )
    keep_old = np.ones(len(old), dtype=bool)
    keep_old[old_idx] = False
    combined = Candles(
        *(np.concatenate([getattr(old, n)[keep_old], getattr(new, n)]) for n in COLUMNS)
    )
    order = np.argsort(combined.ts_open, kind="stable")
    merged = combined.take(order)
    added = len(new) - len(common)
    result = ImportResult(added, int(np.count_nonzero(same)), len(conflicts), len(merged))
    return merged, result


def _atomic_write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def candles_from_bar_file(path: str | Path) -> Candles:
    """An OHLCV file (CSV or Parquet), validated row by row: a bad row stops with its line."""
    from tickmesh.adapters.feeds.files import load_bar_columns

    cols = load_bar_columns(path)
    return Candles(cols.ts_open, cols.open, cols.high, cols.low, cols.close, cols.volume)


def candles_from_trade_file(path: str | Path, symbol: str, timeframe: str) -> Candles:
    """A file of trade prints (time, price, size) aggregated into ``timeframe`` bars."""
    from tickmesh.adapters.feeds.files import load_tick_columns, tick_batches
    from tickmesh.bars import TickBarBuilder
    from tickmesh.core.stamp import Stamper

    cols = load_tick_columns(path, details=False)
    stamper = Stamper.deterministic("import")
    builder = TickBarBuilder(stamper, timeframe, allowed_lateness_ns=0)
    bars = []
    for batch in tick_batches(symbol, cols.ts, cols.price, cols.size, stamper, 100_000):
        bars += builder.on_tick_batch(batch)
    bars += builder.flush()
    return Candles(
        np.array([b.ts_open for b in bars], dtype=np.int64),
        *(np.array([getattr(b, n) for b in bars], dtype=np.float64) for n in COLUMNS[1:]),
    )


def sniff_kind(path: str | Path) -> str:
    """``"bars"`` when the file has OHLC columns, ``"trades"`` when it has a price column."""
    from tickmesh.adapters.feeds.tables import read_table

    table = read_table(Path(path))
    if all(table.find((name,)) is not None for name in ("open", "high", "low", "close")):
        return "bars"
    if table.find(("price",)) is not None:
        return "trades"
    raise DataError(
        f"{path}: neither OHLCV bars (time, open, high, low, close[, volume]) nor trades "
        "(time, price, size): cannot tell what to import"
    )
