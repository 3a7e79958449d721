"""Turning file columns into numpy arrays while remembering, per row, the first thing wrong with it.

Fast paths convert whole columns in Arrow; only a column that fails falls back to a per-value
loop, which is what finds the offending rows. Times may be ISO text, ``DD.MM.YYYY HH:MM:SS.fff``,
Arrow dates/timestamps, or integer/float epochs whose unit (s, ms, us, ns) is read from their size.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tickmesh.core.errors import DataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(.*)")
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")
# (below this magnitude, ns per unit): seconds reach 1e11 only in the year 5138.
_EPOCH_UNITS = ((1e11, 1_000_000_000), (1e14, 1_000_000), (1e17, 1_000), (float("inf"), 1))


class RowErrors:
    """The first reason each bad row is bad. Checks run most-basic first, so a row that does not
    parse is reported as unparsable rather than as out of range."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.reasons: dict[int, str] = {}

    def add(self, row: int, reason: str) -> None:
        self.reasons.setdefault(row, reason)

    def flag(self, mask: BoolArray, template: str, **values: npt.NDArray[Any]) -> None:
        """Record ``template`` (formatted with each row's ``values``) for rows where mask holds."""
        for row in np.flatnonzero(mask).tolist():
            if row not in self.reasons:
                self.reasons[row] = template.format(**{k: v[row] for k, v in values.items()})

    def mask(self) -> BoolArray:
        bad = np.zeros(self.rows, dtype=bool)
        bad[list(self.reasons)] = True
        return bad


def column_floats(column: pa.ChunkedArray, name: str, errors: RowErrors) -> FloatArray:
    """Numbers as float64; missing or unparsable values are flagged and left as NaN."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        try:
            column = pc.cast(column, pa.float64())
        except pa.ArrowInvalid:
            return _floats_one_by_one(column.to_pylist(), name, errors)
    try:
        values = column.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"column {name!r} holds {column.type}, not numbers") from exc
    _flag_nulls(column, name, errors)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def column_times(column: pa.ChunkedArray, name: str, errors: RowErrors) -> IntArray:
    """Times as int64 ns since the epoch (UTC); missing or unparsable values are flagged."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _text_times(column, name, errors)
    _flag_nulls(column, name, errors)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        target = pa.timestamp("ns", getattr(kind, "tz", None))
        return _int64(column.cast(target).cast(pa.int64()))
    if pa.types.is_integer(kind):
        return epoch_to_ns(_int64(column.cast(pa.int64())))
    if pa.types.is_floating(kind):
        return epoch_to_ns(np.nan_to_num(column.to_numpy(zero_copy_only=False)))
    raise DataError(f"column {name!r} holds {kind}, not times")


def epoch_to_ns(values: npt.NDArray[np.int64] | FloatArray) -> IntArray:
    """Epoch numbers to ns, reading the unit from the column's typical magnitude."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    factor = _epoch_factor(values)
    if np.issubdtype(values.dtype, np.floating):
        whole = np.floor(values)
        return whole.astype(np.int64) * factor + np.rint((values - whole) * factor).astype(np.int64)
    return values.astype(np.int64) * factor


def _epoch_factor(values: npt.NDArray[Any]) -> int:
    magnitude = float(np.median(np.abs(values.astype(np.float64))))
    return next(f for limit, f in _EPOCH_UNITS if magnitude < limit)


def parse_time_text(text: str) -> int:
    """One ISO-8601 or ``DD.MM.YYYY HH:MM:SS.fff`` time as ns since the epoch; raises ValueError."""
    text = text.strip()
    match = _DAY_MONTH_YEAR.fullmatch(text)
    if match:
        day, month, year, rest = match.groups()
        text = f"{year}-{int(month):02d}-{int(day):02d}{rest}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def format_ns(ts_ns: int) -> str:
    """A ns timestamp as ISO-8601 UTC, for error messages."""
    moment = _EPOCH + timedelta(microseconds=ts_ns // 1_000)
    return moment.isoformat().replace("+00:00", "Z")


def check_order(errors: RowErrors, ts: IntArray, *, strict: bool) -> None:
    """Flag rows whose time is not after (``strict``) or is before every earlier good row."""
    good = np.flatnonzero(~errors.mask())
    if len(good) < 2:
        return
    times = ts[good]
    earlier = np.maximum.accumulate(times)[:-1]
    later = times[1:]
    bad = later <= earlier if strict else later < earlier
    for row, t, before in zip(
        good[1:][bad].tolist(), later[bad].tolist(), earlier[bad].tolist(), strict=True
    ):
        if t == before:
            errors.add(row, f"duplicate timestamp {format_ns(t)}")
        else:
            errors.add(row, f"timestamp {format_ns(t)} is before an earlier {format_ns(before)}")


def _text_times(column: pa.ChunkedArray, name: str, errors: RowErrors) -> IntArray:
    if len(column) and pc.all(pc.match_substring_regex(column, r"^[+-]?\d+$")).as_py():
        _flag_nulls(column, name, errors)
        return epoch_to_ns(_int64(column.cast(pa.int64())))
    try:
        parsed = column.cast(pa.timestamp("ns"))
    except pa.ArrowInvalid:
        return _times_one_by_one(column.to_pylist(), name, errors)
    _flag_nulls(column, name, errors)
    return _int64(parsed.cast(pa.int64()))


def _times_one_by_one(texts: list[str | None], name: str, errors: RowErrors) -> IntArray:
    out = np.zeros(len(texts), dtype=np.int64)
    epoch_rows: list[int] = []
    epoch_values: list[Decimal] = []
    for row, text in enumerate(texts):
        if text is None or not text.strip():
            errors.add(row, f"{name}: missing value")
        elif _NUMBER.fullmatch(text.strip()):
            epoch_rows.append(row)
            epoch_values.append(Decimal(text.strip()))
        else:
            try:
                out[row] = parse_time_text(text)
            except ValueError:
                errors.add(row, f"{name}: cannot parse {text!r} as a time")
    if epoch_rows:
        factor = _epoch_factor(np.array(epoch_values, dtype=np.float64))
        out[epoch_rows] = [int((v * factor).to_integral_value()) for v in epoch_values]
    return out


def _floats_one_by_one(texts: list[str | None], name: str, errors: RowErrors) -> FloatArray:
    out = np.full(len(texts), np.nan)
    for row, text in enumerate(texts):
        if text is None or not text.strip():
            errors.add(row, f"{name}: missing value")
            continue
        try:
            out[row] = float(text)
        except ValueError:
            errors.add(row, f"{name}: {text!r} is not a number")
    return out


def _flag_nulls(column: pa.ChunkedArray, name: str, errors: RowErrors) -> None:
    if column.null_count:
        errors.flag(column.is_null().to_numpy(zero_copy_only=False), f"{name}: missing value")


def _int64(column: pa.ChunkedArray) -> IntArray:
    return np.asarray(pc.fill_null(column, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
