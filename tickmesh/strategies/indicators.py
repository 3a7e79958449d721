"""Incremental indicators: O(1) (amortised) per update, plain floats, no history kept beyond
the window.

Every indicator has ``update(...)``, returning the new value, plus ``value`` and ``ready``.
Until enough input has arrived, ``value`` is ``None`` and ``ready`` is ``False``; strategies
check ``ready`` (or ``value is None``) before acting. Definitions follow TA-Lib: EMA, RSI and
ATR are seeded with a simple average of their first ``n`` inputs, RSI and ATR then use Wilder's
smoothing (alpha = 1/n).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tickmesh.strategies.kernels import FloatArray


def _check_period(n: int, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise ValueError(f"period must be an int >= {minimum}, got {n!r}")
    return n


class _RollingSum:
    """A sliding-window sum that re-adds the window exactly every ``n`` updates, so float
    drift from add-then-subtract never accumulates."""

    __slots__ = ("_since_refresh", "total", "window")

    def __init__(self, n: int) -> None:
        self.window: deque[float] = deque(maxlen=n)
        self.total = 0.0
        self._since_refresh = 0

    @property
    def full(self) -> bool:
        return len(self.window) == self.window.maxlen

    def push(self, x: float) -> float | None:
        """Add ``x``; returns the value that fell out of the window, if any."""
        dropped = self.window[0] if self.full else None
        self.window.append(x)
        self._since_refresh += 1
        if self._since_refresh >= len(self.window):
            self.total = math.fsum(self.window)
            self._since_refresh = 0
        else:
            self.total += x - (dropped or 0.0)
        return dropped

    def extend(self, values: Sequence[float]) -> None:
        """:meth:`push` every value in order, leaving the same state (window, sum and re-sum
        phase, bit for bit) in O(n) rather than O(len(values)): once the window is full, only
        the last exact re-sum and the pushes after it matter."""
        n = self.window.maxlen or 0
        done = 0
        while done < len(values) and not self.full:
            self.push(values[done])
            done += 1
        rest = len(values) - done
        until_resum = n - self._since_refresh
        if rest >= until_resum:
            last_resum = done + until_resum + (rest - until_resum) // n * n
            kept = [*self.window, *values[max(done, last_resum - n) : last_resum]][-n:]
            self.window.clear()
            self.window.extend(kept)
            self.total = math.fsum(kept)
            self._since_refresh = 0
            done = last_resum
        total = self.total
        for x in values[done:]:  # fewer than n, none re-summing: push's incremental branch
            total += x - self.window[0]
            self.window.append(x)
        self.total = total
        self._since_refresh += len(values) - done


class SMA:
    """Simple moving average of the last ``n`` values."""

    __slots__ = ("_sum", "n")

    def __init__(self, n: int) -> None:
        self.n = _check_period(n)
        self._sum = _RollingSum(n)

    def update(self, x: float) -> float | None:
        self._sum.push(x)
        return self.value

    def extend(self, values: Sequence[float]) -> float | None:
        """:meth:`update` with each value in order (same state, bit for bit), in O(n)."""
        self._sum.extend(values)
        return self.value

    @property
    def ready(self) -> bool:
        return self._sum.full

    @property
    def value(self) -> float | None:
        return self._sum.total / self.n if self._sum.full else None


class _WilderAverage:
    """Mean of the first ``n`` inputs, then ``avg += alpha * (x - avg)``."""

    __slots__ = ("_count", "_seed_sum", "alpha", "n", "value")

    def __init__(self, n: int, alpha: float) -> None:
        self.n = n
        self.alpha = alpha
        self.value: float | None = None
        self._count = 0
        self._seed_sum = 0.0

    def update(self, x: float) -> float | None:
        if self.value is not None:
            self.value += self.alpha * (x - self.value)
            return self.value
        self._count += 1
        self._seed_sum += x
        if self._count == self.n:
            self.value = self._seed_sum / self.n
        return self.value


class EMA:
    """Exponential moving average, alpha = 2/(n+1), seeded with the SMA of the first ``n``
    values (TA-Lib's default)."""

    __slots__ = ("_avg", "n")

    def __init__(self, n: int) -> None:
        self.n = _check_period(n)
        self._avg = _WilderAverage(n, 2.0 / (n + 1))

    def update(self, x: float) -> float | None:
        return self._avg.update(x)

    @property
    def ready(self) -> bool:
        return self._avg.value is not None

    @property
    def value(self) -> float | None:
        return self._avg.value


class RSI:
    """Wilder's relative strength index over ``n`` price changes (needs ``n + 1`` prices).

    ``100 * avg_gain / (avg_gain + avg_loss)``, which equals ``100 - 100 / (1 + RS)``. A window
    with no movement at all reads 50 (neutral); TA-Lib reads 0 there, which would look oversold.
    """

    __slots__ = ("_gain", "_loss", "_prev", "n")

    def __init__(self, n: int = 14) -> None:
        self.n = _check_period(n)
        self._gain = _WilderAverage(n, 1.0 / n)
        self._loss = _WilderAverage(n, 1.0 / n)
        self._prev: float | None = None

    def update(self, price: float) -> float | None:
        if self._prev is not None:
            change = price - self._prev
            self._gain.update(max(change, 0.0))
            self._loss.update(max(-change, 0.0))
        self._prev = price
        return self.value

    def extend(self, prices: Sequence[float]) -> float | None:
        """:meth:`update` with each price in order (same state, bit for bit); long runs go
        through a compiled loop that repeats the same float operations."""
        if len(prices) < _COMPILED_FROM:
            for price in map(float, prices):
                self.update(price)
            return self.value
        from tickmesh.strategies import kernels

        gain, loss = self._gain, self._loss
        (gain.value, gain._count, gain._seed_sum, loss.value, loss._count, loss._seed_sum,
         self._prev) = kernels.rsi_extend(
            prices, self.n, gain.alpha, (gain.value, gain._count, gain._seed_sum),
            (loss.value, loss._count, loss._seed_sum), self._prev,
        )  # fmt: skip
        return self.value

    @property
    def ready(self) -> bool:
        return self._gain.value is not None

    @property
    def value(self) -> float | None:
        gain, loss = self._gain.value, self._loss.value
        if gain is None or loss is None:
            return None
        total = gain + loss
        return 50.0 if total <= 0.0 else 100.0 * gain / total


_COMPILED_FROM = 8
"""Runs at least this long take the compiled path in ``extend``."""


def true_range(high: float, low: float, prev_close: float) -> float:
    return max(high - low, abs(high - prev_close), abs(low - prev_close))


class ATR:
    """Wilder's average true range. The first bar has no previous close, so (as in TA-Lib) the
    first true range comes from the second bar and the value is ready after ``n + 1`` bars."""

    __slots__ = ("_avg", "_prev_close", "n")

    def __init__(self, n: int = 14) -> None:
        self.n = _check_period(n)
        self._avg = _WilderAverage(n, 1.0 / n)
        self._prev_close: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        if self._prev_close is not None:
            self._avg.update(true_range(high, low, self._prev_close))
        self._prev_close = close
        return self.value

    def extend(
        self, high: Sequence[float] | FloatArray, low: Sequence[float] | FloatArray,
        close: Sequence[float] | FloatArray,
    ) -> None:  # fmt: skip
        """:meth:`update` with each bar in order (same state, bit for bit); long runs go through
        a compiled loop that repeats the same float operations."""
        if len(close) < _COMPILED_FROM:
            for h, lo, c in zip(map(float, high), map(float, low), map(float, close), strict=True):
                self.update(h, lo, c)
            return
        from tickmesh.strategies import kernels

        avg = self._avg
        avg.value, avg._count, avg._seed_sum, self._prev_close = kernels.atr_extend(
            high, low, close, self.n, avg.alpha, avg.value, avg._count, avg._seed_sum,
            self._prev_close,
        )  # fmt: skip

    @property
    def ready(self) -> bool:
        return self._avg.value is not None

    @property
    def value(self) -> float | None:
        return self._avg.value


class _RollingExtreme:
    """Max (or min) of the last ``n`` values with a monotonic deque of (index, value)."""

    __slots__ = ("_count", "_deque", "_sign", "n")

    def __init__(self, n: int, sign: float) -> None:
        self.n = _check_period(n)
        self._sign = sign
        self._deque: deque[tuple[int, float]] = deque()
        self._count = 0

    def update(self, x: float) -> float | None:
        keyed = self._sign * x
        while self._deque and self._sign * self._deque[-1][1] <= keyed:
            self._deque.pop()
        self._deque.append((self._count, x))
        if self._deque[0][0] <= self._count - self.n:
            self._deque.popleft()
        self._count += 1
        return self.value

    def extend(self, values: Sequence[float]) -> None:
        """:meth:`update` with each value in order, leaving the same state in O(n): the deque
        then holds only values of the last ``n``, so only those need pushing."""
        skipped = max(0, len(values) - self.n)
        if skipped:
            self._deque.clear()
            self._count += skipped
        for x in map(float, values[skipped:]):
            self.update(x)

    @property
    def ready(self) -> bool:
        return self._count >= self.n

    @property
    def value(self) -> float | None:
        return self._deque[0][1] if self.ready else None


class RollingMax(_RollingExtreme):
    """Highest of the last ``n`` values."""

    __slots__ = ()

    def __init__(self, n: int) -> None:
        super().__init__(n, 1.0)


class RollingMin(_RollingExtreme):
    """Lowest of the last ``n`` values."""

    __slots__ = ()

    def __init__(self, n: int) -> None:
        super().__init__(n, -1.0)


class Donchian:
    """Donchian channel of the *previous* ``n`` bars: after ``update`` with bar t, ``upper`` is
    the highest high and ``lower`` the lowest low of bars t-n .. t-1, so "close above upper" is a
    breakout of the range the current bar is measured against. Ready after ``n + 1`` bars."""

    __slots__ = ("_high", "_low", "_pending", "n")

    def __init__(self, n: int) -> None:
        self.n = _check_period(n)
        self._high = RollingMax(n)
        self._low = RollingMin(n)
        self._pending: tuple[float, float] | None = None

    def update(self, high: float, low: float) -> tuple[float, float] | None:
        if self._pending is not None:
            self._high.update(self._pending[0])
            self._low.update(self._pending[1])
        self._pending = (high, low)
        return self.value

    def extend(self, highs: Sequence[float], lows: Sequence[float]) -> None:
        """:meth:`update` with each bar in order (same state), in O(n)."""
        if not len(highs):
            return
        earlier_h, earlier_l = list(map(float, highs[:-1])), list(map(float, lows[:-1]))
        if self._pending is not None:
            earlier_h.insert(0, self._pending[0])
            earlier_l.insert(0, self._pending[1])
        self._high.extend(earlier_h)
        self._low.extend(earlier_l)
        self._pending = (float(highs[-1]), float(lows[-1]))

    @property
    def ready(self) -> bool:
        return self._high.ready

    @property
    def upper(self) -> float | None:
        return self._high.value

    @property
    def lower(self) -> float | None:
        return self._low.value

    @property
    def value(self) -> tuple[float, float] | None:
        """``(upper, lower)`` once ready."""
        upper, lower = self._high.value, self._low.value
        return None if upper is None or lower is None else (upper, lower)


class RollingStd:
    """Standard deviation of the last ``n`` values (``ddof=0``: population, as TA-Lib's STDDEV;
    ``ddof=1``: sample, as pandas). Sliding Welford update, re-derived exactly every ``n`` steps.

    Like any sliding variance in floats, a window that is nearly constant carries an absolute
    variance error of order ``1e-16 * price**2``; an exactly constant window reads exactly 0.
    """

    __slots__ = ("_m2", "_mean", "_run", "_since_refresh", "_window", "ddof", "n")

    def __init__(self, n: int, ddof: int = 0) -> None:
        if ddof not in (0, 1):
            raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
        self.n = _check_period(n, minimum=ddof + 1)
        self.ddof = ddof
        self._window: deque[float] = deque(maxlen=n)
        self._mean = 0.0
        self._m2 = 0.0
        self._since_refresh = 0
        self._run = 0

    def update(self, x: float) -> float | None:
        full = len(self._window) == self.n
        old = self._window[0] if full else None
        self._run = self._run + 1 if self._window and self._window[-1] == x else 1
        self._window.append(x)
        self._since_refresh += 1
        if self._since_refresh >= self.n:
            self._refresh()
        elif old is None:
            delta = x - self._mean
            self._mean += delta / len(self._window)
            self._m2 += delta * (x - self._mean)
        else:
            mean = self._mean + (x - old) / self.n
            self._m2 += (x - old) * (x - mean + old - self._mean)
            self._mean = mean
        return self.value

    def _refresh(self) -> None:
        count = len(self._window)
        self._mean = math.fsum(self._window) / count
        self._m2 = math.fsum((v - self._mean) ** 2 for v in self._window)
        self._since_refresh = 0

    @property
    def ready(self) -> bool:
        return len(self._window) == self.n

    @property
    def value(self) -> float | None:
        if not self.ready:
            return None
        if self._run >= self.n:
            return 0.0
        return math.sqrt(max(self._m2, 0.0) / (self.n - self.ddof))


class Crossover:
    """Whether series ``a`` crossed series ``b`` on the latest update, as backtesting.py defines
    it (strict): up when ``prev_a < prev_b and a > b``, down when ``prev_a > prev_b and a < b``."""

    __slots__ = ("_prev", "down", "up")

    def __init__(self) -> None:
        self._prev: tuple[float, float] | None = None
        self.up = False
        self.down = False

    def update(self, a: float, b: float) -> None:
        prev = self._prev
        self.up = prev is not None and prev[0] < prev[1] and a > b
        self.down = prev is not None and prev[0] > prev[1] and a < b
        self._prev = (a, b)

    def settle(self, a: float, b: float) -> None:
        """The state after an update with ``a`` and ``b`` that crossed nothing."""
        self.up = self.down = False
        self._prev = (a, b)
