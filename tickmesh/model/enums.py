"""Closed vocabularies used by events. String enums, so the wire and the JSON stay readable."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TradingState(StrEnum):
    """ACTIVE trades freely; REDUCING only lets positions shrink; HALTED blocks every new order."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class DenyReason(StrEnum):
    """Why the risk manager refused a signal. Every refusal carries exactly one."""

    TRADING_HALTED = "TRADING_HALTED"
    REDUCING_ONLY = "REDUCING_ONLY"
    MAX_ORDER_QUANTITY = "MAX_ORDER_QUANTITY"
    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
    MAX_POSITION = "MAX_POSITION"
    MAX_GROSS_EXPOSURE = "MAX_GROSS_EXPOSURE"
    MAX_OPEN_POSITIONS = "MAX_OPEN_POSITIONS"
    PRICE_BAND = "PRICE_BAND"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    ORDER_RATE = "ORDER_RATE"
    STALE_DATA = "STALE_DATA"
    NO_MARKET_DATA = "NO_MARKET_DATA"
    ZERO_QUANTITY = "ZERO_QUANTITY"
    NOTHING_TO_CLOSE = "NOTHING_TO_CLOSE"
    STRATEGY_DISABLED = "STRATEGY_DISABLED"


class CommandType(StrEnum):
    HALT = "HALT"
    RESUME = "RESUME"
    SET_STATE = "SET_STATE"
    ENABLE_STRATEGY = "ENABLE_STRATEGY"
    DISABLE_STRATEGY = "DISABLE_STRATEGY"
    RELOAD = "RELOAD"
