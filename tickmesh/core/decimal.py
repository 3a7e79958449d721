"""Exact money arithmetic: every price and quantity that touches the ledger is a Decimal,
rounded to the instrument's increment with banker-free, explicit rounding."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Convert without binary-float noise: floats go through their shortest repr."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):  # numpy floats too: their repr is "np.float64(...)"
        return Decimal(repr(float(value)))
    return Decimal(value)


def quantize(value: Decimal, increment: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round ``value`` to a multiple of ``increment``."""
    if increment <= 0:
        raise ValueError(f"increment must be positive, got {increment}")
    if is_power_of_ten(increment):  # the same result as below, in one operation
        return value.quantize(increment, rounding=rounding)
    steps = (value / increment).quantize(Decimal(1), rounding=rounding)
    return (steps * increment).quantize(increment)


def is_power_of_ten(increment: Decimal) -> bool:
    """1, 0.01, 1E+2, ... written with the one digit: quantizing to its exponent is rounding
    to its multiples (``Decimal("0.010")`` is not: its exponent is finer than its value)."""
    return increment.as_tuple().digits == (1,)


def floor_to(value: Decimal, increment: Decimal) -> Decimal:
    """Round towards zero to a multiple of ``increment`` (order sizes never round up)."""
    return quantize(value, increment, ROUND_DOWN)
