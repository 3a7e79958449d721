"""The shape every position record shares, whatever holds it (a snapshot event, a stored row,
the ledger's own position): what the start-up check compares and the store writes."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol


class PositionLike(Protocol):
    @property
    def strategy_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def avg_price(self) -> Decimal: ...
    @property
    def realized_pnl(self) -> Decimal: ...
