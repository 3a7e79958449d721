"""Exact money arithmetic: every price and quantity that touches the ledger is a Decimal,
rounded to the instrument's increment with banker-free, explicit rounding."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Convert without binary-float noise: floats go through their shortest repr."""
    if type(value) is float:  # the hot case (market data), tested first
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):  # numpy floats too: their repr is "np.float64(...)"
        return Decimal(repr(float(value)))
    return Decimal(value)


def quantize(value: Decimal, increment: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round ``value`` to a multiple of ``increment``."""
    if _checked_power_of_ten(increment):  # the same result as below, in one operation
        return value.quantize(increment, rounding=rounding)
    steps = (value / increment).quantize(Decimal(1), rounding=rounding)
    return (steps * increment).quantize(increment)


def is_power_of_ten(increment: Decimal) -> bool:
    """1, 0.01, 1E+2, ... written with the one digit: quantizing to its exponent is rounding
    to its multiples (``Decimal("0.010")`` is not: its exponent is finer than its value)."""
    return increment.as_tuple().digits == (1,)


_KNOWN_INCREMENTS: dict[int, tuple[Decimal, bool]] = {}


def _checked_power_of_ten(increment: Decimal) -> bool:
    """:func:`is_power_of_ten` of a positive ``increment`` (else ValueError), remembered per
    increment object: instruments quantize to the same few increments millions of times. Each
    entry holds its increment, so an id in the table always names the object it was made for."""
    known = _KNOWN_INCREMENTS.get(id(increment))
    if known is not None and known[0] is increment:
        return known[1]
    if increment <= 0:
        raise ValueError(f"increment must be positive, got {increment}")
    power = is_power_of_ten(increment)
    if len(_KNOWN_INCREMENTS) >= 256:
        _KNOWN_INCREMENTS.clear()
    _KNOWN_INCREMENTS[id(increment)] = (increment, power)
    return power


def floor_to(value: Decimal, increment: Decimal) -> Decimal:
    """Round towards zero to a multiple of ``increment`` (order sizes never round up)."""
    return quantize(value, increment, ROUND_DOWN)
