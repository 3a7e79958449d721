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
    from tickmesh.backtest.engine import BacktestResult, StrategySpec
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


def load_candles(
    data_dir: str, symbols: list[str], timeframe: str, start: int | None, end: int | None
) -> dict[str, Candles]:
    from tickmesh.storage.candles import CandleStore

    store = CandleStore(data_dir)
    data = {symbol: store.read(symbol, timeframe, start, end) for symbol in symbols}
    empty = [symbol for symbol, candles in data.items() if len(candles) == 0]
    if empty:
        raise DataError(
            f"no {timeframe} candles for {', '.join(empty)} in the range asked "
            "(see tickmesh data list for what is stored)"
        )
    return data


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
    config: ConfigOpt = None,
    data_dir: Annotated[Path | None, typer.Option(help="Candle store folder.")] = None,
) -> None:
    """Backtest strategies over stored candles with the same services as tickmesh run."""
    settings = load(config, {"data_dir": None if data_dir is None else str(data_dir)})
    try:
        result = _run(
            strategy, _split(symbols), timeframe, (start, end), params or [],
            (cash, commission, slippage, lot_size), not long_only, settings.data_dir, as_json,
        )
    except (ConfigError, DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(summary(result), sort_keys=True))
    else:
        print_summary(result)


def _run(
    names: list[str],
    symbols: list[str],
    timeframe: str,
    span: tuple[str | None, str | None],
    params: list[str],
    money: tuple[str, str, str, str],
    allow_short: bool,
    data_dir: str,
    quiet: bool,
) -> BacktestResult:
    from tickmesh.backtest.engine import Backtest, BacktestConfig
    from tickmesh.topics import timeframe_seconds

    if not symbols:
        raise ConfigError("--symbols: name at least one symbol")
    timeframe_seconds(timeframe)
    cash, commission, slippage, lot = money
    config = BacktestConfig(
        strategies=strategy_specs(names, params, symbols),
        timeframe=timeframe,
        cash=_decimal(cash, "--cash", Decimal("0.01")),
        commission=_decimal(commission, "--commission", Decimal(0), Decimal("0.1")),
        slippage_bps=_decimal(slippage, "--slippage", Decimal(0), Decimal(10_000)),
        lot_size=_decimal(lot, "--lot-size", Decimal("1e-12")),
        allow_short=allow_short,
    )
    start, end = parse_time(span[0], "--from"), parse_time(span[1], "--to")
    data = load_candles(data_dir, symbols, timeframe, start, end)
    engine = Backtest(config, data)
    if quiet or not sys.stderr.isatty():
        return engine.run()
    return _with_progress(engine)


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


def print_summary(result: BacktestResult) -> None:
    from rich.console import Console
    from rich.table import Table

    figures = summary(result)
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
