from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tickmesh.adapters.feeds.files import (
    read_bars,
    read_tick_batches,
    read_ticks,
    validate_file,
)
from tickmesh.core.errors import DataError
from tickmesh.core.stamp import Stamper
from tickmesh.model.enums import Side

BUNDLED = Path(__file__).resolve().parents[4] / "tickmesh" / "data" / "bundled"
HOUR_NS = 3_600 * 1_000_000_000
DAY_NS = 24 * HOUR_NS
GOOD_BARS = (
    "2020-01-01,1,2,0.5,1.5,10\n"
    "2020-01-02,1.5,2,1,1.2,0\n"
)  # fmt: skip


@pytest.fixture
def stamper() -> Stamper:
    return Stamper.deterministic("test.files")


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def bars_csv(tmp_path: Path, *rows: str) -> Path:
    return write(tmp_path, "time,open,high,low,close,volume\n" + "".join(f"{r}\n" for r in rows))


# --- bundled files ----------------------------------------------------------------------------


def test_bundled_eurusd_reads_every_row_with_open_time_and_close_time(stamper: Stamper) -> None:
    bars = list(read_bars(BUNDLED / "EURUSD_1h.csv", "EURUSD", "1h", stamper))

    assert len(bars) == 6225
    first = bars[0]
    assert first.ts_open == 1_483_308_000_000_000_000  # 01.01.2017 22:00 UTC
    assert first.ts_event == first.ts_open + HOUR_NS
    assert (first.open, first.high, first.low, first.close) == (1.05236, 1.05253, 1.05221, 1.05227)
    assert first.volume == pytest.approx(143539993.3)
    assert bars[-1].close == 1.20075


def test_bundled_googl_reads_every_row_and_ignores_adj_close(stamper: Stamper) -> None:
    reader = read_bars(BUNDLED / "GOOGL_1d.csv", "GOOGL", "1d", stamper)
    bars = list(reader)

    assert len(bars) == 2335
    assert reader.stats.rows == 2335
    assert reader.stats.skipped == 0
    assert bars[0].ts_open == 1_242_950_400_000_000_000  # 2009-05-22
    assert bars[0].ts_event - bars[0].ts_open == DAY_NS
    assert bars[0].close == 196.946945
    assert bars[0].volume == 3433700.0


@pytest.mark.parametrize("name", ["EURUSD_1h.csv", "GOOGL_1d.csv"])
def test_bundled_file_passes_validation(name: str) -> None:
    stats = validate_file(BUNDLED / name)

    assert stats.skipped == 0


# --- bad rows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2020-01-03,1,2,0.5,abc,10", "close: 'abc' is not a number"),
        ("2020-01-03,,2,0.5,1.5,10", "open: missing value"),
        ("not-a-date,1,2,0.5,1.5,10", "time: cannot parse 'not-a-date' as a time"),
        ("2020-01-03,nan,2,0.5,1.5,10", "open is not a finite number (nan)"),
        ("2020-01-03,1,inf,0.5,1.5,10", "high is not a finite number (inf)"),
        ("2020-01-03,1,2,0,1.5,10", "low must be positive, got 0.0"),
        ("2020-01-03,1,2,-0.5,1.5,10", "low must be positive, got -0.5"),
        ("2020-01-03,1,0.4,0.5,0.45,10", "high 0.4 is below low 0.5"),
        ("2020-01-03,3,2,0.5,1.5,10", "open 3.0 is outside [low, high] = [0.5, 2.0]"),
        ("2020-01-03,1,2,0.5,0.4,10", "close 0.4 is outside [low, high] = [0.5, 2.0]"),
        ("2020-01-03,1,2,0.5,1.5,-1", "volume must not be negative, got -1.0"),
        ("2020-01-02,1,2,0.5,1.5,10", "duplicate timestamp 2020-01-02T00:00:00Z"),
        (
            "2020-01-01T12:00:00,1,2,0.5,1.5,10",
            "timestamp 2020-01-01T12:00:00Z is before an earlier 2020-01-02T00:00:00Z",
        ),
        ("2020-01-03,1,2,0.5", "expected 6 columns, got 4"),
    ],
)
def test_bad_bar_row_stops_with_file_line_and_reason(
    tmp_path: Path, stamper: Stamper, row: str, reason: str
) -> None:
    path = write(tmp_path, "time,open,high,low,close,volume\n" + GOOD_BARS + row + "\n")

    with pytest.raises(DataError) as caught:
        read_bars(path, "X", "1d", stamper)

    assert caught.value.source == str(path)
    assert caught.value.line == 4
    assert caught.value.reason == reason
    assert str(caught.value) == f"{path}:4: {reason}"


def test_bad_row_raises_before_any_bar_is_yielded(tmp_path: Path, stamper: Stamper) -> None:
    good = [f"2020-01-{day:02d},1,2,0.5,1.5,10" for day in range(1, 29)]
    path = bars_csv(tmp_path, *good, "2020-01-29,1,2,0.5,oops,10")
    produced: list[object] = []

    with pytest.raises(DataError):
        produced.extend(read_bars(path, "X", "1d", stamper))

    assert produced == []


