"""Exact, order-independent summation behind bar volumes."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tickmesh.bars import ExactSum
from tickmesh.bars.exact_sum import exact_partials

from .support import PROPERTY

FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@PROPERTY
@given(values=st.lists(FINITE, max_size=60))
def test_partials_sum_exactly_to_the_values(values: list[float]) -> None:
    parts = exact_partials(values)

    assert sum(map(Fraction, parts), Fraction(0)) == sum(map(Fraction, values), Fraction(0))
    assert len(parts) <= 45


@PROPERTY
@given(
    values=st.lists(FINITE, max_size=80),
    compact_at=st.integers(1, 20),
    cuts=st.lists(st.integers(0, 80), max_size=6),
)
def test_total_is_fsum_however_values_are_added(
    values: list[float], compact_at: int, cuts: list[int]
) -> None:
    acc = ExactSum(compact_at=compact_at)
    bounds = [0, *sorted(c for c in cuts if c <= len(values)), len(values)]
    for i, (start, stop) in enumerate(pairwise(bounds)):
        if i % 2:
            acc.add_array(np.array(values[start:stop], dtype=np.float64))
        else:
            for value in values[start:stop]:
                acc.add(value)

    assert acc.total() == math.fsum(values)


def test_total_of_cancelling_magnitudes_is_exact() -> None:
    acc = ExactSum(compact_at=2)
    for value in (1e16, 1.0, 1.0, -1e16, 1e-20):
        acc.add(value)

    assert acc.total() == 2.0


def test_opposite_infinities_total_nan() -> None:
    acc = ExactSum(compact_at=1)
    acc.add(math.inf)
    acc.add(-math.inf)

    assert math.isnan(acc.total())


def test_empty_total_is_zero() -> None:
    assert ExactSum().total() == 0.0
