"""The paper venue: accepts order intents and fills them against market data, purely.

Intents, ticks and bars go in, order events come out; no clock, no I/O. Working orders are
matched in acceptance order, so the same inputs always give the same events (and, with a
deterministic stamper, the same ids).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_UP, Decimal
from typing import Any

import msgspec

from tickmesh.core.decimal import ZERO, quantize
from tickmesh.core.stamp import Stamper
from tickmesh.execution.account import AccountState, PaperAccount
from tickmesh.execution.config import PaperConfig
from tickmesh.execution.orders import OpenOrder, WorkingOrder
from tickmesh.execution.pricing import (
    MarketTouch,
    estimated_cost,
    fee,
    fill_price,
    fillable_quantity,
    market_price,
    touch_from_bar,
    touch_from_tick,
)
from tickmesh.model.enums import OrderType, Side
from tickmesh.model.events import (
    Bar,
    Event,
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    OrderRejected,
    Tick,
)
from tickmesh.model.instrument import Instrument
from tickmesh.model.marks import Marks

DEFAULT_INSTRUMENT = Instrument(symbol="")


class PaperMatchingEngine:
    """Simulated venue with fees, slippage, partial fills and latency (see :class:`PaperConfig`).

    Fills travel inside ``OrderPartiallyFilled`` / ``OrderFilled``; there is no separate ``Fill``
    event. Fill ids are ``f"{order_id}-{n}"``, n counting from 1 per order. Every order event and
    fill carries the intent's ``correlation_id``; fills and fill events are stamped with the
    matching market data's ``ts_event``. A re-sent ``order_id`` (working, done or rejected) is
    ignored. Buys are checked against available cash with :func:`estimated_cost`; a market order
    that later trades above its reference price may take the account slightly below that estimate.
    """

    def __init__(
        self,
        config: PaperConfig,
        stamper: Stamper,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        default_instrument: Instrument = DEFAULT_INSTRUMENT,
        starting_cash: Decimal,
    ) -> None:
        self._config = config
        self._stamp = stamper
        self._instruments = dict(instruments or {})
        self._default_instrument = default_instrument
        self._account = PaperAccount(starting_cash)
        self._working: dict[str, WorkingOrder] = {}
        self._seen: set[str] = set()
        self._last_price = Marks(self.instrument)

    def instrument(self, symbol: str) -> Instrument:
        return self._instruments.get(symbol, self._default_instrument)

    # --- orders ---------------------------------------------------------------------------

    def on_intent(self, intent: OrderIntent) -> list[Event]:
        """``OrderAccepted`` or ``OrderRejected``; ``[]`` for an order id seen before."""
        if intent.order_id in self._seen:
            return []
        self._seen.add(intent.order_id)
        reason = self._rejection(intent)
        if reason is not None:
            return [OrderRejected(**self._fields(intent, intent.ts_event), reason=reason)]
        self._working[intent.order_id] = self._working_order(intent)
        accepted = OrderAccepted(
            **self._fields(intent, intent.ts_event),
            quantity=intent.quantity,
            order_type=intent.order_type,
            limit_price=intent.limit_price,
        )
        return [accepted]

    def cancel(self, order_id: str, ts_event: int, reason: str = "CANCELED") -> list[Event]:
        """``OrderCanceled`` for a working order; ``[]`` when it is unknown or already done."""
        order = self._working.pop(order_id, None)
        if order is None:
            return []
        fields = self._fields(order.intent, ts_event)
        return [OrderCanceled(**fields, filled_quantity=order.filled_quantity, reason=reason)]

    def cancel_all(self, ts_event: int, reason: str) -> list[Event]:
        return [
            event for oid in list(self._working) for event in self.cancel(oid, ts_event, reason)
        ]

    # --- market data ----------------------------------------------------------------------

    @property
    def working_orders(self) -> int:
        return len(self._working)

    def fast_forward(self, symbol: str, last: float) -> None:
        """The state after market events on ``symbol`` ending at price ``last``, with no
        working order to match (a replay checks): only the last price moves."""
        self._last_price.set(symbol, last)

    def on_tick(self, tick: Tick) -> list[Event]:
        return self._on_touch(touch_from_tick(tick), self._config.matches_ticks)

    def on_bar(self, bar: Bar) -> list[Event]:
        return self._on_touch(touch_from_bar(bar), self._config.matches_bars)

    # --- account --------------------------------------------------------------------------

    def account(self) -> AccountState:
        return self._account.state(self._reserved_cash())

    def open_orders(self) -> tuple[OpenOrder, ...]:
        """Working orders in acceptance order, in the form :meth:`restore` takes back."""
        return tuple(order.frozen() for order in self._working.values())

    def restore(
        self,
        cash: Decimal,
        positions: Mapping[str, Decimal],
        open_orders: Iterable[OpenOrder] = (),
        known_order_ids: Iterable[str] = (),
    ) -> None:
        """Rebuild after a restart; ``known_order_ids`` are finished orders to keep ignoring."""
        self._account = PaperAccount(cash, positions)
        self._working = {}
        for saved in open_orders:
            order = self._working_order(saved.intent)
            order.filled_quantity = saved.filled_quantity
            order.fill_count = saved.fill_count
            self._working[order.order_id] = order
        self._seen = set(self._working) | set(known_order_ids)

    # --- internals ------------------------------------------------------------------------

    def _fields(self, intent: OrderIntent, ts_event: int) -> dict[str, Any]:
        return {
            **self._stamp(ts_event, intent.correlation_id),
            "order_id": intent.order_id,
            "strategy_id": intent.strategy_id,
            "symbol": intent.symbol,
            "side": intent.side,
        }

    def _working_order(self, intent: OrderIntent) -> WorkingOrder:
        return WorkingOrder(
            intent=intent,
            live_at=intent.ts_event + self._config.latency_ns,
            reference_price=self._reference_price(intent) or ZERO,
        )

    def _reference_price(self, intent: OrderIntent) -> Decimal | None:
        if intent.order_type is OrderType.LIMIT and intent.limit_price is not None:
            return intent.limit_price
        if intent.ref_price > 0:
            return market_price(self.instrument(intent.symbol), intent.ref_price)
        return self._last_price.find(intent.symbol)

    def _rejection(self, intent: OrderIntent) -> str | None:
        if intent.equity_fraction is not None:
            return self._invalid(intent) or _invalid_fraction(intent.equity_fraction)
        return (
            self._invalid(intent)
            or self._cash_shortfall(intent)
            or self._position_shortfall(intent)
        )

    def _invalid(self, intent: OrderIntent) -> str | None:
        instrument = self.instrument(intent.symbol)
        qty = intent.quantity
        if qty <= 0 or qty < instrument.min_size or instrument.floor_size(qty) != qty:
            return f"INVALID_QUANTITY {qty} (size increment {instrument.size_increment})"
        limit = intent.limit_price
        if intent.order_type is OrderType.LIMIT and (limit is None or limit <= 0):
            return f"INVALID_PRICE limit order needs a positive limit_price, got {limit}"
        return None

    def _cash_shortfall(self, intent: OrderIntent) -> str | None:
        if intent.side is Side.SELL:
            return None
        price = self._reference_price(intent)
        if price is None:
            return "NO_REFERENCE_PRICE no ref_price and no market data seen to price the buy"
        cost = self._estimate(intent.quantity, price)
        available = self._account.cash - self._reserved_cash()
        if cost <= available:
            return None
        increment = self.instrument(intent.symbol).price_increment
        return (
            f"INSUFFICIENT_CASH needs {quantize(cost, increment, ROUND_UP)}, available {available}"
        )

    def _position_shortfall(self, intent: OrderIntent) -> str | None:
        if intent.side is Side.BUY or self._config.allow_short:
            return None
        selling = sum(
            (o.leaves for o in self._working.values() if _is_sell_of(o, intent.symbol)), ZERO
        )
        available = self._account.position(intent.symbol) - selling
        if intent.quantity <= available:
            return None
        return f"INSUFFICIENT_POSITION sells {intent.quantity}, available {available}"

    def _estimate(self, quantity: Decimal, price: Decimal) -> Decimal:
        return estimated_cost(quantity, price, self._config.fee_rate, self._config.slippage_rate)

    def _reserved_cash(self, besides: WorkingOrder | None = None) -> Decimal:
        """What working buys hold back; an all-in order not yet sized holds nothing."""
        buys = (
            o
            for o in self._working.values()
            if o.intent.side is Side.BUY and o is not besides and o.intent.equity_fraction is None
        )
        return sum((self._estimate(o.leaves, o.reference_price) for o in buys), ZERO)

    def _on_touch(self, touch: MarketTouch, matches: bool) -> list[Event]:
        instrument = self.instrument(touch.symbol)
        self._last_price.set(touch.symbol, touch.last)
        if not matches:
            return []
        events: list[Event] = []
        for order in list(self._working.values()):
            if order.intent.symbol == touch.symbol and touch.ts_live >= order.live_at:
                events.extend(self._try_fill(order, touch, instrument))
        return events

    def _try_fill(
        self, order: WorkingOrder, touch: MarketTouch, instrument: Instrument
    ) -> list[Event]:
        intent = order.intent
        price = fill_price(
            order_type=intent.order_type,
            side=intent.side,
            limit=intent.limit_price,
            touch=touch,
            instrument=instrument,
            slippage_rate=self._config.slippage_rate,
        )
        if price is None:
            return []
        if intent.equity_fraction is not None:
            return self._size_all_in(order, touch, instrument, price)
        quantity = fillable_quantity(
            order.leaves, touch.volume, self._config.participation, instrument
        )
        if quantity <= 0:
            return []
        fill = self._make_fill(order, quantity, price, touch.ts_event, instrument)
        self._account.apply(fill)
        order.filled_quantity += quantity
        return [self._fill_event(order, fill)]

    def _size_all_in(
        self, order: WorkingOrder, touch: MarketTouch, instrument: Instrument, price: Decimal
    ) -> list[Event]:
        """Turn an all-in order into a sized one at its first fill price, then fill it; with
        too little cash for one increment it is canceled (as backtesting.py's broker does)."""
        intent = order.intent
        assert intent.equity_fraction is not None
        available = self._account.cash - self._reserved_cash(besides=order)
        budget = min(available, self._equity() * intent.equity_fraction)
        quantity = instrument.floor_size(budget / (price * (1 + self._config.fee_rate)))
        if quantity <= 0 or quantity < instrument.min_size:
            del self._working[order.order_id]
            reason = f"INSUFFICIENT_CASH {budget} buys no {intent.symbol} at {price}"
            fields = self._fields(intent, touch.ts_event)
            return [OrderCanceled(**fields, filled_quantity=ZERO, reason=reason)]
        order.intent = msgspec.structs.replace(intent, quantity=quantity, equity_fraction=None)
        return self._try_fill(order, touch, instrument)

    def _equity(self) -> Decimal:
        """Cash plus positions at their last prices (a position never priced counts as 0)."""
        positions = self._account.positions.items()
        return self._account.cash + sum(
            (qty * self._last_price.get(symbol, ZERO) for symbol, qty in positions), ZERO
        )

    def _make_fill(
        self,
        order: WorkingOrder,
        quantity: Decimal,
        price: Decimal,
        ts_event: int,
        instrument: Instrument,
    ) -> Fill:
        intent = order.intent
        return Fill(
            **self._stamp(ts_event, intent.correlation_id),
            fill_id=order.next_fill_id(),
            order_id=intent.order_id,
            strategy_id=intent.strategy_id,
            symbol=intent.symbol,
            side=intent.side,
            quantity=quantity,
            price=price,
            fee=fee(quantity * price, self._config.fee_rate, instrument),
        )

    def _fill_event(self, order: WorkingOrder, fill: Fill) -> Event:
        fields = self._fields(order.intent, fill.ts_event)
        if order.leaves > 0:
            return OrderPartiallyFilled(
                **fields,
                fill=fill,
                filled_quantity=order.filled_quantity,
                leaves_quantity=order.leaves,
            )
        del self._working[order.order_id]
        return OrderFilled(**fields, fill=fill, filled_quantity=order.filled_quantity)


def _invalid_fraction(fraction: Decimal) -> str | None:
    if fraction.is_finite() and 0 < fraction <= 1:
        return None
    return f"INVALID_QUANTITY equity_fraction must be in (0, 1], got {fraction}"


def _is_sell_of(order: WorkingOrder, symbol: str) -> bool:
    return order.intent.side is Side.SELL and order.intent.symbol == symbol
