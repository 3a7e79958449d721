"""Reading a CSV or Parquet file into named columns, keeping each row's true line number.

CSV columns are read as text so that one bad value is reported against its row rather than
failing the whole file; rows with the wrong number of fields, which the parser cannot place in
columns, come back as empty rows already carrying their error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from tickmesh.adapters.feeds.columns import RowErrors
from tickmesh.core.errors import DataError

IntArray = npt.NDArray[np.int64]
PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass(frozen=True)
class Table:
    """A file as lower-cased column names -> columns, with per-row line numbers and errors."""

    source: str
    columns: dict[str, pa.ChunkedArray]
    lines: IntArray
    errors: RowErrors
    header_line: int | None

    def find(self, candidates: Sequence[str]) -> pa.ChunkedArray | None:
        for name in candidates:
            if name in self.columns:
                return self.columns[name]
        return None

    def require(self, label: str, candidates: Sequence[str]) -> pa.ChunkedArray:
        column = self.find(candidates)
        if column is None:
            found = ", ".join(self.columns) or "none"
            wanted = " or ".join(repr(c) for c in candidates)
            raise DataError(
                f"missing column {label!r} (expected {wanted}; found: {found})",
                source=self.source,
                line=self.header_line,
            )
        return column


def read_table(path: Path) -> Table:
    if not path.is_file():
        raise DataError("file not found", source=str(path))
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(path)
    return _read_csv(path)


def _read_parquet(path: Path) -> Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read Parquet: {exc}", source=str(path)) from exc
    lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
    columns = _by_lower_name(table)
    return Table(str(path), columns, lines, RowErrors(table.num_rows), None)


def _read_csv(path: Path) -> Table:
    """Every column is read as text so a bad value is reported per row, not per file."""
    header = _csv_header(path)
    ragged: list[tuple[int, str]] = []

    def on_ragged(row: pcsv.InvalidRow) -> str:
        ragged.append(
            (row.number or 0, f"expected {row.expected_columns} columns, got {row.actual_columns}")
        )
        return "skip"

    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(
                ignore_empty_lines=False, invalid_row_handler=on_ragged
            ),
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string())),
        )
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read CSV: {exc}", source=str(path)) from exc
    table, lines = _drop_blank_rows(table, _csv_lines(table.num_rows, ragged))
    return _with_ragged_rows(str(path), _by_lower_name(table), lines, ragged)


def _csv_header(path: Path) -> list[str]:
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(invalid_row_handler=lambda _row: "skip"),
        )
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read CSV header: {exc}", source=str(path), line=1) from exc
    with reader:
        return list(reader.schema.names)


def _csv_lines(num_rows: int, ragged: list[tuple[int, str]]) -> IntArray:
    """File line of each parsed row: row i is on line i + 2, shifted past skipped ragged lines."""
    lines = np.arange(2, num_rows + 2, dtype=np.int64)
    for line, _ in sorted(ragged):
        lines[lines >= line] += 1
    return lines


def _drop_blank_rows(table: pa.Table, lines: IntArray) -> tuple[pa.Table, IntArray]:
    if table.num_columns == 0 or table.num_rows == 0:
        return table, lines
    blank = np.ones(table.num_rows, dtype=bool)
    for column in table.columns:
        blank &= pc.equal(pc.fill_null(column, ""), "").to_numpy(zero_copy_only=False)
    if not blank.any():
        return table, lines
    return table.filter(pa.array(~blank)), lines[~blank]


def _with_ragged_rows(
    source: str, columns: dict[str, pa.ChunkedArray], lines: IntArray, ragged: list[tuple[int, str]]
) -> Table:
    """Ragged rows were skipped by the parser; put them back as empty rows carrying their error,
    so the error policy treats them like any other bad row."""
    if not ragged:
        return Table(source, columns, lines, RowErrors(len(lines)), 1)
    all_lines = np.concatenate([lines, np.array([line for line, _ in ragged], dtype=np.int64)])
    order = np.argsort(all_lines, kind="stable")
    padded = {
        name: pa.chunked_array(
            [*column.chunks, pa.nulls(len(ragged), column.type)], type=column.type
        ).take(pa.array(order))
        for name, column in columns.items()
    }
    errors = RowErrors(len(all_lines))
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    for k, (_, reason) in enumerate(ragged):
        errors.add(int(position[len(lines) + k]), reason)
    return Table(source, padded, all_lines[order], errors, 1)


def _by_lower_name(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    columns: dict[str, pa.ChunkedArray] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        columns.setdefault(name.strip().lower(), column)
    return columns
