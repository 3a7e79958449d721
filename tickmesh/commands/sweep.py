"""``tickmesh backtest --sweep``: a parameter grid on the vectorized evaluator, ranked, with the
best sets re-run through the event-driven engine, which must give the same trades."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tickmesh.core.errors import ConfigError

if TYPE_CHECKING:
    from tickmesh.backtest import Prices, RankedSet
    from tickmesh.backtest.engine import BacktestConfig, BacktestResult
    from tickmesh.storage.candles import Candles

_YEAR_NS = 365.25 * 86_400 * 1_000_000_000


@dataclass(frozen=True)
class SweepOutcome:
    strategy: str
    symbol: str
    sets: int
    dropped: int
    seconds: float
    bars: int
    ranked: list[RankedSet]
    verified: list[bool]

    @property
    def evaluations_per_s(self) -> float:
        return self.sets * self.bars / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "symbol": self.symbol,
            "parameter_sets": self.sets,
            "invalid_combinations_dropped": self.dropped,
            "bars": self.bars,
            "seconds": round(self.seconds, 4),
            "bar_evaluations_per_s": round(self.evaluations_per_s),
            "results": [
                {
                    "rank": r.rank,
                    "params": dict(r.params),
                    "final_equity": r.metrics.final_equity,
                    "return_pct": r.metrics.return_pct,
                    "max_drawdown_pct": r.metrics.max_drawdown_pct,
                    "sharpe": r.metrics.sharpe,
                    "n_trades": r.metrics.n_trades,
                    "verified_event_driven": self.verified[i] if i < len(self.verified) else None,
                }
                for i, r in enumerate(self.ranked)
            ],
        }


def periods_per_year(ts_open: Sequence[int]) -> float:
    """Bars per year as the data has them (252-ish for stock days, 8760 for 24/7 hours)."""
    span = (ts_open[-1] - ts_open[0]) / _YEAR_NS
    return (len(ts_open) - 1) / span if span > 0 else 252.0


def axes_from(sweeps: Sequence[str], fixed: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    from tickmesh.backtest import parse_axis

    axes: dict[str, tuple[Any, ...]] = {k: (v,) for k, v in fixed.items()}
    for spec in sweeps:
        name, values = parse_axis(spec)
        if name in axes and name not in fixed:
            raise ConfigError(f"--sweep {name} given twice")
        axes[name] = values
    return axes


def run_sweep(
    config: BacktestConfig,
    data: Mapping[str, Candles],
    sweeps: Sequence[str],
    metric: str,
    top: int,
    verify: int,
) -> SweepOutcome:
    from tickmesh.backtest import SweepConfig, build_grid, compile_kernels, evaluate_grid, rank

    (spec,), (symbol,) = _one_strategy_one_symbol(config, data)
    _check_fill_model(config)
    candles = data[symbol]
    grid = build_grid(spec.name, axes_from(sweeps, spec.params))
    prices = prices_of(candles)
    sweep_config = SweepConfig(
        cash=float(config.cash),
        commission=float(config.commission),
        periods_per_year=periods_per_year(candles.ts_open.tolist()),
    )
    compile_kernels()  # compiled (or loaded from numba's cache) before the clock starts
    started = time.perf_counter()
    result = evaluate_grid(prices, grid, sweep_config)
    seconds = time.perf_counter() - started
    ranked = rank(result, metric, top)
    verified = [same_trades(config, data, r.params, prices, sweep_config) for r in ranked[:verify]]
    return SweepOutcome(
        spec.name, symbol, len(grid), grid.dropped, seconds, len(candles), ranked, verified
    )


def _one_strategy_one_symbol(
    config: BacktestConfig, data: Mapping[str, Candles]
) -> tuple[Any, list[str]]:
    if len(config.strategies) != 1 or len(data) != 1:
        raise ConfigError(
            "--sweep evaluates one strategy on one symbol; give one -s and one symbol"
        )
    return config.strategies, list(data)


def _check_fill_model(config: BacktestConfig) -> None:
    if config.slippage_bps != 0 or config.lot_size != 1:
        raise ConfigError(
            "--sweep uses backtesting.py's fill model: whole units and no slippage; drop "
            "--slippage and --lot-size"
        )


def prices_of(candles: Candles) -> Prices:
    from tickmesh.backtest import Prices

    return Prices.from_arrays(
        candles.open, candles.high, candles.low, candles.close, times=candles.ts_open
    )


def same_trades(
    config: BacktestConfig,
    data: Mapping[str, Candles],
    params: Mapping[str, Any],
    prices: Prices,
    sweep_config: Any,
) -> bool:
    """Re-run one set through the event-driven engine: same entries, exits, sizes, prices."""
    from tickmesh.backtest import evaluate
    from tickmesh.backtest.engine import Backtest, StrategySpec

    spec = config.strategies[0]
    one = replace(config, strategies=[StrategySpec(spec.name, spec.symbols, params)])
    engine = Backtest(one, data).run()
    fast = evaluate(prices, spec.name, params, sweep_config)
    times = next(iter(data.values())).ts_open.tolist()
    return _rows(engine) == [
        (times[t.entry_bar], round(t.entry_price, 8), int(t.size),
         None if t.exit_bar is None else times[t.exit_bar],
         None if t.exit_price is None else round(t.exit_price, 8))
        for t in fast.trades
    ]  # fmt: skip


def _rows(result: BacktestResult) -> list[tuple[Any, ...]]:
    closed = [
        (t.entry_time, round(float(t.entry_price), 8), int(t.size), t.exit_time,
         round(float(t.exit_price), 8))
        for t in result.trades
    ]  # fmt: skip
    still_open = [
        (t.entry_time, round(float(t.entry_price), 8), int(t.size), None, None)
        for t in result.open_trades
    ]
    return closed + still_open


def describe(outcome: SweepOutcome) -> list[list[str]]:
    """Table rows for the terminal."""
    rows = []
    for i, r in enumerate(outcome.ranked):
        check = "-" if i >= len(outcome.verified) else ("same" if outcome.verified[i] else "DIFF")
        params = ",".join(f"{k}={v}" for k, v in r.params.items())
        m = r.metrics
        rows.append([
            str(r.rank), params, f"{m.return_pct:,.2f}", f"{m.sharpe:,.3f}",
            f"{m.max_drawdown_pct:,.2f}", str(m.n_trades), f"{Decimal(repr(m.final_equity)):,.2f}",
            check,
        ])  # fmt: skip
    return rows
