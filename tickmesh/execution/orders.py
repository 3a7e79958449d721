"""Orders resting in the paper engine, and the frozen form they are persisted and restored in."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import msgspec

from tickmesh.core.decimal import ZERO
from tickmesh.model.events import OrderIntent


class OpenOrder(msgspec.Struct, frozen=True, kw_only=True):
    """A working order as saved across a restart.

    ``fill_count`` keeps fill ids continuing where they stopped (``{order_id}-{n}``), so fills
    after a restart never reuse an id.
    """

    intent: OrderIntent
    filled_quantity: Decimal = ZERO
    fill_count: int = 0


@dataclass(slots=True)
class WorkingOrder:
    """An accepted order that has not finished; only the engine mutates it.

    ``reference_price`` prices the cash a working buy holds back from new orders.
    """

    intent: OrderIntent
    live_at: int
    reference_price: Decimal
    filled_quantity: Decimal = ZERO
    fill_count: int = 0

    @property
    def order_id(self) -> str:
        return self.intent.order_id

    @property
    def leaves(self) -> Decimal:
        return self.intent.quantity - self.filled_quantity

    def next_fill_id(self) -> str:
        self.fill_count += 1
        return f"{self.intent.order_id}-{self.fill_count}"

    def frozen(self) -> OpenOrder:
        return OpenOrder(
            intent=self.intent, filled_quantity=self.filled_quantity, fill_count=self.fill_count
        )
