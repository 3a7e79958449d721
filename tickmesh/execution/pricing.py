"""Pure fill arithmetic of the paper venue: where an order trades, how much, and what it costs.

Ticks and bars both become a :class:`MarketTouch`; a tick is a bar whose open, high and low are
its price. Market data is float and is converted with ``to_decimal`` and rounded to the
instrument's price increment before any money arithmetic.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal
from typing import NamedTuple

from tickmesh.core.decimal import ZERO, quantize, to_decimal
from tickmesh.model.enums import OrderType, Side
from tickmesh.model.events import Bar, Tick
from tickmesh.model.instrument import Instrument

_ONE = Decimal(1)


class MarketTouch(NamedTuple):
    """One piece of market data as the matcher sees it.

    ``ts_live`` is compared with an order's live time: a tick's ``ts_event``, but a bar's
    ``ts_open``, so a fill at a bar's open never uses a price from before the order was live.
    """

    symbol: str
    ts_event: int
    ts_live: int
    open: float
    high: float
    low: float
    last: float
    volume: float


def touch_from_tick(tick: Tick) -> MarketTouch:
    p = tick.price
    return MarketTouch(tick.symbol, tick.ts_event, tick.ts_event, p, p, p, p, tick.size)


def touch_from_bar(bar: Bar) -> MarketTouch:
    return MarketTouch(
        bar.symbol, bar.ts_event, bar.ts_open, bar.open, bar.high, bar.low, bar.close, bar.volume
    )


def market_price(instrument: Instrument, value: float) -> Decimal:
    return instrument.round_price(to_decimal(value))


def slipped(price: Decimal, side: Side, slippage_rate: Decimal) -> Decimal:
    """A buy pays ``price x (1 + rate)``, a sell receives ``price x (1 - rate)`` (unrounded)."""
    return price * (_ONE + side.sign * slippage_rate)


def fill_price(
    *,
    order_type: OrderType,
    side: Side,
    limit: Decimal | None,
    touch: MarketTouch,
    instrument: Instrument,
    slippage_rate: Decimal,
) -> Decimal | None:
    """The price an order trades at on ``touch``, or ``None`` when it does not trade.

    Market orders take the open with slippage. A buy limit trades when the low reaches it, at
    the better of open and limit; a sell limit mirrors that on the high. Limits get no slippage.
    """
    open_ = market_price(instrument, touch.open)
    if order_type is OrderType.MARKET or limit is None:
        return instrument.round_price(slipped(open_, side, slippage_rate))
    if side is Side.BUY:
        return min(open_, limit) if market_price(instrument, touch.low) <= limit else None
    return max(open_, limit) if market_price(instrument, touch.high) >= limit else None


def fee(notional: Decimal, fee_rate: Decimal, instrument: Instrument) -> Decimal:
    """``notional x fee_rate`` rounded up to the price increment: a fee is never under-charged."""
    if fee_rate == 0:
        return ZERO
    return quantize(notional * fee_rate, instrument.price_increment, ROUND_UP)


def fillable_quantity(
    leaves: Decimal, volume: float, participation: Decimal | None, instrument: Instrument
) -> Decimal:
    """How much of ``leaves`` may trade on data with ``volume``.

    Without a cap everything trades; with one, at most ``participation x volume`` floored to the
    size increment, so zero volume fills nothing.
    """
    if participation is None:
        return leaves
    cap = instrument.floor_size(participation * to_decimal(max(volume, 0.0)))
    return min(leaves, cap)


def estimated_cost(
    quantity: Decimal, price: Decimal, fee_rate: Decimal, slippage_rate: Decimal
) -> Decimal:
    """Cash a buy may need: ``qty x price x (1 + slippage)`` plus the fee on that notional."""
    notional = quantity * price * (_ONE + slippage_rate)
    return notional * (_ONE + fee_rate)
