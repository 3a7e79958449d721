"""The risk manager: every raw signal comes out as exactly one sized ``OrderIntent`` or one
``OrderDenied`` with its reason.

Pure domain code: it learns prices from ticks and bars, positions and working orders from order
events, equity from portfolio snapshots and the trading state from drawdown and operator
commands, and answers with events for the caller to publish. A RELOAD command swaps its limits
for the ones it carries (see :mod:`tickmesh.risk.reload`), all at once or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

from tickmesh.core.decimal import ZERO, to_decimal
from tickmesh.core.stamp import Stamper
from tickmesh.model.enums import CommandType, DenyReason, TradingState
from tickmesh.model.events import (
    Bar,
    BarBatch,
    Command,
    Event,
    OrderDenied,
    OrderEvent,
    OrderIntent,
    PortfolioSnapshot,
    RiskState,
    Signal,
    Tick,
)
from tickmesh.model.instrument import Instrument
from tickmesh.risk.book import ExposureBook, WorkingOrder
from tickmesh.risk.caps import OrderSpot, closing_cap, equity_cap, limit_caps, no_increase_cap
from tickmesh.risk.checks import (
    Denial,
    OrderThrottle,
    market_denial,
    price_band_denial,
    state_denial,
)
from tickmesh.risk.limits import RiskLimits
from tickmesh.risk.market import MarketView
from tickmesh.risk.reload import limits_from_args
from tickmesh.risk.sizing import Cap, first_breach, fit_under, fmt, risk_quantity, stop_distance
from tickmesh.risk.snapshot import PositionRecord, RiskSnapshot, WorkingRecord
from tickmesh.risk.state import TradingGate

DEFAULT_INSTRUMENT = Instrument(symbol="*")
log = logging.getLogger(__name__)


class RiskManager:
    """Pre-trade checks, risk-adjusted sizing and the ACTIVE / REDUCING / HALTED state.

    Each ``on_*`` method returns the events to publish: ``OrderIntent`` goes to
    ``{ns}.signals.validated``, ``OrderDenied`` to ``{ns}.signals.rejected`` and ``RiskState``
    (one per state change) to ``{ns}.risk.state``.
    """

    def __init__(
        self,
        limits: RiskLimits,
        stamper: Stamper,
        instruments: Mapping[str, Instrument] | None = None,
        default_instrument: Instrument = DEFAULT_INSTRUMENT,
    ) -> None:
        self._limits = limits
        self._stamp = stamper
        self._instruments = dict(instruments or {})
        self._default_instrument = default_instrument
        self._market = MarketView(limits.atr_period)
        self._book = ExposureBook()
        self._gate = TradingGate(limits)
        self._throttle = OrderThrottle(limits)

    @property
    def state(self) -> TradingState:
        return self._gate.state

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @property
    def book(self) -> ExposureBook:
        """Positions and working orders as risk sees them (read-only use)."""
        return self._book

    # --- inputs that only update what risk knows ---------------------------------------------

    def on_tick(self, tick: Tick) -> list[Event]:
        self._market.on_tick(tick)
        return []

    def on_bar(self, bar: Bar) -> list[Event]:
        self._market.on_bar(bar)
        return []

    def on_bar_batch(self, bars: BarBatch) -> list[Event]:
        self._market.on_bar_batch(bars)
        return []

    def on_order_event(self, ev: OrderEvent) -> list[Event]:
        self._book.on_order_event(ev)
        return []

    # --- inputs that may change the trading state ----------------------------------------------

    def on_portfolio(self, snapshot: PortfolioSnapshot) -> list[Event]:
        """Namespace-wide snapshots (empty ``strategy_id``) move equity, peak and drawdown."""
        if snapshot.strategy_id or not snapshot.equity.is_finite():
            return []
        changed = self._gate.on_equity(snapshot.equity)
        return self._state_events(changed, snapshot)

    def on_command(self, cmd: Command) -> list[Event]:
        """HALT, RESUME, SET_STATE and RELOAD; other commands and bad arguments are ignored (a
        refused RELOAD is logged with the reason)."""
        if cmd.command is CommandType.RELOAD:
            return self._reload(cmd)
        changed = self._gate.on_command(cmd)
        return self._state_events(changed, cmd)

    def _reload(self, cmd: Command) -> list[Event]:
        """New limits for every check at once; the drawdown thresholds apply at once too."""
        try:
            limits = limits_from_args(cmd.args, self._limits)
        except ValueError as exc:
            log.warning("RELOAD %s from %r ignored: %s", cmd.event_id, cmd.issued_by, exc)
            return []
        self._limits = limits
        self._throttle.limits = limits
        changed = self._gate.set_limits(limits)
        log.info("risk limits reloaded (%s from %r)", cmd.event_id, cmd.issued_by)
        return self._state_events(changed, cmd)

    # --- signals --------------------------------------------------------------------------------

    def on_signal(self, signal: Signal) -> list[Event]:
        outcome = self._evaluate(signal)
        if isinstance(outcome, Denial):
            return [self._deny(signal, outcome)]
        return [self._accept(signal, outcome, self._equity_fraction(signal, outcome))]

    def _evaluate(self, signal: Signal) -> Decimal | Denial:
        denial = self._pretrade_denial(signal)
        if denial is not None:
            return denial
        spot = OrderSpot(signal.strategy_id, signal.symbol, signal.side, self._mark(signal.symbol))
        quantity = self._quantity(signal, spot)
        if isinstance(quantity, Denial):
            return quantity
        return self._open_positions_denial(signal.symbol) or quantity

    def _equity_fraction(self, signal: Signal, quantity: Decimal) -> Decimal | None:
        """All-in sizing leaves the final size to the venue at fill time, unless a cap made the
        quantity smaller than all-in: then the capped quantity stands."""
        if self._limits.sizing != "all_in" or signal.reduce_only or signal.quantity is not None:
            return None
        spot = OrderSpot(signal.strategy_id, signal.symbol, signal.side, self._mark(signal.symbol))
        target = self._target(signal, spot)
        if isinstance(target, Denial):
            return None
        if quantity < self._instrument(signal.symbol).floor_size(target):
            return None
        return to_decimal(self._limits.all_in_fraction)

    def _pretrade_denial(self, signal: Signal) -> Denial | None:
        """Checks that need no quantity, in the order their refusals are reported."""
        return (
            state_denial(self._gate.state, self._gate.reason)
            or market_denial(signal, self._market, self._limits)
            or price_band_denial(
                signal, self._market.price(signal.symbol), self._limits.price_band_pct
            )
            or self._throttle.denial(signal)
        )

    def _quantity(self, signal: Signal, spot: OrderSpot) -> Decimal | Denial:
        caps = self._state_caps(spot) + limit_caps(self._limits, self._book, spot, self._mark)
        instrument = self._instrument(signal.symbol)
        if signal.quantity is not None and not signal.reduce_only:
            return _check_explicit(signal.quantity, instrument, caps)
        target = self._target(signal, spot)
        if isinstance(target, Denial):
            return target
        return _fit(target, instrument, caps + self._equity_caps(spot))

    def _state_caps(self, spot: OrderSpot) -> list[Cap]:
        """REDUCING: only a close of the strategy's position that adds no symbol exposure."""
        if self._gate.state is not TradingState.REDUCING:
            return []
        reason = DenyReason.REDUCING_ONLY
        return [closing_cap(reason, self._book, spot), no_increase_cap(reason, self._book, spot)]

    def _equity_caps(self, spot: OrderSpot) -> list[Cap]:
        pct, equity = self._limits.max_position_pct_of_equity, self._gate.equity
        if pct is None or equity is None:
            return []
        return [equity_cap(pct, equity, self._book, spot)]

    def _target(self, signal: Signal, spot: OrderSpot) -> Decimal | Denial:
        """The quantity wanted before caps: the rest of the position for a close, else the
        quantity that risks ``risk_fraction`` of equity at the stop."""
        if signal.reduce_only:
            return self._close_target(signal, spot)
        equity = self._gate.equity
        if equity is None:
            return Denial(DenyReason.ZERO_QUANTITY, "cannot size: no portfolio equity seen yet")
        if self._limits.sizing == "all_in":
            budget = equity * to_decimal(self._limits.all_in_fraction)
            return budget / spot.price if spot.price > 0 else ZERO
        atr = self._market.atr(signal.symbol, signal.timeframe)
        stop = stop_distance(signal, atr, float(spot.price), self._limits)
        tick_size = float(self._instrument(signal.symbol).price_increment)
        return risk_quantity(equity, self._limits.risk_fraction, max(stop, tick_size))

    def _close_target(self, signal: Signal, spot: OrderSpot) -> Decimal | Denial:
        closable = self._book.closable(spot.strategy_id, spot.symbol, spot.side)
        if closable <= 0:
            position = self._book.position(spot.strategy_id, spot.symbol)
            return Denial(
                DenyReason.NOTHING_TO_CLOSE,
                f"reduce-only {spot.side.value} but {spot.strategy_id} holds {fmt(position)} "
                f"{spot.symbol}, none of it left to close after working orders",
            )
        wanted = signal.quantity
        if wanted is None:
            return closable
        return min(wanted, closable) if wanted.is_finite() else ZERO

    def _open_positions_denial(self, symbol: str) -> Denial | None:
        limit = self._limits.max_open_positions
        open_symbols = self._book.symbols()
        if limit is None or symbol in open_symbols or len(open_symbols) < limit:
            return None
        return Denial(
            DenyReason.MAX_OPEN_POSITIONS,
            f"opening {symbol} would make {len(open_symbols) + 1} open positions "
            f"> max_open_positions {limit}",
        )

    def _mark(self, symbol: str) -> Decimal:
        price = self._market.price(symbol)
        if price is not None:
            return to_decimal(price)
        return self._book.fill_price(symbol) or ZERO

    def _instrument(self, symbol: str) -> Instrument:
        return self._instruments.get(symbol, self._default_instrument)

    # --- outputs --------------------------------------------------------------------------------

    def _accept(
        self, signal: Signal, quantity: Decimal, equity_fraction: Decimal | None = None
    ) -> OrderIntent:
        order_id = self._stamp.ids.next_id()
        intent = OrderIntent(
            **self._stamp(signal.ts_event, signal.correlation_id or signal.event_id),
            order_id=order_id,
            signal_id=signal.event_id,
            strategy_id=signal.strategy_id,
            symbol=signal.symbol,
            side=signal.side,
            quantity=quantity,
            reduce_only=signal.reduce_only,
            ref_price=self._market.price(signal.symbol) or 0.0,
            equity_fraction=equity_fraction,
        )
        self._book.add_working(
            WorkingOrder(order_id, signal.strategy_id, signal.symbol, signal.side, quantity)
        )
        self._throttle.record(signal)
        return intent

    def _deny(self, signal: Signal, denial: Denial) -> OrderDenied:
        return OrderDenied(
            **self._stamp(signal.ts_event, signal.correlation_id or signal.event_id),
            signal_id=signal.event_id,
            strategy_id=signal.strategy_id,
            symbol=signal.symbol,
            side=signal.side,
            reason=denial.reason,
            detail=denial.detail,
        )

    def _state_events(self, changed: bool, cause: Event) -> list[Event]:
        if not changed:
            return []
        gate = self._gate
        return [
            RiskState(
                **self._stamp(cause.ts_event, cause.correlation_id or cause.event_id),
                state=gate.state,
                reason=gate.reason,
                equity=gate.equity if gate.equity is not None else ZERO,
                peak_equity=gate.peak if gate.peak is not None else ZERO,
                drawdown_pct=gate.drawdown,
            )
        ]

    # --- persistence ----------------------------------------------------------------------------

    def snapshot(self) -> RiskSnapshot:
        gate = self._gate
        return RiskSnapshot(
            state=gate.state,
            reason=gate.reason,
            by_drawdown=gate.by_drawdown,
            equity=gate.equity,
            peak_equity=gate.peak,
            positions=tuple(
                PositionRecord(strategy_id=sid, symbol=sym, quantity=qty)
                for sid, sym, qty in self._book.positions()
            ),
            working=tuple(
                WorkingRecord(
                    order_id=o.order_id,
                    strategy_id=o.strategy_id,
                    symbol=o.symbol,
                    side=o.side,
                    leaves=o.leaves,
                )
                for o in self._book.working_orders()
            ),
        )

    def restore(self, snapshot: RiskSnapshot | Mapping[str, Any]) -> None:
        """Load what :meth:`snapshot` produced, as the struct or its ``to_builtins`` dict."""
        snap = (
            snapshot
            if isinstance(snapshot, RiskSnapshot)
            else msgspec.convert(snapshot, RiskSnapshot)
        )
        self._gate.restore(snap.state, snap.reason, snap.by_drawdown)
        self._gate.equity, self._gate.peak = snap.equity, snap.peak_equity
        self._book.restore(
            ((p.strategy_id, p.symbol, p.quantity) for p in snap.positions),
            (
                WorkingOrder(w.order_id, w.strategy_id, w.symbol, w.side, w.leaves)
                for w in snap.working
            ),
        )


