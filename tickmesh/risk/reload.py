"""Risk limits as the arguments of a RELOAD command, and back.

A RELOAD carries every reloadable limit as ``risk.<field>`` -> text: Decimals and ints in their
exact form, floats as their shortest round-trip text, a limit switched off as ``"off"``. The
receiver swaps in the whole set or nothing, so a RELOAD that misses a field or names an unknown
one is refused rather than half applied. ``atr_period`` is not reloadable: the ATRs already
warming were built with it; the current value is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from tickmesh.risk.limits import RiskLimits

PREFIX = "risk."
OFF = "off"
FIXED = ("atr_period",)
RELOADABLE = tuple(name for name in RiskLimits.__struct_fields__ if name not in FIXED)


def limits_to_args(limits: RiskLimits) -> dict[str, str]:
    """``limits`` as RELOAD arguments (JSON-safe strings)."""
    return {PREFIX + name: _text(getattr(limits, name)) for name in RELOADABLE}


def limits_from_args(args: Mapping[str, str], current: RiskLimits) -> RiskLimits:
    """The limits a RELOAD carries (other arguments, such as ``reason``, are ignored); raises
    ValueError naming what is missing, unknown or invalid."""
    given = {key.removeprefix(PREFIX): text for key, text in args.items() if key.startswith(PREFIX)}
    missing = [name for name in RELOADABLE if name not in given]
    unknown = sorted(set(given) - set(RELOADABLE))
    if missing or unknown:
        raise ValueError(
            f"risk limits incomplete or unknown: missing {', '.join(missing) or 'none'}; "
            f"unknown {', '.join(unknown) or 'none'}"
        )
    values: dict[str, Any] = {
        name: None if text.strip().lower() == OFF else text for name, text in given.items()
    }
    values.update({name: getattr(current, name) for name in FIXED})
    try:
        return msgspec.convert(values, RiskLimits, strict=False)
    except ArithmeticError:  # Decimal NaN refuses to be compared with the bounds
        raise ValueError("invalid risk limits: a money limit is not a number") from None
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise ValueError(f"invalid risk limits: {exc}") from None


def _text(value: object) -> str:
    return OFF if value is None else str(value)
