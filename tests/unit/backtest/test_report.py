"""Backtest reports: thinning for display, the self-contained HTML, the PNG, and a real browser
drawing the charts from the file with no network."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tickmesh.backtest.report import (
    ReportData,
    drawdown_pct,
    render_html,
    thin_candles,
    thin_curve,
    write_report,
)
from tickmesh.storage.candles import Candles

DAY = 86_400 * 1_000_000_000
T0 = 1_600_000_000 * 1_000_000_000


def candles(n: int) -> Candles:
    close = np.linspace(100.0, 120.0, n)
    ts = T0 + np.arange(n, dtype=np.int64) * DAY
    return Candles(ts, close - 1, close + 2, close - 3, close, np.ones(n))


def report(n: int = 50) -> ReportData:
    c = candles(n)
    equity = [(int(ts), Decimal(10_000) + i) for i, ts in enumerate(c.ts_open.tolist())]
    fills = [
        {"ts": int(c.ts_open[5]), "symbol": "X", "side": "BUY", "quantity": "3", "price": "104"},
        {"ts": int(c.ts_open[9]), "symbol": "X", "side": "SELL", "quantity": "3", "price": "105"},
    ]
    trade = {
        "strategy_id": "s", "symbol": "X", "side": "BUY", "size": "3", "entry_time": "a",
        "entry_price": "104", "exit_time": "b", "exit_price": "105", "pnl": "3",
        "return_pct": 0.0096, "duration": "4 days 00:00:00",
    }  # fmt: skip
    stats = {"return_pct": 1.5, "sqn": None}
    return ReportData("sma <on> X", stats, [trade], equity, {"X": c}, fills)


def test_thin_candles_merges_groups_keeping_open_high_low_close() -> None:
    c = candles(10)

    shown = thin_candles(c, limit=4)

    assert len(shown) == 4
    assert shown[0] == {
        "time": T0 // 1_000_000_000, "open": c.open[0], "high": float(c.high[:3].max()),
        "low": float(c.low[:3].min()), "close": c.close[2],
    }  # fmt: skip
    assert shown[-1]["close"] == c.close[-1]


def test_thin_curve_keeps_the_last_point() -> None:
    points = [(i * 1_000_000_000, float(i)) for i in range(10)]

    assert thin_curve(points, limit=3) == [[0, 0.0], [4, 4.0], [8, 8.0], [9, 9.0]]


def test_drawdown_is_percent_below_the_running_peak() -> None:
    equity = [(0, Decimal(100)), (1, Decimal(120)), (2, Decimal(90)), (3, Decimal(130))]

    assert [round(v, 6) for _, v in drawdown_pct(equity)] == [0.0, 0.0, -25.0, 0.0]


def test_html_is_self_contained_escaped_and_carries_the_data() -> None:
    page = render_html(report())

    assert "<script src" not in page
    assert "https://www.tradingview.com/" in page
    assert "sma &lt;on&gt; X" in page
    data = json.loads(re.search(r'id="report-data" type="application/json">(.*?)</script>',
                                page, re.S).group(1))  # type: ignore[union-attr]
    assert [m["shape"] for m in data["symbols"]["X"]["markers"]] == ["arrowUp", "arrowDown"]
    assert len(data["equity"]) == 50


def test_write_report_puts_a_png_beside_the_html(tmp_path: Path) -> None:
    png = write_report(tmp_path / "out" / "r.html", report())

    assert (tmp_path / "out" / "r.html").is_file()
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.integration
def test_a_headless_browser_draws_every_chart_from_the_file_offline(tmp_path: Path) -> None:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    page = tmp_path / "r.html"
    write_report(page, report())

    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip

    for chart in ("candles", "equity", "drawdown"):
        section = dom.split(f'id="{chart}"', 1)[1].split("</table>", 1)[0]
        assert "<canvas" in section, f"{chart} chart was not drawn"