def _check_explicit(
    requested: Decimal, instrument: Instrument, caps: list[Cap]
) -> Decimal | Denial:
    """A strategy-chosen quantity is floored to the size increment, then must fit every cap."""
    usable = requested.is_finite() and requested > 0
    quantity = instrument.floor_size(requested) if usable else ZERO
    if quantity <= 0 or quantity < instrument.min_size:
        return Denial(
            DenyReason.ZERO_QUANTITY,
            f"quantity {fmt(requested)} rounds to {fmt(quantity)} (size_increment "
            f"{fmt(instrument.size_increment)}, min_size {fmt(instrument.min_size)})",
        )
    breach = first_breach(quantity, caps)
    return quantity if breach is None else Denial(breach.reason, breach.explain(quantity))


def _fit(target: Decimal, instrument: Instrument, caps: list[Cap]) -> Decimal | Denial:
    """A risk-chosen quantity shrinks under every cap and floors to the size increment."""
    capped, binding = fit_under(target, caps)
    quantity = instrument.floor_size(capped)
    if quantity > 0 and quantity >= instrument.min_size:
        return quantity
    if binding is not None and instrument.floor_size(max(target, ZERO)) > quantity:
        return Denial(
            binding.reason, f"quantity {fmt(target)} capped to {fmt(quantity)} by {binding.name}"
        )
    return Denial(
        DenyReason.ZERO_QUANTITY,
        f"sized quantity {fmt(target)} rounds to {fmt(quantity)} (size_increment "
        f"{fmt(instrument.size_increment)}, min_size {fmt(instrument.min_size)})",
    )
