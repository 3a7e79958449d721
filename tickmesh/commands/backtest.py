"""``tickmesh backtest``: a strategy (or several) over stored candles, as fast as possible."""

from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tickmesh.commands.common import ConfigOpt, fail, load
from tickmesh.core.errors import ConfigError, DataError

if TYPE_CHECKING:
    from tickmesh.backtest.engine import BacktestConfig, BacktestResult, StrategySpec
    from tickmesh.storage.candles import Candles


def parse_params(text: str) -> dict[str, Any]:
    """``fast=10,slow=20,allow_short=true`` -> typed values (int, float, bool or text)."""
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--params: {item!r} is not key=value (e.g. fast=10,slow=20)")
        params[key.strip()] = _typed(raw.strip())
    return params


def _typed(raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw


def parse_time(text: str | None, option: str) -> int | None:
    """An ISO date or date-time (UTC unless it says otherwise) as ns."""
    if text is None:
        return None
    from tickmesh.adapters.feeds.columns import parse_time_text

    try:
        return parse_time_text(text)
    except (ValueError, DataError):
        raise ConfigError(f"{option}: {text!r} is not a date (use e.g. 2020-01-31)") from None


def _decimal(value: str, option: str, low: Decimal, high: Decimal | None = None) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ConfigError(f"{option}: {value!r} is not a number") from None
    if not number.is_finite() or number < low or (high is not None and number >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ConfigError(f"{option} must be {bound}, got {value}")
    return number


def strategy_specs(names: list[str], params: list[str], symbols: list[str]) -> list[StrategySpec]:
    """The i-th ``--params`` belongs to the i-th ``--strategy``."""
    from tickmesh.backtest.engine import StrategySpec
    from tickmesh.strategies.registry import get_strategy

    if len(params) > len(names):
        raise ConfigError(
            f"{len(params)} --params for {len(names)} --strategy: give one --params per strategy, "
            "in the same order"
        )
    specs = []
    for i, name in enumerate(names):
        try:
            get_strategy(name)
        except KeyError as exc:
            raise ConfigError(exc.args[0] if exc.args else str(exc)) from None
        given = parse_params(params[i]) if i < len(params) else {}
        instance = f"{name}-{i + 1}" if names.count(name) > 1 else None
        specs.append(StrategySpec(name, symbols, given, instance))
    return specs


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def backtest_command(
    strategy: Annotated[
        list[str], typer.Option("--strategy", "-s", help="Built-in strategy (repeatable).")
    ],
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols, e.g. GOOG,MSFT.")],
    timeframe: Annotated[str, typer.Option(help="Bar timeframe of the stored candles.")],
    start: Annotated[str | None, typer.Option("--from", help="First bar (ISO date).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End, exclusive (ISO date).")] = None,
    params: Annotated[
        list[str] | None, typer.Option(help="k=v,... for the strategy at the same position.")
    ] = None,
    cash: Annotated[str, typer.Option(help="Starting cash.")] = "10000",
    commission: Annotated[
        str, typer.Option(help="Fee per fill as a fraction of notional (0.002 = 0.2%).")
    ] = "0",
    slippage: Annotated[str, typer.Option(help="Slippage of market orders in bps.")] = "0",
    lot_size: Annotated[str, typer.Option(help="Size increment (1 = whole units).")] = "1",
    long_only: Annotated[
        bool, typer.Option("--long-only", help="Refuse sells beyond the position held.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write a self-contained HTML report (and a PNG beside it).")
    ] = None,
    save: Annotated[bool, typer.Option(help="Store the run (see tickmesh runs).")] = True,
    sweep: Annotated[
        list[str] | None,
        typer.Option(help="Sweep a parameter: name=start:stop:step or name=a,b,c (repeatable)."),
    ] = None,
    rank_by: Annotated[
        str, typer.Option(help="Sweep ranking: return_pct, sharpe, final_equity, ...")
    ] = "return_pct",
    top: Annotated[int, typer.Option(min=1, help="Sweep: how many ranked sets to show.")] = 10,
    verify: Annotated[
        int, typer.Option(min=0, help="Sweep: re-run the best N event-driven and compare.")
    ] = 3,
    config: ConfigOpt = None,
    data_dir: Annotated[Path | None, typer.Option(help="Candle store folder.")] = None,
) -> None:
    """Backtest strategies over stored candles with the same services as tickmesh run."""
    settings = load(config, {"data_dir": None if data_dir is None else str(data_dir)})
    request = {
        "strategies": [{"name": n, "params": p} for n, p in _named_params(strategy, params)],
        "symbols": _split(symbols), "timeframe": timeframe, "from": start, "to": end,
        "cash": cash, "commission": commission, "slippage_bps": slippage,
        "lot_size": lot_size, "allow_short": not long_only,
    }  # fmt: skip
    if sweep:
        if report is not None:
            raise fail("--report draws one run; run the chosen parameters without --sweep")
        _sweep(request, settings.data_dir, sweep, (rank_by, top, verify), as_json)
        return
    try:
        result, data = _run(request, settings.data_dir, as_json)
        figures = summary(result)
        run_id = _store(settings.data_dir, request, data, result, figures) if save else None
        if report is not None:
            from tickmesh.backtest.stored import run_title

            _report(report, run_title(request, run_id), figures, result, data)
    except (ConfigError, DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    if run_id is not None:
        figures["run_id"] = run_id
    if as_json:
        typer.echo(json.dumps(figures, sort_keys=True))
    else:
        print_summary(figures)


def _named_params(names: list[str], params: list[str] | None) -> list[tuple[str, str]]:
    given = params or []
    return [(name, given[i] if i < len(given) else "") for i, name in enumerate(names)]


def _sweep(
    request: dict[str, Any],
    data_dir: str,
    sweeps: list[str],
    ranking: tuple[str, int, int],
    as_json: bool,
) -> None:
    from tickmesh.commands import sweep

    try:
        config, data = _prepare(request, data_dir)
        outcome = sweep.run_sweep(config, data, sweeps, *ranking)
    except (ConfigError, DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(outcome.to_dict(), sort_keys=True))
    else:
        from rich.console import Console
        from rich.table import Table

        title = (
            f"{outcome.strategy} on {outcome.symbol}: {outcome.sets} sets x {outcome.bars} bars "
            f"in {outcome.seconds:.3f} s ({outcome.evaluations_per_s:,.0f} bar-evaluations/s)"
        )
        table = Table(title=title)
        for column in ("#", "params", "return %", "sharpe", "max dd %", "trades", "equity",
                       "event-driven"):  # fmt: skip
            table.add_column(column)
        for row in sweep.describe(outcome):
            table.add_row(*row)
        Console(width=160).print(table)
    if not all(outcome.verified):
        raise fail("the event-driven engine disagreed with the sweep (a bug: please report it)", 1)


def _prepare(
    request: dict[str, Any], data_dir: str
) -> tuple[BacktestConfig, dict[str, Candles]]:
    from tickmesh.backtest.engine import BacktestConfig
    from tickmesh.backtest.stored import load_candles
    from tickmesh.topics import timeframe_seconds

    symbols, timeframe = request["symbols"], request["timeframe"]
    if not symbols:
        raise ConfigError("--symbols: name at least one symbol")
    timeframe_seconds(timeframe)
    strategies = request["strategies"]
    names = [s["name"] for s in strategies]
    params = [s["params"] for s in strategies]
    config = BacktestConfig(
        strategies=strategy_specs(names, params, symbols),
        timeframe=timeframe,
        cash=_decimal(request["cash"], "--cash", Decimal("0.01")),
        commission=_decimal(request["commission"], "--commission", Decimal(0), Decimal("0.1")),
        slippage_bps=_decimal(request["slippage_bps"], "--slippage", Decimal(0), Decimal(10_000)),
        lot_size=_decimal(request["lot_size"], "--lot-size", Decimal("1e-12")),
        allow_short=request["allow_short"],
    )
    start, end = parse_time(request["from"], "--from"), parse_time(request["to"], "--to")
    return config, load_candles(data_dir, symbols, timeframe, start, end)


def _run(
    request: dict[str, Any], data_dir: str, quiet: bool
) -> tuple[BacktestResult, dict[str, Candles]]:
    from tickmesh.backtest.engine import Backtest

    config, data = _prepare(request, data_dir)
    engine = Backtest(config, data)
    if quiet or not sys.stderr.isatty():
        return engine.run(), data
    return _with_progress(engine), data


def _store(
    data_dir: str,
    request: dict[str, Any],
    data: dict[str, Candles],
    result: BacktestResult,
    figures: dict[str, Any],
) -> str:
    from tickmesh.storage.runs import RunStore

    run = RunStore(Path(data_dir) / "runs").save(
        request, data, figures, result.equity, result.fills
    )
    return run.run_id


def _report(
    path: Path,
    title: str,
    figures: dict[str, Any],
    result: BacktestResult,
    data: dict[str, Candles],
) -> None:
    from tickmesh.backtest.report import ReportData, write_report

    fills = [
        {"ts": f.ts_event, "symbol": f.symbol, "side": f.side.value,
         "quantity": str(f.quantity), "price": str(f.price)}
        for f in result.fills
    ]  # fmt: skip
    trades = figures.get("trades", [])
    write_report(path, ReportData(title, figures, trades, result.equity, data, fills))


def _with_progress(engine: Any) -> BacktestResult:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} bars/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("bars", total=None, rate="-")

        def update(done: int, total: int) -> None:
            speed = progress.tasks[0].speed
            rate = f"{speed:,.0f}" if speed else "-"
            progress.update(task, completed=done, total=total, rate=rate)

        result: BacktestResult = engine.run(update)
    return result


def summary(result: BacktestResult) -> dict[str, Any]:
    """The statistics (backtesting.py's keys) plus what the run did."""
    out: dict[str, Any] = result.stats.to_dict()
    out["open_trades"] = len(result.open_trades)
    out["fills"] = len(result.fills)
    out["rejections"] = result.rejections
    out["bars"] = result.bars
    out["bars_per_s"] = round(result.bars_per_s, 1)
    return out


def print_summary(figures: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="backtest", show_header=False)
    for key, value in figures.items():
        if key != "trades":
            table.add_row(key, _shown(value))
    Console().print(table)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}"
    if value is None:
        return "n/a"
    return str(value)


def runs_command(
    config: ConfigOpt = None,
    data_dir: Annotated[Path | None, typer.Option(help="Candle store folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List stored backtest runs, newest first."""
    from rich.console import Console
    from rich.table import Table

    from tickmesh.storage.runs import RunStore

    settings = load(config, {"data_dir": None if data_dir is None else str(data_dir)})
    runs = RunStore(Path(settings.data_dir) / "runs").runs()
    if as_json:
        for run in runs:
            typer.echo(json.dumps({"run_id": run.run_id, "config": run.config, "stats": {
                k: v for k, v in run.stats.items() if k != "trades"}}, sort_keys=True))
        return
    if not runs:
        typer.echo("no backtest runs stored yet (run tickmesh backtest)")
        return
    table = Table(title="backtest runs")
    for column in ("run", "what", "from", "to", "return %", "sharpe", "max dd %", "trades"):
        table.add_column(column)
    for run in runs:
        s = run.stats
        table.add_row(
            run.run_id, run.summary, str(s.get("start")), str(s.get("end")),
            _shown(s.get("return_pct")), _shown(s.get("sharpe_ratio")),
            _shown(s.get("max_drawdown_pct")), str(s.get("n_trades")),
        )  # fmt: skip
    Console(width=200).print(table)


def report_command(
    run_id: Annotated[str, typer.Argument(help="Run id from tickmesh runs.")],
    out: Annotated[
        Path | None, typer.Option(help="HTML file (default report-RUN_ID.html).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: Annotated[Path | None, typer.Option(help="Candle store folder.")] = None,
) -> None:
    """Regenerate the HTML report (and PNG) of a stored run."""
    from tickmesh.backtest.report import write_report
    from tickmesh.backtest.stored import stored_report
    from tickmesh.storage.runs import RunStore

    settings = load(config, {"data_dir": None if data_dir is None else str(data_dir)})
    store = RunStore(Path(settings.data_dir) / "runs")
    try:
        report = stored_report(store, run_id, settings.data_dir)
        path = out or Path(f"report-{run_id}.html")
        png = write_report(path, report)
    except (ConfigError, DataError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {path} and {png}")
