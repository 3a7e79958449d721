"""Positions and working orders as the risk manager sees them, from the order event stream.

Exposure is measured worst-case: a symbol's buy-side exposure is its net position plus every
working buy, its sell-side exposure the short position plus every working sell, as if all the
orders on one side filled and none on the other. Checks that use it cannot be outrun by orders
in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from tickmesh.core.decimal import ZERO
from tickmesh.model.enums import Side
from tickmesh.model.events import (
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderFailed,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
)

_MEMORY = 10_000
K = TypeVar("K")


@dataclass(slots=True)
class WorkingOrder:
    order_id: str
    strategy_id: str
    symbol: str
    side: Side
    leaves: Decimal


class _RecentSet:
    """Remembers the last ``size`` keys, so redelivered events are recognised cheaply."""

    def __init__(self, size: int = _MEMORY) -> None:
        self._size = size
        self._keys: dict[str, None] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        self._keys[key] = None
        if len(self._keys) > self._size:
            del self._keys[next(iter(self._keys))]


class ExposureBook:
    """Signed positions per (strategy, symbol) and per symbol, and open quantity per order.

    Fills are applied once per ``fill_id``; an order event for an order already finished
    (filled, canceled, rejected, failed) does not bring it back.
    """

    def __init__(self) -> None:
        self._positions: dict[tuple[str, str], Decimal] = {}
        self._net: dict[str, Decimal] = {}
        self._working: dict[str, WorkingOrder] = {}
        self._fill_price: dict[str, Decimal] = {}
        self._seen_fills = _RecentSet()
        self._finished = _RecentSet()

    # --- updates ------------------------------------------------------------------------------

    def add_working(self, order: WorkingOrder) -> None:
        self._working[order.order_id] = order

    def on_order_event(self, ev: OrderEvent) -> None:
        if ev.order_id in self._finished:
            if isinstance(ev, OrderFilled | OrderPartiallyFilled):
                self._apply_fill(ev.fill)
            return
        if isinstance(ev, OrderAccepted):
            self._accept(ev)
        elif isinstance(ev, OrderPartiallyFilled):
            self._apply_fill(ev.fill)
            self._set_leaves(ev, ev.leaves_quantity)
        elif isinstance(ev, OrderFilled):
            self._apply_fill(ev.fill)
            self._finish(ev.order_id)
        elif isinstance(ev, OrderCanceled | OrderRejected | OrderFailed):
            self._finish(ev.order_id)

    def restore(
        self, positions: Iterable[tuple[str, str, Decimal]], working: Iterable[WorkingOrder]
    ) -> None:
        """Replace positions and working orders with persisted ones."""
        self._positions.clear()
        self._net.clear()
        self._working.clear()
        for strategy_id, symbol, quantity in positions:
            self._add_position(strategy_id, symbol, quantity)
        for order in working:
            self.add_working(order)

    def _accept(self, ev: OrderAccepted) -> None:
        known = self._working.get(ev.order_id)
        leaves = ev.quantity if known is None else min(known.leaves, ev.quantity)
        self._set_leaves(ev, leaves)

    def _set_leaves(self, ev: OrderEvent, leaves: Decimal) -> None:
        if leaves <= 0:
            self._finish(ev.order_id)
            return
        self._working[ev.order_id] = WorkingOrder(
            ev.order_id, ev.strategy_id, ev.symbol, ev.side, leaves
        )

    def _finish(self, order_id: str) -> None:
        self._working.pop(order_id, None)
        self._finished.add(order_id)

    def _apply_fill(self, fill: Fill) -> None:
        key = f"{fill.order_id}/{fill.fill_id}"
        if key in self._seen_fills:
            return
        self._seen_fills.add(key)
        self._fill_price[fill.symbol] = fill.price
        self._add_position(fill.strategy_id, fill.symbol, fill.side.sign * fill.quantity)

    def _add_position(self, strategy_id: str, symbol: str, delta: Decimal) -> None:
        _add(self._positions, (strategy_id, symbol), delta)
        _add(self._net, symbol, delta)

    # --- queries ------------------------------------------------------------------------------

    def position(self, strategy_id: str, symbol: str) -> Decimal:
        return self._positions.get((strategy_id, symbol), ZERO)

    def net(self, symbol: str) -> Decimal:
        return self._net.get(symbol, ZERO)

    def positions(self) -> list[tuple[str, str, Decimal]]:
        return [(sid, sym, qty) for (sid, sym), qty in sorted(self._positions.items())]

    def working_orders(self) -> list[WorkingOrder]:
        return list(self._working.values())

    def fill_price(self, symbol: str) -> Decimal | None:
        return self._fill_price.get(symbol)

    def working(self, symbol: str, side: Side, strategy_id: str | None = None) -> Decimal:
        return sum(
            (
                o.leaves
                for o in self._working.values()
                if o.symbol == symbol
                and o.side is side
                and (strategy_id is None or o.strategy_id == strategy_id)
            ),
            ZERO,
        )

    def directional(self, symbol: str, side: Side) -> Decimal:
        """Exposure in ``side``'s direction if every working order on that side filled."""
        return side.sign * self.net(symbol) + self.working(symbol, side)

    def worst(self, symbol: str) -> Decimal:
        """Largest absolute position the symbol can reach through its working orders."""
        return max(self.directional(symbol, Side.BUY), self.directional(symbol, Side.SELL))

    def symbols(self) -> set[str]:
        """Symbols with a position or a working order: what counts as open."""
        return set(self._net) | {o.symbol for o in self._working.values()}

    def gross(self, mark: Callable[[str], Decimal]) -> Decimal:
        return sum((self.worst(s) * mark(s) for s in self.symbols()), ZERO)

    def closable(self, strategy_id: str, symbol: str, side: Side) -> Decimal:
        """How much of the strategy's position an order on ``side`` may still close."""
        position = self.position(strategy_id, symbol)
        if side.sign * position >= 0:
            return ZERO
        return max(abs(position) - self.working(symbol, side, strategy_id), ZERO)


def _add(table: dict[K, Decimal], key: K, delta: Decimal) -> None:
    value = table.get(key, ZERO) + delta
    if value == 0:
        table.pop(key, None)
    else:
        table[key] = value
