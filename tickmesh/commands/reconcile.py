"""``tickmesh reconcile bars``: bar parity of two stores, the gate before a shadow goes live."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from tickmesh.commands.common import fail
from tickmesh.core.errors import ConfigError, DataError

reconcile_app = typer.Typer(help="Compare what two pipelines produced.", no_args_is_help=True)


async def _load(url: str, symbols: list[str], timeframe: str, span: tuple[int | None, ...]) -> Any:
    from tickmesh.storage import Database

    db = Database(url)
    await db.connect()
    try:
        async with db.reader() as repo:
            return {s: await repo.load_bars(s, timeframe, span[0], span[1]) for s in symbols}
    finally:
        await db.close()


@reconcile_app.command("bars")
def bars_command(
    a: Annotated[str, typer.Option("--a", help="Database URL of pipeline A (production).")],
    b: Annotated[str, typer.Option("--b", help="Database URL of pipeline B (shadow).")],
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols.")],
    start: Annotated[str | None, typer.Option("--from", help="First minute (ISO).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End, exclusive (ISO).")] = None,
    timeframe: Annotated[str, typer.Option(help="Bar timeframe to compare.")] = "1m",
    threshold: Annotated[
        float, typer.Option(min=0, max=100, help="Minimum parity % to pass (exit 1 below).")
    ] = 99.9,
    show: Annotated[int, typer.Option(min=0, help="Mismatches to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Compare bars of A and B minute by minute (exact OHLCV, volume, trade count)."""
    from tickmesh.bars.reconcile import compare_bars, overall_percent
    from tickmesh.commands.backtest import parse_time
    from tickmesh.topics import timeframe_seconds

    names = [s.strip() for s in symbols.split(",") if s.strip()]
    try:
        if not names:
            raise ConfigError("--symbols: name at least one symbol")
        timeframe_seconds(timeframe)
        span = (parse_time(start, "--from"), parse_time(end, "--to"))
        left, right = (asyncio.run(_load(url, names, timeframe, span)) for url in (a, b))
    except (ConfigError, DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    results = [compare_bars(s, left[s], right[s]) for s in names]
    percent = overall_percent(results)
    report = _report(results, percent, threshold, show)
    typer.echo(json.dumps(report, sort_keys=True) if as_json else _text(report))
    if percent < threshold:
        raise typer.Exit(1)


def _report(results: list[Any], percent: float, threshold: float, show: int) -> dict[str, Any]:
    from tickmesh.adapters.feeds.columns import format_ns

    mismatches = [m for r in results for m in r.mismatches]
    return {
        "parity_pct": round(percent, 6),
        "threshold_pct": threshold,
        "passed": percent >= threshold,
        "symbols": {r.symbol: {"minutes": r.minutes, "matching": r.matching,
                               "parity_pct": round(r.percent, 6)} for r in results},
        "mismatches": [
            {"symbol": m.symbol, "ts_open": format_ns(m.ts_open), "problem": m.problem}
            for m in mismatches[:show]
        ],
        "mismatches_total": len(mismatches),
    }  # fmt: skip


def _text(report: dict[str, Any]) -> str:
    lines = [
        f"{symbol}: {s['matching']}/{s['minutes']} minutes match ({s['parity_pct']:.4f}%)"
        for symbol, s in report["symbols"].items()
    ]
    lines += [f"  {m['symbol']} {m['ts_open']}: {m['problem']}" for m in report["mismatches"]]
    hidden = report["mismatches_total"] - len(report["mismatches"])
    if hidden > 0:
        lines.append(f"  ... and {hidden} more")
    verdict = "PASS" if report["passed"] else "FAIL"
    lines.append(
        f"parity {report['parity_pct']:.4f}% (threshold {report['threshold_pct']}%): {verdict}"
    )
    return "\n".join(lines)
