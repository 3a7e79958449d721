"""Stored runs back to reports: a run's candles are read again from the candle store and must be
the ones it ran on (same content hash), else the report is refused rather than drawn wrong."""

from __future__ import annotations

from typing import Any

from tickmesh.adapters.feeds.columns import parse_time_text
from tickmesh.backtest.report import ReportData
from tickmesh.core.errors import DataError
from tickmesh.storage.candles import Candles, CandleStore
from tickmesh.storage.runs import RunStore, data_hash


def load_candles(
    data_dir: str, symbols: list[str], timeframe: str, start: int | None, end: int | None
) -> dict[str, Candles]:
    """Each symbol's stored candles in [start, end); a symbol with none is a :class:`DataError`."""
    store = CandleStore(data_dir)
    data = {symbol: store.read(symbol, timeframe, start, end) for symbol in symbols}
    empty = [symbol for symbol, candles in data.items() if len(candles) == 0]
    if empty:
        raise DataError(
            f"no {timeframe} candles for {', '.join(empty)} in the range asked "
            "(see tickmesh data list for what is stored)"
        )
    return data


def run_title(request: dict[str, Any], run_id: str | None) -> str:
    names = ", ".join(s["name"] for s in request["strategies"])
    where = ", ".join(request["symbols"])
    suffix = f" (run {run_id})" if run_id else ""
    return f"{names} on {where} {request['timeframe']}{suffix}"


def stored_report(store: RunStore, run_id: str, data_dir: str) -> ReportData:
    """What the report of stored run ``run_id`` shows. Raises :class:`DataError` for an
    unknown run, missing candles, or candles that changed since the run."""
    run = store.get(run_id)
    request = run.config
    data = load_candles(
        data_dir, request["symbols"], request["timeframe"], _time(request["from"]),
        _time(request["to"]),
    )  # fmt: skip
    if data_hash(data) != run.data_hash:
        raise DataError(
            f"the stored candles for run {run_id} changed since it ran (data hash "
            f"{run.data_hash[:12]} then, {data_hash(data)[:12]} now); re-run the backtest"
        )
    trades = run.stats.get("trades", [])
    return ReportData(
        run_title(request, run_id), run.stats, trades, store.equity(run), data, store.fills(run)
    )


def _time(text: str | None) -> int | None:
    return None if text is None else parse_time_text(text)