def test_skip_mode_drops_bad_rows_and_counts_them(tmp_path: Path, stamper: Stamper) -> None:
    path = bars_csv(
        tmp_path,
        "2020-01-01,1,2,0.5,1.5,10",
        "2020-01-02,1,2,0.5,bad,10",
        "2020-01-03,1,0.1,0.5,1.5,10",
        "2020-01-04,1,2,0.5,1.5,10",
        "2020-01-04,1,2,0.5,1.5,10",
    )

    reader = read_bars(path, "X", "1d", stamper, on_error="skip")
    bars = list(reader)

    assert [b.ts_open for b in bars] == [1_577_836_800_000_000_000, 1_578_096_000_000_000_000]
    assert (reader.stats.rows, reader.stats.skipped, reader.stats.kept) == (5, 3, 2)
    assert [e.line for e in reader.stats.errors] == [3, 4, 6]


def test_row_after_a_skipped_row_is_ordered_against_good_rows_only(tmp_path: Path) -> None:
    path = bars_csv(
        tmp_path,
        "2020-01-01,1,2,0.5,1.5,10",
        "2020-01-05,1,2,0.5,-1,10",
        "2020-01-03,1,2,0.5,1.5,10",
    )

    stats = validate_file(path, on_error="skip")

    assert stats.skipped == 1
    assert stats.errors[0].line == 3


def test_blank_lines_are_ignored_and_line_numbers_stay_true(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "time,open,high,low,close,volume\n2020-01-01,1,2,0.5,1.5,10\n\n\n2020-01-02,1,2,0.5,x,1\n",
    )

    with pytest.raises(DataError) as caught:
        validate_file(path)

    assert caught.value.line == 5


def test_line_numbers_stay_true_after_a_ragged_row(tmp_path: Path) -> None:
    path = bars_csv(
        tmp_path,
        "2020-01-01,1,2,0.5,1.5,10",
        "2020-01-02,1,2",
        "2020-01-03,1,2,0.5,1.5,10",
        "2020-01-04,1,2,0.5,x,10",
    )

    stats = validate_file(path, on_error="skip")

    assert [(e.line, e.reason) for e in stats.errors] == [
        (3, "expected 6 columns, got 3"),
        (5, "close: 'x' is not a number"),
    ]


def test_missing_column_names_it_and_lists_what_was_found(tmp_path: Path) -> None:
    path = write(tmp_path, "Date,Open,High,Low,Volume\n2020-01-01,1,2,0.5,10\n")

    with pytest.raises(DataError) as caught:
        validate_file(path)

    assert caught.value.line == 1
    assert "missing column 'close'" in caught.value.reason
    assert "found: date, open, high, low, volume" in caught.value.reason


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        validate_file(tmp_path / "nope.csv")


def test_column_names_match_case_insensitively_and_volume_is_optional(
    tmp_path: Path, stamper: Stamper
) -> None:
    path = write(tmp_path, " DateTime ,OPEN,High,LOW,Close\n2020-01-01 10:00:00,1,2,0.5,1.5\n")

    (bar,) = read_bars(path, "X", "1h", stamper)

    assert bar.ts_open == 1_577_872_800_000_000_000
    assert bar.volume == 0.0


# --- time formats -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("1577836800", "1577840400"),  # seconds
        ("1577836800000", "1577840400000"),  # milliseconds
        ("1577836800000000", "1577840400000000"),  # microseconds
        ("1577836800000000000", "1577840400000000000"),  # nanoseconds
        ("2020-01-01T00:00:00Z", "2020-01-01T02:00:00+01:00"),
        ("2020-01-01 00:00", "2020-01-01 01:00:00.000"),
        ("01.01.2020 00:00:00.000", "01.01.2020 01:00:00.000"),
    ],
)
def test_time_formats_and_epoch_units_are_detected(
    tmp_path: Path, stamper: Stamper, first: str, second: str
) -> None:
    path = bars_csv(tmp_path, f"{first},1,2,0.5,1.5,10", f"{second},1,2,0.5,1.5,10")

    bars = list(read_bars(path, "X", "1h", stamper))

    assert [b.ts_open for b in bars] == [1_577_836_800_000_000_000, 1_577_840_400_000_000_000]


def test_fractional_epoch_seconds_keep_subsecond_precision(
    tmp_path: Path, stamper: Stamper
) -> None:
    path = write(tmp_path, "ts,price,size\n1577836800.25,10,1\n1577836800.5,10,1\n")

    ticks = list(read_ticks(path, "X", stamper))

    assert [t.ts_event for t in ticks] == [1_577_836_800_250_000_000, 1_577_836_800_500_000_000]


# --- ticks ------------------------------------------------------------------------------------


