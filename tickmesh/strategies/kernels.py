"""Compiled loops behind the indicators' ``extend`` methods, repeating their float operations in
the same order (no ``fastmath``), so a fast-forwarded indicator is bit-identical to one updated
bar by bar. Compiled on first use and kept in numba's on-disk cache."""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _atr_extend(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    n: int,
    alpha: float,
    has_value: bool,
    value: float,
    count: int,
    seed_sum: float,
    has_prev: bool,
    prev_close: float,
) -> tuple[bool, float, int, float, bool, float]:
    for k in range(close.shape[0]):
        if has_prev:
            h, lo = high[k], low[k]
            tr = max(h - lo, abs(h - prev_close), abs(lo - prev_close))
            if has_value:
                value += alpha * (tr - value)
            else:
                count += 1
                seed_sum += tr
                if count == n:
                    value = seed_sum / n
                    has_value = True
        prev_close = close[k]
        has_prev = True
    return has_value, value, count, seed_sum, has_prev, prev_close


def atr_extend(
    high: Sequence[float] | FloatArray,
    low: Sequence[float] | FloatArray,
    close: Sequence[float] | FloatArray,
    n: int,
    alpha: float,
    value: float | None,
    count: int,
    seed_sum: float,
    prev_close: float | None,
) -> tuple[float | None, int, float, float | None]:
    """``ATR.update`` over every bar: the new (value, seed count, seed sum, previous close)."""
    has_value, new_value, count, seed_sum, has_prev, new_prev = _atr_extend(
        np.ascontiguousarray(high, dtype=np.float64),
        np.ascontiguousarray(low, dtype=np.float64),
        np.ascontiguousarray(close, dtype=np.float64),
        n,
        alpha,
        value is not None,
        0.0 if value is None else value,
        count,
        seed_sum,
        prev_close is not None,
        0.0 if prev_close is None else prev_close,
    )
    return (
        float(new_value) if has_value else None,
        int(count),
        float(seed_sum),
        float(new_prev) if has_prev else None,
    )
