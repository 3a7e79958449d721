"""Risk-adjusted position sizing and the caps every order quantity must fit under.

A :class:`Cap` is an upper bound on one order's quantity plus the refusal it stands for. The
same caps serve two purposes: an explicit quantity that exceeds one is refused with the cap's
reason; a quantity the risk manager chose is shrunk to fit all of them, so it is never refused by
a limit it could have respected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from tickmesh.core.decimal import ZERO, to_decimal
from tickmesh.model.enums import DenyReason
from tickmesh.model.events import Signal
from tickmesh.risk.limits import RiskLimits


@dataclass(frozen=True, slots=True)
class Cap:
    """At most ``quantity`` may be ordered; ``explain(q)`` says why ``q`` is too much."""

    reason: DenyReason
    quantity: Decimal
    name: str
    explain: Callable[[Decimal], str]


def fmt(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros, for detail texts."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def stop_distance(signal: Signal, atr: float | None, price: float, limits: RiskLimits) -> float:
    """Price distance to the protective stop: the strategy's, else ATR-based, else a fixed %."""
    if signal.stop_distance is not None and signal.stop_distance > 0:
        return signal.stop_distance
    if atr is not None and atr > 0:
        return limits.atr_multiple * atr
    return limits.fallback_stop_pct * price


def risk_quantity(equity: Decimal, risk_fraction: float, stop: float) -> Decimal:
    """Quantity whose loss at the stop is ``risk_fraction`` of equity."""
    if equity <= 0 or not stop > 0:
        return ZERO
    return equity * to_decimal(risk_fraction) / to_decimal(stop)


def fit_under(target: Decimal, caps: Iterable[Cap]) -> tuple[Decimal, Cap | None]:
    """``target`` shrunk to the tightest cap, and that cap if it was binding."""
    quantity, binding = target, None
    for cap in caps:
        if cap.quantity < quantity:
            quantity, binding = max(cap.quantity, ZERO), cap
    return quantity, binding


def first_breach(quantity: Decimal, caps: Iterable[Cap]) -> Cap | None:
    """The first cap ``quantity`` exceeds, if any."""
    return next((cap for cap in caps if quantity > cap.quantity), None)
