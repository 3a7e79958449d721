"""``tickmesh data import`` and ``tickmesh data list``: the local candle store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from tickmesh.commands.common import ConfigOpt, fail, load
from tickmesh.core.errors import ConfigError, DataError

if TYPE_CHECKING:
    from tickmesh.storage.candles import CandleStore

data_app = typer.Typer(
    help="Import and list candles in the local candle store.", no_args_is_help=True
)

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Candle store folder (TICKMESH_DATA_DIR, default tickmesh-data)."
    ),
]


def _store(config: Path | None, data_dir: Path | None) -> CandleStore:
    from tickmesh.storage.candles import CandleStore

    settings = load(config, {"data_dir": None if data_dir is None else str(data_dir)})
    return CandleStore(settings.data_dir)


@data_app.command("import")
def import_command(
    path: Annotated[
        str,
        typer.Argument(
            help="CSV or Parquet file of OHLCV bars or trades, or bundled:NAME "
            "(bundled:GOOGL_1d, bundled:EURUSD_1h)."
        ),
    ],
    symbol: Annotated[
        str | None, typer.Option(help="Symbol the file holds, e.g. BTC-USD.")
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Bar timeframe: 1m, 5m, 15m, 1h, 4h, 1d.")
    ] = None,
    kind: Annotated[
        str, typer.Option(help="auto, bars (OHLCV) or trades (aggregated into bars).")
    ] = "auto",
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite stored bars that differ.")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Import a file into the candle store (merged with what is there)."""
    from tickmesh.storage import candles
    from tickmesh.topics import timeframe_seconds

    if kind not in ("auto", "bars", "trades"):
        raise fail(f"--kind must be auto, bars or trades, got {kind!r}")
    try:
        file, symbol, timeframe = _source(path, symbol, timeframe)
        timeframe_seconds(timeframe)
        store = _store(config, data_dir)
        chosen = candles.sniff_kind(file) if kind == "auto" else kind
        new = (
            candles.candles_from_bar_file(file)
            if chosen == "bars"
            else candles.candles_from_trade_file(file, symbol, timeframe)
        )
        if len(new) == 0:
            raise DataError(f"{path}: no rows to import")
        result = store.write(symbol, timeframe, new, replace=replace)
    except (DataError, ConfigError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"{symbol} {timeframe}: {result.added} added, {result.unchanged} unchanged, "
        f"{result.replaced} replaced; {result.total} stored ({chosen} from {path})"
    )


def _source(path: str, symbol: str | None, timeframe: str | None) -> tuple[Path, str, str]:
    """The file to read with its symbol and timeframe (a bundled dataset knows its own)."""
    if path.startswith("bundled:"):
        from tickmesh.adapters.feeds import bundled_dataset

        dataset = bundled_dataset(path.removeprefix("bundled:"))
        return dataset.path, symbol or dataset.symbol, timeframe or dataset.timeframe
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path}: no such file")
    if symbol is None or timeframe is None:
        raise DataError("--symbol and --timeframe are required for a file")
    return file, symbol, timeframe


@data_app.command("list")
def list_command(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Show what is stored: ranges, row counts and gaps."""
    store = _store(config, data_dir)
    series = store.series()
    if not series:
        typer.echo(f"no candles stored in {store.root}")
        return
    table = Table(title=f"candles in {store.root}")
    for column in ("symbol", "timeframe", "rows", "first", "last", "gaps", "missing bars"):
        table.add_column(column)
    for s in series:
        table.add_row(
            s.symbol, s.timeframe, str(s.rows), s.first_text, s.last_text, str(s.gaps),
            str(s.missing_bars),
        )
    Console(width=160).print(table)
