"""How each built-in strategy maps onto the sweep kernel: which indicator rows a parameter set
reads, which scalars it passes, and how many bars pass before its first possible signal.

Parameter sets of one sweep share indicator rows: a grid of 10 fast and 10 slow SMA lengths
needs 20 rows, not 180. Rows are computed once per sweep (in chunks when they would not fit
the memory budget), then every set runs on its two rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tickmesh.backtest import sweep_indicators as ind
from tickmesh.backtest import sweep_kernel as kernel

Row = tuple[int, int]
"""An indicator row: (kind, window)."""


@dataclass(frozen=True)
class SetSpec:
    """What the kernel needs for one parameter set."""

    a: Row
    b: Row
    x: float
    y: float
    first_signal: int
    """The first bar index on which the rule can fire (its indicators' warm-up)."""


def _sma_cross(params: Mapping[str, Any]) -> SetSpec:
    fast, slow = params["fast"], params["slow"]
    return SetSpec((ind.SMA, fast), (ind.SMA, slow), float(params["allow_short"]), 0.0, slow)


def _donchian_breakout(params: Mapping[str, Any]) -> SetSpec:
    entry, exit_ = params["entry"], params["exit"]
    return SetSpec((ind.CHANNEL_HIGH, entry), (ind.CHANNEL_LOW, exit_), 0.0, 0.0, entry)


def _rsi_reversion(params: Mapping[str, Any]) -> SetSpec:
    period = params["period"]
    rsi = (ind.RSI, period)
    return SetSpec(rsi, rsi, float(params["lower"]), float(params["upper"]), period + 1)


FAMILIES: dict[str, tuple[int, Callable[[Mapping[str, Any]], SetSpec]]] = {
    "sma_cross": (kernel.SMA_CROSS, _sma_cross),
    "donchian_breakout": (kernel.DONCHIAN_BREAKOUT, _donchian_breakout),
    "rsi_reversion": (kernel.RSI_REVERSION, _rsi_reversion),
}
"""Strategy name -> (kernel rule code, parameter set -> SetSpec)."""


@dataclass(frozen=True)
class Chunk:
    """Parameter sets (by grid index) evaluated together, and the rows they need."""

    indices: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.int64]
    windows: npt.NDArray[np.int64]
    row_a: npt.NDArray[np.int64]
    row_b: npt.NDArray[np.int64]
    xs: npt.NDArray[np.float64]
    ys: npt.NDArray[np.float64]


def chunks(specs: Sequence[SetSpec], max_rows: int) -> Iterator[Chunk]:
    """Group consecutive sets so that no group needs more than ``max_rows`` distinct rows."""
    group: list[int] = []
    rows: dict[Row, int] = {}
    for k, spec in enumerate(specs):
        if group and len(rows | dict.fromkeys((spec.a, spec.b), 0)) > max_rows:
            yield _chunk(specs, group, rows)
            group, rows = [], {}
        group.append(k)
        for row in (spec.a, spec.b):
            rows.setdefault(row, len(rows))
    if group:
        yield _chunk(specs, group, rows)


def _chunk(specs: Sequence[SetSpec], group: list[int], rows: dict[Row, int]) -> Chunk:
    chosen = [specs[k] for k in group]
    return Chunk(
        indices=np.array(group, dtype=np.int64),
        kinds=np.array([kind for kind, _ in rows], dtype=np.int64),
        windows=np.array([window for _, window in rows], dtype=np.int64),
        row_a=np.array([rows[s.a] for s in chosen], dtype=np.int64),
        row_b=np.array([rows[s.b] for s in chosen], dtype=np.int64),
        xs=np.array([s.x for s in chosen], dtype=np.float64),
        ys=np.array([s.y for s in chosen], dtype=np.float64),
    )
