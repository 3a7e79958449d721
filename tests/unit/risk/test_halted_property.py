"""No sequence of inputs gets an order past a HALTED risk manager, nor a growing one past REDUCING.

A hypothesis state machine throws commands, signals, ticks, fills, cancels and portfolio
snapshots at one manager in any order and checks every answer against the state it was in.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tickmesh.model import (
    CommandType,
    DenyReason,
    Event,
    OrderDenied,
    OrderIntent,
    RiskState,
    Side,
    TradingState,
)

from .support import Desk, open_limits

SYMBOL_NAMES = ("BTC-USD", "ETH-USD", "SOL-USD")
SYMBOLS = st.sampled_from(SYMBOL_NAMES)
STRATEGIES = st.sampled_from(["a", "b"])
SIDES = st.sampled_from([Side.BUY, Side.SELL])
QUANTITIES = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(50), places=4)
EQUITIES = st.decimals(min_value=Decimal(75000), max_value=Decimal(105000), places=2)
COMMANDS = st.sampled_from(
    [CommandType.HALT, CommandType.RESUME, CommandType.SET_STATE, CommandType.SET_STATE]
) | st.sampled_from(list(CommandType))


class RiskMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.desk = Desk(
            open_limits(
                max_order_quantity=Decimal(40),
                max_position_quantity=Decimal(60),
                max_gross_exposure=Decimal(20000),
                max_open_positions=2,
                price_band_pct=0.1,
                duplicate_window_ns=5,
                max_orders_per_window=6,
                rate_window_ns=20,
                stale_after_ns=200,
                max_position_pct_of_equity=0.5,
                reduce_at_drawdown_pct=0.1,
                halt_at_drawdown_pct=0.2,
            )
        )
        self.intents: list[OrderIntent] = []
        self.prices = dict.fromkeys(SYMBOL_NAMES, 100.0)
        for symbol, price in self.prices.items():
            self.desk.tick(price, symbol=symbol)
        self.desk.equity("100000")

    @rule(step=st.integers(min_value=0, max_value=30))
    def advance_time(self, step: int) -> None:
        self.desk.now += step

    @rule(symbol=SYMBOLS, price=st.floats(min_value=50.0, max_value=150.0))
    def tick(self, symbol: str, price: float) -> None:
        self.prices[symbol] = price
        assert self.desk.tick(price, symbol=symbol) == []

    @rule(equity=EQUITIES)
    def portfolio(self, equity: Decimal) -> None:
        self._check_state_events(self.desk.equity(str(equity)))

    @rule(
        command=COMMANDS,
        state=st.sampled_from(["ACTIVE", "REDUCING", "HALTED", "bogus"]),
    )
    def command(self, command: CommandType, state: str) -> None:
        self._check_state_events(self.desk.command(command, state=state))

    @rule(
        symbol=SYMBOLS,
        strategy=STRATEGIES,
        side=SIDES,
        quantity=st.none() | QUANTITIES,
        reduce_only=st.booleans(),
        price_shift=st.floats(min_value=-0.11, max_value=0.11),
        wait=st.integers(min_value=0, max_value=8),
    )
    def signal(
        self,
        symbol: str,
        strategy: str,
        side: Side,
        quantity: Decimal | None,
        reduce_only: bool,
        price_shift: float,
        wait: int,
    ) -> None:
        self.desk.now += wait
        state = self.desk.risk.state
        book = self.desk.risk.book
        worst_before = book.worst(symbol)
        position_before = abs(book.position(strategy, symbol))
        event = self.desk.signal(
            side,
            symbol=symbol,
            strategy_id=strategy,
            quantity=None if quantity is None else str(quantity),
            reduce_only=reduce_only,
            price=self.prices[symbol] * (1 + price_shift),
        )
        assert isinstance(event, OrderIntent | OrderDenied)
        if state is TradingState.HALTED:
            assert isinstance(event, OrderDenied)
            assert event.reason is DenyReason.TRADING_HALTED
        if isinstance(event, OrderIntent):
            assert event.quantity > 0
            self.intents.append(event)
            if state is TradingState.REDUCING:
                assert book.worst(symbol) <= worst_before
                after = abs(book.position(strategy, symbol) + side.sign * event.quantity)
                assert after < position_before

    @rule(data=st.data(), whole=st.booleans())
    def fill_an_intent(self, data: st.DataObject, whole: bool) -> None:
        if not self.intents:
            return
        intent = self.intents.pop(data.draw(st.integers(0, len(self.intents) - 1)))
        if whole:
            self.desk.fill(
                intent.side,
                str(intent.quantity),
                symbol=intent.symbol,
                strategy_id=intent.strategy_id,
                order_id=intent.order_id,
            )
            return
        half = (intent.quantity / 2).quantize(Decimal("0.0001"))
        self.desk.partial_fill(intent, str(half), leaves=str(intent.quantity - half))

    @rule(data=st.data())
    def cancel_an_intent(self, data: st.DataObject) -> None:
        if self.intents:
            self.desk.cancel(self.intents.pop(data.draw(st.integers(0, len(self.intents) - 1))))

    @rule(symbol=SYMBOLS, strategy=STRATEGIES, side=SIDES, quantity=QUANTITIES)
    def external_fill(self, symbol: str, strategy: str, side: Side, quantity: Decimal) -> None:
        self.desk.fill(side, str(quantity), symbol=symbol, strategy_id=strategy)

    @invariant()
    def snapshot_round_trips(self) -> None:
        snapshot = self.desk.risk.snapshot()
        assert snapshot.state is self.desk.risk.state

    def _check_state_events(self, events: list[Event]) -> None:
        assert len(events) <= 1
        for event in events:
            assert isinstance(event, RiskState)
            assert event.state is self.desk.risk.state


RiskMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_risk_never_trades_past_its_state = RiskMachine.TestCase
