"""The paper venue's own account: cash and net position per symbol, moved only by its fills."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from tickmesh.core.decimal import ZERO
from tickmesh.model.events import Fill


class AccountState(msgspec.Struct, frozen=True, kw_only=True):
    """A read-only copy of the account. ``available_cash`` is cash minus what working buys hold."""

    cash: Decimal
    available_cash: Decimal
    positions: dict[str, Decimal]


class PaperAccount:
    """Cash and signed positions; a position that reaches zero is removed."""

    __slots__ = ("cash", "positions")

    def __init__(self, cash: Decimal, positions: Mapping[str, Decimal] | None = None) -> None:
        self.cash = cash
        self.positions: dict[str, Decimal] = {s: q for s, q in (positions or {}).items() if q}

    def position(self, symbol: str) -> Decimal:
        return self.positions.get(symbol, ZERO)

    def apply(self, fill: Fill) -> None:
        signed = fill.side.sign * fill.quantity
        self.cash -= signed * fill.price + fill.fee
        quantity = self.position(fill.symbol) + signed
        if quantity:
            self.positions[fill.symbol] = quantity
        else:
            self.positions.pop(fill.symbol, None)

    def state(self, reserved_cash: Decimal) -> AccountState:
        return AccountState(
            cash=self.cash,
            available_cash=self.cash - reserved_cash,
            positions=dict(sorted(self.positions.items())),
        )