def test_ticks_read_side_trade_id_and_allow_equal_times(tmp_path: Path, stamper: Stamper) -> None:
    path = write(
        tmp_path,
        "timestamp,price,qty,side,trade_id\n"
        "1577836800000,100.5,0.25,buy,7\n"
        "1577836800000,100.25,1,SELL,8\n"
        "1577836800001,100.0,0,,9\n",
    )

    ticks = list(read_ticks(path, "BTCUSD", stamper, venue="test"))

    assert [(t.price, t.size, t.aggressor, t.trade_id) for t in ticks] == [
        (100.5, 0.25, Side.BUY, "7"),
        (100.25, 1.0, Side.SELL, "8"),
        (100.0, 0.0, None, "9"),
    ]
    assert ticks[0].ts_event == ticks[1].ts_event == 1_577_836_800_000_000_000
    assert {t.symbol for t in ticks} == {"BTCUSD"}
    assert {t.venue for t in ticks} == {"test"}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("1577836799,10,1,buy", "timestamp 2019-12-31T23:59:59Z is before an earlier"),
        ("1577836801,0,1,buy", "price must be positive, got 0.0"),
        ("1577836801,10,-1,buy", "size must not be negative, got -1.0"),
        ("1577836801,10,1,hold", "side 'hold' is neither buy nor sell"),
    ],
)
def test_bad_tick_row_stops_with_line_and_reason(
    tmp_path: Path, stamper: Stamper, row: str, reason: str
) -> None:
    path = write(tmp_path, f"time,price,size,side\n1577836800,10,1,buy\n{row}\n")

    with pytest.raises(DataError) as caught:
        read_ticks(path, "X", stamper)

    assert caught.value.line == 3
    assert caught.value.reason.startswith(reason)


def test_tick_batches_hold_the_same_ticks_as_read_ticks(tmp_path: Path, stamper: Stamper) -> None:
    rows = "".join(f"{1_600_000_000_000 + i},{100 + i / 8},{1 + i % 3}\n" for i in range(25))
    path = write(tmp_path, "ts,price,size\n" + rows)
    ticks = list(read_ticks(path, "X", stamper))

    batches = list(read_tick_batches(path, "X", stamper, batch_size=10))

    assert [b.count for b in batches] == [10, 10, 5]
    ts = np.concatenate([np.frombuffer(b.ts, dtype="<i8") for b in batches])
    price = np.concatenate([np.frombuffer(b.price, dtype="<f8") for b in batches])
    size = np.concatenate([np.frombuffer(b.size, dtype="<f8") for b in batches])
    assert ts.tolist() == [t.ts_event for t in ticks]
    assert price.tolist() == [t.price for t in ticks]
    assert size.tolist() == [t.size for t in ticks]
    assert [b.ts_event for b in batches] == [int(ts[9]), int(ts[19]), int(ts[24])]


# --- parquet ----------------------------------------------------------------------------------


def test_parquet_bars_round_trip_with_timestamp_column(tmp_path: Path, stamper: Stamper) -> None:
    path = tmp_path / "bars.parquet"
    table = pa.table(
        {
            "Timestamp": pa.array(
                [1_577_836_800_000, 1_577_840_400_000], pa.timestamp("ms", "UTC")
            ),
            "open": [1.0, 1.5],
            "high": [2.0, 2.0],
            "low": [0.5, 1.0],
            "close": [1.5, 1.2],
            "volume": pa.array([10, 0], pa.int64()),
        }
    )
    pq.write_table(table, path)

    bars = list(read_bars(path, "X", "1h", stamper))

    assert [(b.ts_open, b.open, b.close, b.volume) for b in bars] == [
        (1_577_836_800_000_000_000, 1.0, 1.5, 10.0),
        (1_577_840_400_000_000_000, 1.5, 1.2, 0.0),
    ]


def test_parquet_null_price_is_reported_by_row_number(tmp_path: Path, stamper: Stamper) -> None:
    path = tmp_path / "ticks.parquet"
    pq.write_table(
        pa.table({"ts": [1, 2, 3], "price": [1.0, None, 2.0], "size": [1.0, 1.0, 1.0]}), path
    )

    with pytest.raises(DataError) as caught:
        read_ticks(path, "X", stamper)

    assert (caught.value.line, caught.value.reason) == (2, "price: missing value")


def test_parquet_ticks_with_text_times_round_trip(tmp_path: Path, stamper: Stamper) -> None:
    path = tmp_path / "ticks.parquet"
    times = ["2020-01-01T00:00:00", "2020-01-01T00:00:00.5"]
    pq.write_table(pa.table({"time": times, "price": [1.0, 2.0], "volume": [3.0, 4.0]}), path)

    ticks = list(read_ticks(path, "X", stamper))

    assert [(t.ts_event, t.price, t.size) for t in ticks] == [
        (1_577_836_800_000_000_000, 1.0, 3.0),
        (1_577_836_800_500_000_000, 2.0, 4.0),
    ]
