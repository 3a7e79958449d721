"""What the ledger needs to know about a tradable symbol: its price and size increments."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tickmesh.core.decimal import floor_to, quantize


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    price_increment: Decimal = Decimal("0.00001")
    size_increment: Decimal = Decimal("0.0001")
    min_size: Decimal = Decimal(0)

    def round_price(self, price: Decimal) -> Decimal:
        return quantize(price, self.price_increment)

    def floor_size(self, size: Decimal) -> Decimal:
        return floor_to(size, self.size_increment)
