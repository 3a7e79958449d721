"""Checks that need no quantity: trading state, market data freshness, price band, duplicates
and order rate. Each returns a :class:`Denial` or ``None``."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tickmesh.model.enums import DenyReason, Side, TradingState
from tickmesh.model.events import Signal
from tickmesh.risk.limits import RiskLimits
from tickmesh.risk.market import MarketView


@dataclass(frozen=True, slots=True)
class Denial:
    reason: DenyReason
    detail: str


def state_denial(state: TradingState, reason: str) -> Denial | None:
    """HALTED refuses every new order, closes included."""
    if state is TradingState.HALTED:
        return Denial(DenyReason.TRADING_HALTED, f"trading halted ({reason or 'no reason given'})")
    return None


def market_denial(signal: Signal, market: MarketView, limits: RiskLimits) -> Denial | None:
    """No price for the symbol, or its newest data is older than ``stale_after_ns``."""
    last_ts = market.data_ts(signal.symbol)
    if last_ts is None or market.price(signal.symbol) is None:
        return Denial(DenyReason.NO_MARKET_DATA, f"no market data for {signal.symbol}")
    age = signal.ts_event - last_ts
    if limits.stale_after_ns is not None and age > limits.stale_after_ns:
        return Denial(
            DenyReason.STALE_DATA,
            f"{signal.symbol} data is {age} ns old > stale_after_ns {limits.stale_after_ns}",
        )
    return None


def price_band_denial(signal: Signal, last: float | None, band: float | None) -> Denial | None:
    """The signal's price strays more than ``band`` (a fraction) from the last trade."""
    if band is None or last is None:
        return None
    deviation = abs(signal.price - last)
    if not deviation <= band * last:
        return Denial(
            DenyReason.PRICE_BAND,
            f"signal price {signal.price} is {deviation / last:.4%} from last trade {last} "
            f"> price_band_pct {band:.4%}",
        )
    return None


class OrderThrottle:
    """Remembers accepted orders to refuse duplicates and bursts over the rate limit.

    Time is the signals' ``ts_event``, so a replay refuses exactly what the live run refused.
    """

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self._last: dict[tuple[str, str, Side], int] = {}
        self._recent: deque[int] = deque()

    def denial(self, signal: Signal) -> Denial | None:
        return self._duplicate(signal) or self._rate(signal.ts_event)

    def record(self, signal: Signal) -> None:
        self._last[(signal.strategy_id, signal.symbol, signal.side)] = signal.ts_event
        self._recent.append(signal.ts_event)

    def _duplicate(self, signal: Signal) -> Denial | None:
        window = self.limits.duplicate_window_ns
        last = self._last.get((signal.strategy_id, signal.symbol, signal.side))
        if last is None or signal.ts_event - last >= window:
            return None
        return Denial(
            DenyReason.DUPLICATE_ORDER,
            f"{signal.side.value} {signal.symbol} for {signal.strategy_id} "
            f"{signal.ts_event - last} ns after the last one < duplicate_window_ns {window}",
        )

    def _rate(self, now: int) -> Denial | None:
        limit = self.limits.max_orders_per_window
        window = self.limits.rate_window_ns
        while self._recent and now - self._recent[0] >= window:
            self._recent.popleft()
        if limit is None or len(self._recent) < limit:
            return None
        return Denial(
            DenyReason.ORDER_RATE,
            f"{len(self._recent)} orders in the last {window} ns >= max_orders_per_window {limit}",
        )
