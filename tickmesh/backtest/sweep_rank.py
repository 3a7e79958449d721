"""Ranking a sweep: the best parameter sets by one metric, best first.

Every rankable metric is better when higher (drawdowns are zero or negative, so the shallowest
ranks first). Ties keep grid order, so a ranking is reproducible; a set whose metric is NaN
never ranks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tickmesh.backtest.sweep_grid import SweepConfigError
from tickmesh.backtest.vectorized import Metrics, SweepResult

RANK_METRICS = ("return_pct", "final_equity", "sharpe", "max_drawdown_pct")
"""The metrics a sweep can be ranked by."""


@dataclass(frozen=True)
class RankedSet:
    """One parameter set's place in a ranking (1 is best) and where it sits in the grid."""

    rank: int
    index: int
    params: Mapping[str, Any]
    metrics: Metrics


def rank(
    result: SweepResult, metric: str = "return_pct", top: int = 10, min_trades: int = 0
) -> list[RankedSet]:
    """The ``top`` best sets by ``metric`` among those with at least ``min_trades`` trades."""
    if metric not in RANK_METRICS:
        raise SweepConfigError(
            f"cannot rank by {metric!r}; choose one of: {', '.join(RANK_METRICS)}"
        )
    if top < 1:
        raise SweepConfigError(f"top must be at least 1, got {top}")
    if min_trades < 0:
        raise SweepConfigError(f"min_trades must be zero or more, got {min_trades}")
    values = result.column(metric)
    eligible = np.flatnonzero(~np.isnan(values) & (result.column("n_trades") >= min_trades))
    order = eligible[np.lexsort((eligible, -values[eligible]))][:top]
    return [
        RankedSet(place, int(k), result.params(int(k)), result.metrics(int(k)))
        for place, k in enumerate(order, start=1)
    ]
