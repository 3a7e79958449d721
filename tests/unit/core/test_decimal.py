"""Decimal helpers: floats convert by their shortest repr, numpy floats included."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import numpy as np
import pytest

from tickmesh.core.decimal import quantize, to_decimal


def test_float_converts_without_binary_noise() -> None:
    assert to_decimal(0.1) == Decimal("0.1")


def test_numpy_float_converts_like_a_python_float() -> None:
    assert to_decimal(np.float64(702.24)) == Decimal("702.24")


@pytest.mark.parametrize("increment", ["0.01", "0.010", "1", "1E+1", "0.00000001"])
@pytest.mark.parametrize("rounding", [ROUND_HALF_EVEN, ROUND_DOWN])
def test_power_of_ten_increment_rounds_as_the_general_rule(increment: str, rounding: str) -> None:
    rng = np.random.default_rng(5)
    step = Decimal(increment)
    for x in [*rng.normal(0, 1000, 2000).tolist(), 0.005, 0.015, -0.025, 12.345]:
        value = to_decimal(x)
        general = ((value / step).quantize(Decimal(1), rounding=rounding) * step).quantize(step)
        result = quantize(value, step, rounding)
        assert (result, str(result)) == (general, str(general))


def test_other_increments_round_to_their_multiples() -> None:
    assert quantize(Decimal("1.37"), Decimal("0.25")) == Decimal("1.25")
    assert quantize(Decimal("1.38"), Decimal("0.25")) == Decimal("1.50")


def test_equal_increments_of_different_exponents_each_round_by_their_own_rule() -> None:
    fine, coarse = Decimal("0.010"), Decimal("0.01")
    for _ in range(3):  # the second and third calls answer from what the first learned
        assert str(quantize(Decimal("1.2345"), coarse)) == "1.23"
        assert str(quantize(Decimal("1.2345"), fine)) == "1.230"


def test_a_non_positive_increment_is_refused_every_time() -> None:
    assert quantize(Decimal("1.5"), Decimal("1")) == Decimal("2")
    for bad in (Decimal(0), Decimal("-0.01"), Decimal("-0.01")):
        with pytest.raises(ValueError, match="increment must be positive"):
            quantize(Decimal("1.5"), bad)


def test_other_numbers_convert_exactly() -> None:
    assert to_decimal(3) == Decimal(3)
    assert to_decimal("0.30") == Decimal("0.30")
    assert to_decimal(Decimal("2.50")) == Decimal("2.50")
