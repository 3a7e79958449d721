"""One strategy's holding in one symbol, kept at average cost in exact Decimal.

The position stores its signed cost basis rather than its average price, so nothing is lost to
division: ``cash_flow == realized_pnl - cost`` holds exactly after any sequence of fills. The only
rounding is the share of cost taken out by a *partial* reduction, rounded half-even to the
instrument's notional grid (price increment x size increment) and charged to realized PnL; a
reduction to zero removes the whole cost, so a flat position carries no residue.
"""

from __future__ import annotations

from decimal import Decimal

from tickmesh.core.decimal import ZERO, quantize
from tickmesh.model.enums import Side
from tickmesh.model.instrument import Instrument


class Position:
    """Long (quantity > 0) or short (< 0). Realized PnL is net of fees: every fee is charged to it
    when paid, so ``realized + unrealized == cash_flow + quantity x mark``."""

    __slots__ = (
        "cash_flow",
        "cost",
        "fees",
        "instrument",
        "quantity",
        "realized_pnl",
        "strategy_id",
        "symbol",
    )

    def __init__(self, strategy_id: str, symbol: str, instrument: Instrument) -> None:
        self.strategy_id = strategy_id
        self.symbol = symbol
        self.instrument = instrument
        self.quantity = ZERO
        self.cost = ZERO
        self.realized_pnl = ZERO
        self.fees = ZERO
        self.cash_flow = ZERO

    @property
    def is_open(self) -> bool:
        return self.quantity != 0

    @property
    def avg_price(self) -> Decimal:
        """Cost per unit on the notional grid; zero when flat."""
        if not self.quantity:
            return ZERO
        return quantize(self.cost / self.quantity, self._cost_increment)

    def market_value(self, mark: Decimal) -> Decimal:
        return self.quantity * mark

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return self.quantity * mark - self.cost

    def apply(self, side: Side, quantity: Decimal, price: Decimal, fee: Decimal) -> None:
        """Book a fill: reduce (realizing PnL) up to zero, then open any remainder at ``price``."""
        signed = side.sign * quantity
        self.cash_flow -= signed * price + fee
        self.fees += fee
        self.realized_pnl -= fee
        if self.quantity and (self.quantity > 0) != (signed > 0):
            closing = -self.quantity if abs(signed) >= abs(self.quantity) else signed
            self._reduce(closing, price)
            signed -= closing
        self.quantity += signed
        self.cost += signed * price

    def _reduce(self, closing: Decimal, price: Decimal) -> None:
        if closing == -self.quantity:
            removed = self.cost
        else:
            removed = quantize(self.cost * -closing / self.quantity, self._cost_increment)
        self.realized_pnl += -closing * price - removed
        self.cost -= removed
        self.quantity += closing

    @property
    def _cost_increment(self) -> Decimal:
        return self.instrument.price_increment * self.instrument.size_increment
