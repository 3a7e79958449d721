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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _wilder(
    x: float, n: int, alpha: float, has_value: bool, value: float, count: int, seed_sum: float
) -> tuple[bool, float, int, float]:
    """``_WilderAverage.update``."""
    if has_value:
        return True, value + alpha * (x - value), count, seed_sum
    count += 1
    seed_sum += x
    if count == n:
        return True, seed_sum / n, count, seed_sum
    return False, value, count, seed_sum


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rsi_extend(
    prices: FloatArray,
    n: int,
    alpha: float,
    gain: tuple[bool, float, int, float],
    loss: tuple[bool, float, int, float],
    has_prev: bool,
    prev: float,
) -> tuple[tuple[bool, float, int, float], tuple[bool, float, int, float], bool, float]:
    g_has, g_value, g_count, g_sum = gain
    l_has, l_value, l_count, l_sum = loss
    for k in range(prices.shape[0]):
        price = prices[k]
        if has_prev:
            change = price - prev
            up = 0.0 if change < 0.0 else change  # max(change, 0.0), ties as Python's max
            down = 0.0 if -change < 0.0 else -change
            g_has, g_value, g_count, g_sum = _wilder(up, n, alpha, g_has, g_value, g_count, g_sum)
            l_has, l_value, l_count, l_sum = _wilder(down, n, alpha, l_has, l_value, l_count, l_sum)
        prev = price
        has_prev = True
    return (g_has, g_value, g_count, g_sum), (l_has, l_value, l_count, l_sum), has_prev, prev


Wilder = tuple[float | None, int, float]
"""A ``_WilderAverage``'s state: value (None until seeded), inputs counted, their sum."""


def rsi_extend(
    prices: Sequence[float] | FloatArray,
    n: int,
    alpha: float,
    gain: Wilder,
    loss: Wilder,
    prev: float | None,
) -> tuple[float | None, int, float, float | None, int, float, float | None]:
    """``RSI.update`` over every price: the new gain and loss averages' states and the last
    price, flattened as (gain value, count, sum, loss value, count, sum, previous price)."""

    def packed(state: Wilder) -> tuple[bool, float, int, float]:
        value, count, total = state
        return value is not None, 0.0 if value is None else value, count, total

    g, lo, has_prev, last = _rsi_extend(
        np.ascontiguousarray(prices, dtype=np.float64), n, alpha, packed(gain), packed(loss),
        prev is not None, 0.0 if prev is None else prev,
    )  # fmt: skip
    return (
        float(g[1]) if g[0] else None, int(g[2]), float(g[3]),
        float(lo[1]) if lo[0] else None, int(lo[2]), float(lo[3]),
        float(last) if has_prev else None,
    )  # fmt: skip
