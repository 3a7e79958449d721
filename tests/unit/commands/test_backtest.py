"""``tickmesh backtest`` through the real CLI entry point, on the bundled GOOGL data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tickmesh.cli import app

Run = Callable[..., tuple[int, str]]
STATS_KEYS = {
    "start", "end", "duration", "exposure_time_pct", "equity_final", "equity_peak",
    "return_pct", "buy_hold_return_pct", "return_ann_pct", "volatility_ann_pct", "sharpe_ratio",
    "sortino_ratio", "calmar_ratio", "max_drawdown_pct", "avg_drawdown_pct",
    "max_drawdown_duration", "avg_drawdown_duration", "n_trades", "win_rate_pct",
    "best_trade_pct", "worst_trade_pct", "avg_trade_pct", "max_trade_duration",
    "avg_trade_duration", "profit_factor", "expectancy_pct", "sqn", "trades",
}  # fmt: skip
SMA = ("backtest", "-s", "sma_cross", "--symbols", "GOOGL", "--timeframe", "1d")


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    assert invoke("data", "import", "bundled:GOOGL_1d")[0] == 0
    return invoke


def test_json_has_every_statistic_and_the_trades(run: Run) -> None:
    code, out = run(*SMA, "--params", "fast=10,slow=30", "--commission", "0.001", "--json")

    stats = json.loads(out)
    assert code == 0
    assert set(stats) >= STATS_KEYS
    assert stats["n_trades"] == len(stats["trades"]) > 0
    assert stats["start"] == "2009-05-22T00:00:00Z"


def test_same_backtest_twice_prints_the_same_trades_and_statistics(run: Run) -> None:
    first = json.loads(run(*SMA, "--json")[1])
    second = json.loads(run(*SMA, "--json")[1])

    for figures in (first, second):
        del figures["bars_per_s"], figures["run_id"]
    assert first == second


def test_range_limits_the_bars_replayed(run: Run) -> None:
    code, out = run(*SMA, "--from", "2012-01-01", "--to", "2013-01-01", "--json")

    stats = json.loads(out)
    assert code == 0
    assert stats["bars"] == 250
    assert stats["start"].startswith("2012-01-03")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--params", "fast=30,slow=20"), "parameter 'fast' (30) must be below 'slow' (20)"),
        (("--params", "fast"), "'fast' is not key=value"),
        (("--commission", "0.5"), "--commission must be in [0, 0.1)"),
        (("--from", "someday"), "--from: 'someday' is not a date"),
        (("--from", "2030-01-01"), "no 1d candles for GOOGL in the range asked"),
    ],
)
def test_bad_input_exits_2_with_the_reason(run: Run, extra: tuple[str, ...], message: str) -> None:
    code, out = run(*SMA, *extra)

    assert code == 2
    assert message in " ".join(out.split())


def test_unknown_strategy_lists_the_available_ones(run: Run) -> None:
    code, out = run("backtest", "-s", "nope", "--symbols", "GOOGL", "--timeframe", "1d")

    assert code == 2
    assert "available: donchian_breakout, rsi_reversion, sma_cross" in " ".join(out.split())


def test_run_is_stored_listed_and_its_report_regenerated(run: Run, tmp_path: Path) -> None:
    figures = json.loads(run(*SMA, "--json", "--report", "first.html")[1])

    code, listing = run("runs", "--json")
    (stored,) = [json.loads(line) for line in listing.splitlines()]
    again = run("report", figures["run_id"], "--out", "again.html")

    assert code == 0
    assert stored["run_id"] == figures["run_id"]
    assert stored["stats"]["equity_final"] == figures["equity_final"]
    assert again[0] == 0
    assert (tmp_path / "first.html").is_file()
    assert (tmp_path / "again.png").is_file()


def test_report_refuses_when_the_candles_changed_since_the_run(run: Run, tmp_path: Path) -> None:
    run_id = json.loads(run(*SMA, "--json")[1])["run_id"]
    (tmp_path / "fix.csv").write_text("time,open,high,low,close\n2009-05-22,1,2,0.5,1.5\n")
    run("data", "import", "fix.csv", "--symbol", "GOOGL", "--timeframe", "1d", "--replace")

    code, out = run("report", run_id)

    assert code == 2
    assert "changed since it ran" in " ".join(out.split())


def test_no_save_leaves_no_run(run: Run) -> None:
    run(*SMA, "--no-save", "--json")

    assert run("runs")[1].startswith("no backtest runs stored yet")


def test_sweep_ranks_the_grid_and_the_event_driven_engine_agrees(run: Run) -> None:
    code, out = run(
        *SMA, "--sweep", "fast=5:20:5", "--sweep", "slow=20:60:20", "--rank-by", "sharpe",
        "--top", "4", "--verify", "2", "--json",
    )  # fmt: skip

    outcome = json.loads(out)
    assert code == 0
    assert outcome["parameter_sets"] == 11  # 4 x 3 minus fast=20, slow=20
    assert outcome["invalid_combinations_dropped"] == 1
    sharpes = [r["sharpe"] for r in outcome["results"]]
    assert sharpes == sorted(sharpes, reverse=True)
    assert [r["verified_event_driven"] for r in outcome["results"]] == [True, True, None, None]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--sweep", "fast=5:10:5", "--slippage", "2"), "whole units and no slippage"),
        (("--sweep", "fast=5:10:5", "--rank-by", "luck"), "cannot rank by 'luck'"),
        (("--sweep", "fast=5:10:5", "--report", "x.html"), "--report draws one run"),
    ],
)
def test_bad_sweep_input_exits_2_with_the_reason(
    run: Run, extra: tuple[str, ...], message: str
) -> None:
    code, out = run(*SMA, *extra)

    assert code == 2
    assert message in " ".join(out.split())
