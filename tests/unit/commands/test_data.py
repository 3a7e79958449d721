"""``tickmesh data import`` / ``data list`` through the real CLI entry point."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tickmesh.cli import app

Run = Callable[..., tuple[int, str]]
BARS = "time,open,high,low,close,volume\n2020-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
TRADES = (
    "time,price,size\n2020-01-01T00:00:01Z,10,1\n2020-01-01T00:00:30Z,11,2\n"
    "2020-01-01T00:01:10Z,9,1\n"
)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    return invoke


def test_import_bars_then_list_shows_the_series(run: Run, tmp_path: Path) -> None:
    (tmp_path / "bars.csv").write_text(BARS)

    code, out = run("data", "import", "bars.csv", "--symbol", "ETH-USD", "--timeframe", "1m")
    _, listing = run("data", "list")

    assert code == 0
    assert "1 added" in out
    assert "ETH-USD" in listing
    assert "2020-01-01T00:00:00Z" in listing


def test_import_trades_aggregates_them_into_bars(run: Run, tmp_path: Path) -> None:
    (tmp_path / "trades.csv").write_text(TRADES)

    code, out = run("data", "import", "trades.csv", "--symbol", "T", "--timeframe", "1m")

    assert code == 0
    assert "2 added" in out
    assert "trades from trades.csv" in out


def test_a_bad_row_exits_2_naming_file_and_line(run: Run, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text(BARS + "2020-01-01T00:01:00Z,1,nan,0.5,1.5,10\n")

    code, out = run("data", "import", "bad.csv", "--symbol", "X", "--timeframe", "1m")

    assert code == 2
    assert "bad.csv:3: high is not a finite number" in out


def test_listing_an_empty_store_says_so(run: Run) -> None:
    code, out = run("data", "list")

    assert code == 0
    assert "no candles stored" in out


def test_bundled_dataset_imports_with_its_own_symbol_and_timeframe(run: Run) -> None:
    code, out = run("data", "import", "bundled:GOOGL_1d")

    assert code == 0
    assert out.startswith("GOOGL 1d: 2335 added")


def test_unknown_bundled_dataset_lists_the_bundled_ones(run: Run) -> None:
    code, out = run("data", "import", "bundled:NOPE")

    assert code == 2
    assert "choose one of EURUSD_1h, GOOGL_1d" in out
