"""The caps on one order's quantity, derived from the limits and the current exposure.

Position and exposure caps only bind on what an order *adds*: an order that leaves a symbol's
worst-case exposure where it is (a close, say) passes them even when the book is already over a
limit, so a tightened limit never traps a position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from tickmesh.core.decimal import ZERO, to_decimal
from tickmesh.model.enums import DenyReason, Side
from tickmesh.risk.book import ExposureBook
from tickmesh.risk.limits import RiskLimits
from tickmesh.risk.sizing import Cap, fmt


@dataclass(frozen=True, slots=True)
class OrderSpot:
    """Where a prospective order lands: its strategy, symbol, side and reference price."""

    strategy_id: str
    symbol: str
    side: Side
    price: Decimal


def limit_caps(
    limits: RiskLimits, book: ExposureBook, spot: OrderSpot, mark: Callable[[str], Decimal]
) -> list[Cap]:
    """Caps from the hard limits, in the order their refusals are reported."""
    caps: list[Cap] = []
    if limits.max_order_quantity is not None:
        caps.append(_order_quantity_cap(limits.max_order_quantity))
    if limits.max_order_notional is not None:
        caps.append(_order_notional_cap(limits.max_order_notional, spot.price))
    if limits.max_position_quantity is not None:
        caps.append(_position_cap(limits.max_position_quantity, book, spot))
    if limits.max_gross_exposure is not None:
        caps.append(_gross_cap(limits.max_gross_exposure, book, spot, mark))
    return caps


def equity_cap(pct: float, equity: Decimal, book: ExposureBook, spot: OrderSpot) -> Cap:
    """Sizing-only cap: the symbol's position notional stays within ``pct`` of equity."""
    limit = equity * to_decimal(pct)
    held = book.directional(spot.symbol, spot.side)
    name = f"max_position_pct_of_equity {pct:.2%} of equity {fmt(equity)}"
    return Cap(
        DenyReason.MAX_POSITION,
        limit / spot.price - held,
        name,
        lambda q: f"position notional {fmt((held + q) * spot.price)} > {name}",
    )


def closing_cap(reason: DenyReason, book: ExposureBook, spot: OrderSpot) -> Cap:
    """At most what is left of the strategy's position after its working closing orders."""
    closable = book.closable(spot.strategy_id, spot.symbol, spot.side)
    position = book.position(spot.strategy_id, spot.symbol)
    return Cap(
        reason,
        closable,
        f"closable {fmt(closable)} of position {fmt(position)}",
        lambda q: (
            f"{spot.side.value} {fmt(q)} exceeds closable {fmt(closable)} "
            f"of position {fmt(position)} in {spot.symbol}"
        ),
    )


def no_increase_cap(reason: DenyReason, book: ExposureBook, spot: OrderSpot) -> Cap:
    """The symbol's worst-case absolute position across strategies must not grow."""
    held = book.directional(spot.symbol, spot.side)
    worst = book.worst(spot.symbol)
    return Cap(
        reason,
        worst - held,
        f"worst-case exposure {fmt(worst)} in {spot.symbol}",
        lambda q: (
            f"{spot.side.value} {fmt(q)} would raise worst-case {spot.symbol} "
            f"exposure from {fmt(worst)} to {fmt(held + q)}"
        ),
    )


def _order_quantity_cap(limit: Decimal) -> Cap:
    name = f"max_order_quantity {fmt(limit)}"
    return Cap(DenyReason.MAX_ORDER_QUANTITY, limit, name, lambda q: f"quantity {fmt(q)} > {name}")


def _order_notional_cap(limit: Decimal, price: Decimal) -> Cap:
    name = f"max_order_notional {fmt(limit)}"
    return Cap(
        DenyReason.MAX_ORDER_NOTIONAL,
        limit / price,
        name,
        lambda q: f"notional {fmt(q * price)} ({fmt(q)} at {fmt(price)}) > {name}",
    )


def _position_cap(limit: Decimal, book: ExposureBook, spot: OrderSpot) -> Cap:
    held = book.directional(spot.symbol, spot.side)
    name = f"max_position_quantity {fmt(limit)}"
    return Cap(
        DenyReason.MAX_POSITION,
        limit - held,
        name,
        lambda q: (
            f"position {fmt(held + q)} in {spot.symbol} > {name} "
            f"(held {fmt(held)} incl. working orders, order {fmt(q)})"
        ),
    )


def _gross_cap(
    limit: Decimal, book: ExposureBook, spot: OrderSpot, mark: Callable[[str], Decimal]
) -> Cap:
    gross = book.gross(mark)
    held = book.directional(spot.symbol, spot.side)
    worst = book.worst(spot.symbol)
    name = f"max_gross_exposure {fmt(limit)}"

    def explain(q: Decimal) -> str:
        after = gross + spot.price * (max(held + q, worst) - worst)
        return f"gross exposure {fmt(after)} > {name} (now {fmt(gross)})"

    headroom = max(limit - gross, ZERO) / spot.price
    return Cap(DenyReason.MAX_GROSS_EXPOSURE, headroom + worst - held, name, explain)
