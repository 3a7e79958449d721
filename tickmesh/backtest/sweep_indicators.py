"""Indicator series for the sweep kernels, bit-identical to the incremental indicators in
:mod:`tickmesh.strategies.indicators`.

The event-driven engine re-runs the best parameter set with those incremental indicators and
must find the same trades; a crossover decided by the last bit of a moving average would
otherwise differ. So each series here repeats its indicator's float operations in the same
order: the SMA's running sum with its exact re-sum every ``n`` updates (``math.fsum``'s
correctly rounded sum, see :func:`exact_sum`), Wilder's seeded averages for RSI, and the
Donchian channel of the *previous* ``n`` bars. Bars where the indicator is not ready yet hold
NaN, and every comparison with NaN is false, which is how the strategies' "not ready" checks
read here.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from tickmesh.backtest.sweep_jit import jit, jit_parallel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SMA, RSI, CHANNEL_HIGH, CHANNEL_LOW = 0, 1, 2, 3
"""Row kinds: SMA of close, RSI of close, highest high and lowest low of the previous n bars."""

PARTIALS = 2100
"""Room for the non-overlapping partials of an exact float sum: doubles span about 2,100
binary digits, so no exact sum of finite doubles needs more."""


@jit
def exact_sum(values: FloatArray, partials: FloatArray) -> float:
    """The correctly rounded sum of ``values`` (finite): what ``math.fsum`` returns.

    Fast path: a compensated sum (Knuth's TwoSum into ``head`` and ``tail``) that also adds up
    what the ``tail`` additions lost. When they lost nothing (always, for prices: the errors
    are multiples of one small power of two), ``head + tail`` is the exact sum and its IEEE
    rounding is the answer; otherwise a rounding-boundary check decides, and a near-tie falls
    back to the exact partials algorithm. ``partials`` is scratch space of ``PARTIALS`` floats.
    """
    head = tail = lost = 0.0
    for k in range(values.shape[0]):
        head, tail, lost = _sum2_step(head, tail, lost, values[k])
    total = _sum2_result(head, tail, lost)
    return exact_sum_partials(values, partials) if math.isnan(total) else total


@jit
def _sum2_step(head: float, tail: float, lost: float, x: float) -> tuple[float, float, float]:
    """Add ``x``: ``head`` takes the rounded sum, ``tail`` its exact error, ``lost`` the size
    of what adding that error to ``tail`` rounded away."""
    total = head + x
    virtual = total - head
    error = (head - (total - virtual)) + (x - virtual)
    new_tail = tail + error
    virtual = new_tail - tail
    lost += abs((tail - (new_tail - virtual)) + (error - virtual))
    return total, new_tail, lost


@jit
def _sum2_result(head: float, tail: float, lost: float) -> float:
    """The correctly rounded exact sum from :func:`_sum2_step`'s state, or NaN when it cannot
    tell (the caller then sums exactly).

    The exact sum is ``head + tail`` give or take ``lost`` (doubled, for the rounding in
    ``lost`` itself). ``head + tail`` is ``rounded + residual`` exactly; ``rounded`` is right
    when that interval stays inside the half-gaps to its neighbouring doubles.
    """
    rounded = head + tail
    if lost == 0.0:
        return rounded
    virtual = rounded - head
    residual = (head - (rounded - virtual)) + (tail - virtual)
    if not _TINY < abs(rounded) < _LARGE:
        return np.nan
    return rounded if abs(residual) + 2.0 * lost < _half_gap(rounded) else np.nan


@jit
def _half_gap(x: float) -> float:
    """Half the distance from normal ``x`` to its nearer neighbouring double, from the bits
    (``math.frexp`` and ``ldexp`` are library calls, too slow at one per re-sum)."""
    bits = np.float64(x).view(np.int64)
    exponent = (bits >> 52) & 0x7FF
    power_of_two = (bits & 0xFFFFFFFFFFFFF) == 0
    return float(np.int64((exponent - 53 - power_of_two) << 52).view(np.float64))


_LARGE = 2.0**1000
_TINY = 2.0**-960
"""Sums outside (_TINY, _LARGE) take the exact path: their error terms could overflow or
underflow."""


@jit
def exact_sum_partials(values: FloatArray, partials: FloatArray) -> float:
    """``math.fsum`` itself: Shewchuk's non-overlapping partials, then CPython's half-even
    correction across partials."""
    count = 0
    for k in range(values.shape[0]):
        x = values[k]
        kept = 0
        for j in range(count):
            y = partials[j]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                partials[kept] = lo
                kept += 1
            x = hi
        count = kept
        if x != 0.0:
            partials[count] = x
            count += 1
    return _round_partials(partials, count)


@jit
def _round_partials(partials: FloatArray, count: int) -> float:
    """Sum the partials from the top, stopping once inexact (CPython ``math_fsum``'s tail)."""
    if count == 0:
        return 0.0
    lo = 0.0
    count -= 1
    hi = partials[count]
    while count > 0:
        x = hi
        count -= 1
        y = partials[count]
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            break
    if count > 0 and (
        (lo < 0.0 and partials[count - 1] < 0.0) or (lo > 0.0 and partials[count - 1] > 0.0)
    ):
        y = lo * 2.0
        x = hi + y
        if y == x - hi:
            hi = x
    return float(hi)


@jit
def sma_into(close: FloatArray, n: int, partials: FloatArray, out: FloatArray) -> None:
    """``SMA(n)``: a running sum (``total += x - dropped``) re-summed exactly on the updates
    where ``indicators._RollingSum`` refreshes (bar 0, n, 2n, ...); the value is ``total / n``.
    """
    j, total = 0, 0.0
    while j < close.shape[0]:
        j, total = _sma_run(close, n, j, total, out)
        if j < close.shape[0]:
            first = max(0, j - n + 1)
            total = exact_sum_partials(close[first : j + 1], partials)
            out[j] = total / n if j >= n - 1 else np.nan
            j += 1


@jit
def _sma_run(close: FloatArray, n: int, j: int, total: float, out: FloatArray) -> tuple[int, float]:
    """SMA values from bar ``j`` on, until the end or a re-sum whose fast path cannot decide
    (returns that bar, unfilled). The exact re-sum is :func:`exact_sum`'s fast path written
    out: with any call that takes an array inside it, this loop runs several times slower."""
    size = float(n)
    refresh = (j + n - 1) // n * n
    while j < close.shape[0]:
        if j == refresh:
            first = max(0, j - n + 1)
            head = tail = lost = 0.0
            for k in range(first, j + 1):
                head, tail, lost = _sum2_step(head, tail, lost, close[k])
            total = _sum2_result(head, tail, lost)
            if math.isnan(total):
                return j, total
            refresh += n
        elif j >= n:
            total += close[j] - close[j - n]
        else:
            total += close[j] - 0.0
        out[j] = total / size if j >= n - 1 else np.nan
        j += 1
    return j, total


@jit
def rsi_into(close: FloatArray, n: int, out: FloatArray) -> None:
    """``RSI(n)``: Wilder averages of gains and losses seeded with the mean of the first ``n``
    changes; ``100 * gain / (gain + loss)``, 50 when there was no movement at all."""
    alpha = 1.0 / n
    gain = loss = seed_gain = seed_loss = 0.0
    count = 0
    out[0] = np.nan
    for j in range(1, close.shape[0]):
        change = close[j] - close[j - 1]
        up = 0.0 if change < 0.0 else change
        down = 0.0 if -change < 0.0 else -change
        if count < n:
            count += 1
            seed_gain += up
            seed_loss += down
            if count == n:
                gain, loss = seed_gain / n, seed_loss / n
        else:
            gain += alpha * (up - gain)
            loss += alpha * (down - loss)
        out[j] = np.nan if count < n else _rsi_value(gain, loss)


@jit
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 50.0 if total <= 0.0 else 100.0 * gain / total


@jit
def previous_extreme_into(values: FloatArray, n: int, sign: float, out: FloatArray) -> None:
    """``out[t]`` = max (``sign`` 1) or min (``sign`` -1) of ``values[t-n : t]``, NaN for
    ``t < n``: the Donchian channel a bar's close is compared with. Monotonic deque, O(1)
    amortised per bar."""
    queue = np.empty(values.shape[0], np.int64)
    head = tail = 0
    for t in range(values.shape[0]):
        if t >= n:
            while queue[head] < t - n:
                head += 1
            out[t] = values[queue[head]]
        else:
            out[t] = np.nan
        keyed = sign * values[t]
        while tail > head and sign * values[queue[tail - 1]] <= keyed:
            tail -= 1
        queue[tail] = t
        tail += 1


@jit
def _fill_row(
    kind: int,
    window: int,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    out: FloatArray,
) -> None:
    if kind == SMA:
        sma_into(close, window, np.empty(PARTIALS), out)
    elif kind == RSI:
        rsi_into(close, window, out)
    elif kind == CHANNEL_HIGH:
        previous_extreme_into(high, window, 1.0, out)
    else:
        previous_extreme_into(low, window, -1.0, out)


@jit_parallel
def indicator_rows(
    kinds: IntArray, windows: IntArray, high: FloatArray, low: FloatArray, close: FloatArray
) -> FloatArray:
    """One row per (kind, window) pair, computed in parallel: shape ``(len(kinds), n_bars)``."""
    rows = np.empty((kinds.shape[0], close.shape[0]))
    for r in numba.prange(kinds.shape[0]):
        _fill_row(kinds[r], windows[r], high, low, close, rows[r])
    return rows
