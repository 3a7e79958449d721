"""Stored backtest runs (``tickmesh backtest`` saves them under ``<data_dir>/runs``): the list,
and one run's statistics with a page of its trades. Files are read in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from tickmesh.api.deps import Ctx
from tickmesh.api.pagination import Page, PageQuery, SortedQuery, slice_page
from tickmesh.api.queries import StrategyId, Symbol
from tickmesh.api.schemas import BacktestDetailOut, BacktestOut, Reason
from tickmesh.backtest.report import render_html
from tickmesh.backtest.stored import stored_report
from tickmesh.core.errors import DataError
from tickmesh.storage.runs import RunStore, StoredRun

router = APIRouter(prefix="/backtests", tags=["backtests"])
R = TypeVar("R")
RunId = Annotated[str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="run id (ULID)")]


class BacktestQuery(SortedQuery):
    sort_keys = ("run_id", "created_ns")
    default_sort = "-run_id"

    symbol: Symbol | None = Field(default=None, description="runs that traded this symbol")
    strategy: StrategyId | None = Field(default=None, description="runs of this strategy name")

    def matches(self, run: StoredRun) -> bool:
        names = {spec.get("name") for spec in run.config.get("strategies", [])}
        return (self.symbol is None or self.symbol in run.config.get("symbols", [])) and (
            self.strategy is None or self.strategy in names
        )


class TradesQuery(PageQuery):
    symbol: Symbol | None = None
    strategy_id: StrategyId | None = None

    def matches(self, trade: dict[str, Any]) -> bool:
        return (self.symbol is None or trade.get("symbol") == self.symbol) and (
            self.strategy_id is None or trade.get("strategy_id") == self.strategy_id
        )


@router.get("")
async def list_backtests(ctx: Ctx, query: Annotated[BacktestQuery, Query()]) -> Page[BacktestOut]:
    """Stored runs, newest first unless sorted otherwise."""
    runs = await run_in_threadpool(_readable, ctx.runs.runs)
    chosen = _sorted([run for run in runs if query.matches(run)], query)
    items, total = slice_page([_summary(run) for run in chosen], query)
    return Page[BacktestOut](items=items, limit=query.limit, offset=query.offset, total=total)


@router.get("/{run_id}", responses={404: {"model": Reason, "description": "no such run"}})
async def get_backtest(
    ctx: Ctx, run_id: RunId, query: Annotated[TradesQuery, Query()]
) -> BacktestDetailOut:
    """One run's statistics and a page of its closed trades (money as exact strings)."""
    run = await run_in_threadpool(_one, ctx.runs, run_id)
    trades = [trade for trade in run.stats.get("trades", []) if query.matches(trade)]
    page, total = slice_page(trades, query)
    return BacktestDetailOut(
        **_summary(run).model_dump(), trades=page, limit=query.limit, offset=query.offset,
        total=total,
    )  # fmt: skip


@router.get(
    "/{run_id}/report",
    response_class=Response,
    responses={
        200: {"content": {"text/html": {}}, "description": "the run's report, one HTML file"},
        404: {"model": Reason, "description": "no such run"},
        409: {"model": Reason, "description": "the run's candles are gone or changed since"},
    },
)
async def get_report(ctx: Ctx, run_id: RunId) -> Response:
    """The run's self-contained HTML report (chart, equity, drawdown, trades), as a download:
    it opens offline. Drawn again from the run and the candles it ran on; refused (409) when
    those candles are no longer in the store or changed since the run."""
    await run_in_threadpool(_one, ctx.runs, run_id)
    html = await run_in_threadpool(_report_html, ctx.runs, run_id, ctx.settings.data_dir)
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="report-{run_id}.html"',
            "Content-Security-Policy": "sandbox allow-scripts; default-src 'none'; "
            "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def _report_html(store: RunStore, run_id: str, data_dir: str) -> str:
    try:
        return render_html(_readable(lambda: stored_report(store, run_id, data_dir)))
    except DataError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None


def _readable(read: Callable[[], R]) -> R:
    try:
        return read()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            detail=f"stored backtest runs could not be read: {type(exc).__name__}",
        ) from exc


def _one(store: RunStore, run_id: str) -> StoredRun:
    try:
        return _readable(lambda: store.get(run_id))
    except DataError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no backtest run {run_id!r}") from None


def _sorted(runs: list[StoredRun], query: BacktestQuery) -> list[StoredRun]:
    for key, descending in reversed(query.ordering()):
        runs.sort(key=lambda run: getattr(run, key), reverse=descending)
    return runs


def _summary(run: StoredRun) -> BacktestOut:
    return BacktestOut(
        run_id=run.run_id,
        created_ns=run.created_ns,
        summary=run.summary,
        data_hash=run.data_hash,
        config=run.config,
        stats={key: value for key, value in run.stats.items() if key != "trades"},
    )
