"""Backtests: the event-driven engine (the same services as a live session on the deterministic
bus) and the vectorized parameter sweep."""

from tickmesh.backtest.sweep_grid import (
    ParameterGrid,
    SweepConfigError,
    build_grid,
    int_range,
    parse_axis,
)
from tickmesh.backtest.sweep_rank import RANK_METRICS, RankedSet, rank
from tickmesh.backtest.vectorized import (
    METRIC_NAMES,
    Evaluation,
    Metrics,
    PriceDataError,
    Prices,
    SweepConfig,
    SweepResult,
    SweepTrade,
    compile_kernels,
    evaluate,
    evaluate_grid,
)

__all__ = [
    "METRIC_NAMES",
    "RANK_METRICS",
    "Evaluation",
    "Metrics",
    "ParameterGrid",
    "PriceDataError",
    "Prices",
    "RankedSet",
    "SweepConfig",
    "SweepConfigError",
    "SweepResult",
    "SweepTrade",
    "build_grid",
    "compile_kernels",
    "evaluate",
    "evaluate_grid",
    "int_range",
    "parse_axis",
    "rank",
]
