"""A risk manager on a hand-driven market: builds events with one stamper and feeds them in."""

from __future__ import annotations

from decimal import Decimal
from itertools import count
from typing import Any

from tickmesh.core.stamp import Stamper
from tickmesh.model import (
    Bar,
    Command,
    CommandType,
    Event,
    Fill,
    Instrument,
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    PortfolioSnapshot,
    Side,
    Signal,
    Tick,
)
from tickmesh.risk import RiskLimits, RiskManager

SYMBOL = "BTC-USD"
OTHER = "ETH-USD"
T0 = 1_700_000_000_000_000_000
MINUTE_NS = 60_000_000_000
INCREMENT = Decimal("0.0001")


def open_limits(**overrides: Any) -> RiskLimits:
    """Every check switched off except the ones the test names."""
    settings: dict[str, Any] = {
        "max_open_positions": None,
        "price_band_pct": None,
        "duplicate_window_ns": 0,
        "max_orders_per_window": None,
        "stale_after_ns": None,
        "max_position_pct_of_equity": None,
        "reduce_at_drawdown_pct": None,
        "halt_at_drawdown_pct": None,
    }
    settings.update(overrides)
    return RiskLimits(**settings)


class Desk:
    """Drives one :class:`RiskManager` with ticks, bars, signals, fills, snapshots, commands."""

    def __init__(
        self, limits: RiskLimits | None = None, instruments: dict[str, Instrument] | None = None
    ) -> None:
        self.feed = Stamper.deterministic("test-feed", "paper")
        self.risk = RiskManager(
            limits or open_limits(),
            Stamper.deterministic("risk", "paper"),
            instruments,
            Instrument(symbol="*", size_increment=INCREMENT),
        )
        self.now = T0
        self._fill_ids = count(1)
        self._last: dict[str, float] = {}

    def tick(self, price: float, symbol: str = SYMBOL, ts: int | None = None) -> list[Event]:
        self._last[symbol] = price
        return self.risk.on_tick(
            Tick(**self.feed(self.now if ts is None else ts), symbol=symbol, price=price, size=1.0)
        )

    def bar(self, high: float, low: float, close: float, timeframe: str = "1m") -> list[Event]:
        self.now += MINUTE_NS
        self._last[SYMBOL] = close
        return self.risk.on_bar(
            Bar(
                **self.feed(self.now),
                symbol=SYMBOL,
                timeframe=timeframe,
                ts_open=self.now - MINUTE_NS,
                open=close,
                high=high,
                low=low,
                close=close,
                volume=1.0,
            )
        )

    def signal(self, side: Side = Side.BUY, **fields: Any) -> Event:
        """One signal; returns the single event risk answered with."""
        fields.setdefault("symbol", SYMBOL)
        fields.setdefault("strategy_id", "s1")
        fields.setdefault("timeframe", "1m")
        fields.setdefault("price", self._last.get(fields["symbol"], 100.0))
        quantity = fields.get("quantity")
        if quantity is not None:
            fields["quantity"] = Decimal(quantity)
        ts = fields.pop("ts", self.now)
        correlation_id = fields.pop("correlation_id", "")
        signal = Signal(**self.feed(ts, correlation_id), strategy="test", side=side, **fields)
        events = self.risk.on_signal(signal)
        assert len(events) == 1
        return events[0]

    def intent(self, side: Side = Side.BUY, **fields: Any) -> OrderIntent:
        event = self.signal(side, **fields)
        assert isinstance(event, OrderIntent), event
        return event

    def denied(self, side: Side = Side.BUY, **fields: Any) -> OrderDenied:
        event = self.signal(side, **fields)
        assert isinstance(event, OrderDenied), event
        return event

    def fill(
        self,
        side: Side,
        quantity: str,
        price: str = "100",
        symbol: str = SYMBOL,
        strategy_id: str = "s1",
        order_id: str = "",
    ) -> list[Event]:
        """A complete fill of an order (an external one unless ``order_id`` names an intent)."""
        order_id = order_id or f"ext-{next(self._fill_ids)}"
        fill = self.make_fill(side, quantity, price, symbol, strategy_id, order_id)
        return self.risk.on_order_event(
            OrderFilled(
                **self.feed(self.now),
                order_id=order_id,
                strategy_id=strategy_id,
                symbol=symbol,
                side=side,
                fill=fill,
                filled_quantity=Decimal(quantity),
            )
        )

    def partial_fill(self, intent: OrderIntent, quantity: str, leaves: str) -> list[Event]:
        fill = self.make_fill(
            intent.side, quantity, "100", intent.symbol, intent.strategy_id, intent.order_id
        )
        return self.risk.on_order_event(
            OrderPartiallyFilled(
                **self.feed(self.now),
                order_id=intent.order_id,
                strategy_id=intent.strategy_id,
                symbol=intent.symbol,
                side=intent.side,
                fill=fill,
                filled_quantity=Decimal(quantity),
                leaves_quantity=Decimal(leaves),
            )
        )

    def accept(self, intent: OrderIntent) -> list[Event]:
        return self.risk.on_order_event(
            OrderAccepted(**self._order_fields(intent), quantity=intent.quantity)
        )

    def cancel(self, intent: OrderIntent) -> list[Event]:
        return self.risk.on_order_event(OrderCanceled(**self._order_fields(intent)))

    def make_fill(
        self, side: Side, quantity: str, price: str, symbol: str, strategy_id: str, order_id: str
    ) -> Fill:
        return Fill(
            **self.feed(self.now),
            fill_id=f"f{next(self._fill_ids)}",
            order_id=order_id,
            strategy_id=strategy_id,
            symbol=symbol,
            side=side,
            quantity=Decimal(quantity),
            price=Decimal(price),
        )

    def equity(self, value: str, strategy_id: str = "") -> list[Event]:
        equity = Decimal(value)
        return self.risk.on_portfolio(
            PortfolioSnapshot(
                **self.feed(self.now),
                strategy_id=strategy_id,
                cash=equity,
                equity=equity,
                realized_pnl=Decimal(0),
                unrealized_pnl=Decimal(0),
                fees=Decimal(0),
                gross_exposure=Decimal(0),
                net_exposure=Decimal(0),
                open_positions=0,
            )
        )

    def command(self, command: CommandType, **args: str) -> list[Event]:
        return self.risk.on_command(Command(**self.feed(self.now), command=command, args=args))

    def _order_fields(self, intent: OrderIntent) -> dict[str, Any]:
        return {
            **self.feed(self.now),
            "order_id": intent.order_id,
            "strategy_id": intent.strategy_id,
            "symbol": intent.symbol,
            "side": intent.side,
        }
