"""Backtest reports: one self-contained HTML file (no internet needed to view it) and a PNG of
the equity curve beside it.

The HTML inlines TradingView Lightweight Charts (vendored, Apache-2.0, attribution in the
footer) and the run's data as JSON: candles per symbol with entry/exit markers, the equity
curve, the drawdown, the statistics and the trade list. Long series are thinned for display
(candles merged into wider ones, the equity curve sampled) so a million-bar run still opens
quickly; the statistics and trades are always complete.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tickmesh.storage.candles import Candles

MAX_CANDLES = 20_000
MAX_POINTS = 20_000
_NS = 1_000_000_000
ATTRIBUTION = (
    'Charts: TradingView Lightweight Charts™ — Copyright (c) 2026 TradingView, Inc. — '
    '<a href="https://www.tradingview.com/">https://www.tradingview.com/</a> (Apache-2.0)'
)


@dataclass(frozen=True)
class ReportData:
    title: str
    stats: Mapping[str, Any]
    trades: Sequence[Mapping[str, Any]]
    equity: Sequence[tuple[int, Decimal]]
    candles: Mapping[str, Candles]
    fills: Sequence[Mapping[str, Any]]


def chart_library() -> str:
    return (
        resources.files("tickmesh.web")
        .joinpath("vendor/lightweight-charts.standalone.production.js")
        .read_text(encoding="utf-8")
    )


def thin_candles(candles: Candles, limit: int = MAX_CANDLES) -> list[dict[str, float]]:
    """Candles for display: groups of ``k`` consecutive bars merged so at most ``limit`` remain."""
    n = len(candles)
    k = max(1, -(-n // limit))
    starts = np.arange(0, n, k)
    ends = np.minimum(starts + k, n) - 1
    return [
        {"time": int(candles.ts_open[s]) // _NS, "open": float(candles.open[s]),
         "high": float(candles.high[s : e + 1].max()), "low": float(candles.low[s : e + 1].min()),
         "close": float(candles.close[e])}
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
    ]  # fmt: skip


def thin_curve(points: Sequence[tuple[int, float]], limit: int = MAX_POINTS) -> list[list[float]]:
    """Every ``k``-th point (and always the last), at most about ``limit`` of them."""
    k = max(1, -(-len(points) // limit))
    kept = list(points[::k])
    if points and kept[-1] != points[-1]:
        kept.append(points[-1])
    return [[ts // _NS, value] for ts, value in kept]


def drawdown_pct(equity: Sequence[tuple[int, Decimal]]) -> list[tuple[int, float]]:
    values = np.array([float(v) for _, v in equity])
    peaks = np.maximum.accumulate(values) if len(values) else values
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peaks > 0, (values / peaks - 1.0) * 100.0, 0.0)
    return list(zip([ts for ts, _ in equity], dd.tolist(), strict=True))


def markers(fills: Sequence[Mapping[str, Any]], candles: Candles) -> list[dict[str, Any]]:
    """One marker per fill, on the displayed candle that holds it."""
    shown = np.array([c["time"] for c in thin_candles(candles)], dtype=np.int64)
    out = []
    for fill in fills:
        i = max(0, int(np.searchsorted(shown, int(fill["ts"]) // _NS, "right")) - 1)
        buy = fill["side"] == "BUY"
        out.append({
            "time": int(shown[i]) if len(shown) else int(fill["ts"]) // _NS,
            "position": "belowBar" if buy else "aboveBar",
            "color": "#26a69a" if buy else "#ef5350",
            "shape": "arrowUp" if buy else "arrowDown",
        })  # fmt: skip
    return sorted(out, key=lambda m: m["time"])


def payload(data: ReportData) -> dict[str, Any]:
    equity = [(ts, float(v)) for ts, v in data.equity]
    symbols = {}
    for symbol, candles in sorted(data.candles.items()):
        fills = [f for f in data.fills if f["symbol"] == symbol]
        symbols[symbol] = {"candles": thin_candles(candles), "markers": markers(fills, candles)}
    return {
        "title": data.title,
        "symbols": symbols,
        "equity": thin_curve(equity),
        "drawdown": thin_curve(drawdown_pct(data.equity)),
    }


def render_html(data: ReportData) -> str:
    """The whole report as one HTML document."""
    stats_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_shown(v))}</td></tr>"
        for k, v in data.stats.items()
        if k != "trades"
    )
    trade_rows = "".join(_trade_row(t) for t in data.trades)
    script = json.dumps(payload(data)).replace("</", "<\\/")
    return _TEMPLATE.format(
        title=html.escape(data.title),
        stats_rows=stats_rows,
        trade_rows=trade_rows,
        trade_count=len(data.trades),
        library=chart_library().replace("</script", "<\\/script"),
        data=script,
        attribution=ATTRIBUTION,
    )


def equity_png(equity: Sequence[tuple[int, Decimal]], title: str) -> bytes:
    """The equity curve (and drawdown below it) as a PNG, drawn without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.array([ts for ts, _ in equity], dtype="datetime64[ns]")
    values = np.array([float(v) for _, v in equity])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5), sharex=True, height_ratios=(3, 1))
    top.plot(times, values, color="#2962ff", linewidth=1)
    top.set_title(title)
    top.set_ylabel("equity")
    dd = np.array([v for _, v in drawdown_pct(equity)])
    bottom.fill_between(times, dd, 0, color="#ef5350", alpha=0.5)
    bottom.set_ylabel("drawdown %")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def write_report(path: Path, data: ReportData) -> Path:
    """Write ``path`` (HTML) and the equity PNG beside it; returns the PNG's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data), encoding="utf-8")
    png = path.with_suffix(".png")
    png.write_bytes(equity_png(data.equity, data.title))
    return png


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}"
    return "n/a" if value is None else str(value)


def _trade_row(trade: Mapping[str, Any]) -> str:
    cells = (
        trade["strategy_id"], trade["symbol"], trade["side"], trade["size"],
        trade["entry_time"], trade["entry_price"], trade["exit_time"], trade["exit_price"],
        trade["pnl"], f"{float(trade['return_pct']) * 100:.2f}%", trade["duration"],
    )  # fmt: skip
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:24px;color:#1e222d}}
h1{{font-size:20px}} h2{{font-size:16px;margin-top:28px}}
.chart{{height:380px;margin:8px 0}} .small{{height:180px}}
table{{border-collapse:collapse;font-size:13px}}
td,th{{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}}
.stats th{{font-weight:500;color:#555}} footer{{margin-top:32px;color:#777;font-size:12px}}
</style></head>
<body>
<h1>{title}</h1>
<label>symbol <select id="symbol"></select></label>
<div id="candles" class="chart"></div>
<h2>Equity</h2><div id="equity" class="chart small"></div>
<h2>Drawdown %</h2><div id="drawdown" class="chart small"></div>
<h2>Statistics</h2><table class="stats">{stats_rows}</table>
<h2>Trades ({trade_count})</h2>
<table><tr><th>strategy</th><th>symbol</th><th>side</th><th>size</th><th>entry</th><th>price</th>
<th>exit</th><th>price</th><th>pnl</th><th>return</th><th>duration</th></tr>{trade_rows}</table>
<footer>{attribution}</footer>
<script>{library}</script>
<script id="report-data" type="application/json">{data}</script>
<script>
const DATA = JSON.parse(document.getElementById("report-data").textContent);
const LC = LightweightCharts;
const opts = {{autoSize: true, timeScale: {{timeVisible: true}}}};
const candleChart = LC.createChart(document.getElementById("candles"), opts);
const candles = candleChart.addSeries(LC.CandlestickSeries);
const marks = LC.createSeriesMarkers(candles, []);
const pick = document.getElementById("symbol");
for (const name of Object.keys(DATA.symbols)) pick.add(new Option(name, name));
function show(name) {{
  const s = DATA.symbols[name];
  candles.setData(s.candles);
  marks.setMarkers(s.markers);
  candleChart.timeScale().fitContent();
}}
pick.onchange = () => show(pick.value);
if (pick.options.length) show(pick.value);
const line = (id, rows, kind, style) => {{
  const chart = LC.createChart(document.getElementById(id), opts);
  chart.addSeries(kind, style).setData(rows.map(([time, value]) => ({{time, value}})));
  chart.timeScale().fitContent();
}};
line("equity", DATA.equity, LC.LineSeries, {{color: "#2962ff", lineWidth: 1}});
line("drawdown", DATA.drawdown, LC.AreaSeries,
     {{lineColor: "#ef5350", topColor: "rgba(239,83,80,0.1)", bottomColor: "rgba(239,83,80,0.5)"}});
</script>
</body></html>
"""
