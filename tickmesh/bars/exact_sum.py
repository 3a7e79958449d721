"""Exactly rounded float sums that do not depend on the order of the addends.

A bar's volume must come out bit-for-bit the same whether its trades arrived sorted or shuffled,
one by one or in columnar batches; a running ``+=`` does not give that, ``math.fsum`` does.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def fsum(values: list[float]) -> float:
    """``math.fsum`` that answers NaN instead of raising when the addends hold both infinities."""
    try:
        return math.fsum(values)
    except ValueError:
        return math.nan


def exact_partials(values: list[float]) -> list[float]:
    """Few floats whose exact (unrounded) sum equals the exact sum of ``values``.

    Each step takes the correctly rounded sum of what is left; the remainder shrinks by about
    53 bits per step, so a handful of steps suffice. Non-finite sums are returned as they are.
    """
    parts: list[float] = []
    rest = list(values)
    while True:
        total = fsum(rest)
        if total == 0.0 or not math.isfinite(total):
            return parts if total == 0.0 else [total]
        parts.append(total)
        rest.append(-total)


class ExactSum:
    """Accumulates floats; :meth:`total` is the correctly rounded value of their exact sum.

    Addends are kept until there are ``compact_at`` of them, then replaced by their
    :func:`exact_partials`, so memory stays small however many trades a bar has.
    """

    __slots__ = ("_compact_at", "_values")

    def __init__(self, compact_at: int = 16384) -> None:
        if compact_at < 1:
            raise ValueError(f"compact_at must be >= 1, got {compact_at}")
        self._compact_at = compact_at
        self._values: list[float] = []

    def add(self, value: float) -> None:
        self._values.append(value)
        if len(self._values) >= self._compact_at:
            self._values = exact_partials(self._values)

    def add_array(self, values: FloatArray) -> None:
        """Add a float64 array (copied: the accumulator never pins the caller's buffer)."""
        self._values.extend(values.tolist())
        if len(self._values) >= self._compact_at:
            self._values = exact_partials(self._values)

    def total(self) -> float:
        return fsum(self._values)
