"""The candle store: merge rules, atomic files, ranges and gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tickmesh.core.errors import DataError
from tickmesh.storage.candles import Candles, CandleStore, gaps_of

MIN = 60 * 1_000_000_000


def candles(starts: list[int], close: float = 1.5) -> Candles:
    n = len(starts)
    ts = np.array([s * MIN for s in starts], dtype=np.int64)
    return Candles(ts, np.ones(n), np.full(n, 2.0), np.full(n, 0.5), np.full(n, close), np.ones(n))


def test_write_then_read_round_trips_exactly_and_slices_by_range(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    store.write("BTC-USD", "1m", candles([0, 1, 2, 3]))

    got = store.read("BTC-USD", "1m", start=1 * MIN, end=3 * MIN)

    assert got.ts_open.tolist() == [MIN, 2 * MIN]
    assert got.close.tolist() == [1.5, 1.5]
    assert (tmp_path / "symbol=BTC-USD" / "timeframe=1m" / "candles.parquet").is_file()


def test_reimport_of_the_same_rows_changes_nothing_and_new_rows_are_merged_in_order(
    tmp_path: Path,
) -> None:
    store = CandleStore(tmp_path)
    store.write("X", "1m", candles([0, 2]))

    result = store.write("X", "1m", candles([1, 2, 3]))

    assert (result.added, result.unchanged, result.replaced, result.total) == (2, 1, 0, 4)
    assert store.read("X", "1m").ts_open.tolist() == [0, MIN, 2 * MIN, 3 * MIN]


def test_conflicting_rows_are_refused_unless_replace_is_asked(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    store.write("X", "1m", candles([0, 1]))

    with pytest.raises(DataError, match=r"1 bar\(s\) differ .* first at 1970-01-01T00:01:00Z"):
        store.write("X", "1m", candles([1], close=9.0))
    result = store.write("X", "1m", candles([1], close=9.0), replace=True)

    assert result.replaced == 1
    assert store.read("X", "1m").close.tolist() == [1.5, 9.0]


@pytest.mark.parametrize(("starts", "problem"), [([0, 0], "duplicated"), ([1, 0], "out of order")])
def test_unsorted_or_duplicated_input_names_the_row(
    tmp_path: Path, starts: list[int], problem: str
) -> None:
    with pytest.raises(DataError, match=f"row 1: .* is {problem}"):
        CandleStore(tmp_path).write("X", "1m", candles(starts))


def test_reading_a_series_that_is_not_stored_says_how_to_import_it(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    store.write("A", "1h", candles([0]))

    with pytest.raises(DataError, match=r"stored: A 1h.*tickmesh data import FILE --symbol B"):
        store.read("B", "1m")


def test_series_lists_ranges_and_counts_gaps_and_missing_bars(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    store.write("X", "1m", candles([0, 1, 4, 5, 7]))

    (series,) = store.series()

    assert (series.rows, series.gaps, series.missing_bars) == (5, 2, 3)
    assert series.first_text == "1970-01-01T00:00:00Z"
    assert series.last_text == "1970-01-01T00:07:00Z"


def test_gaps_of_a_single_bar_are_none() -> None:
    assert gaps_of(np.array([5], dtype=np.int64), "1d") == (0, 0)


def test_symbols_that_could_escape_the_store_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="invalid symbol"):
        CandleStore(tmp_path).path("../etc", "1m")
