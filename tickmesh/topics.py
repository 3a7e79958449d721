"""Every topic name and partition key, in one place.

Market topics are shared by all namespaces; trading topics are per namespace (``paper``,
``live``, or a name the user picks) so their signals, orders and portfolios never mix.
"""

from __future__ import annotations

import re

from tickmesh.model.events import Bar, Event, OrderEvent, OrderIntent, Signal

MARKET_TICKS = "market.ticks"
MARKET_QUOTES = "market.quotes"
MARKET_SYMBOLS = "market.symbols"
SYSTEM_HEARTBEATS = "system.heartbeats"
SYSTEM_LOGS = "system.logs"
SYSTEM_DLQ = "system.dlq"
OPS_COMMANDS = "ops.commands"

TIMEFRAMES: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14400,
    "1d": 86400,
}

_NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def validate_namespace(ns: str) -> str:
    if not _NAMESPACE_RE.match(ns):
        raise ValueError(
            f"invalid namespace {ns!r}: use 1-32 lowercase letters, digits, '-' or '_', "
            "starting with a letter"
        )
    return ns


def timeframe_seconds(tf: str) -> int:
    try:
        return TIMEFRAMES[tf]
    except KeyError:
        raise ValueError(
            f"unknown timeframe {tf!r}; choose one of {', '.join(TIMEFRAMES)}"
        ) from None


def bars(tf: str) -> str:
    timeframe_seconds(tf)
    return f"market.bars.{tf}"


def signals_raw(ns: str) -> str:
    return f"{ns}.signals.raw"


def signals_validated(ns: str) -> str:
    return f"{ns}.signals.validated"


def signals_rejected(ns: str) -> str:
    return f"{ns}.signals.rejected"


def orders_events(ns: str) -> str:
    return f"{ns}.orders.events"


def portfolio(ns: str) -> str:
    return f"{ns}.portfolio"


def risk_state(ns: str) -> str:
    return f"{ns}.risk.state"


def key_for(event: Event) -> str:
    """Partition key: per-key order is what consumers rely on.

    Market data by symbol; signals by strategy instance id (``strategy:symbol``, one instance
    per symbol); order events by order id.
    """
    if isinstance(event, Signal | OrderIntent):
        return event.strategy_id
    if isinstance(event, OrderEvent):
        return event.order_id
    if isinstance(event, Bar):
        return event.symbol
    symbol = getattr(event, "symbol", None)
    if isinstance(symbol, str):
        return symbol
    return ""


def topic_for(event: Event, namespace: str) -> str:
    """Where a service publishes an event it produced (market data is routed by its feed)."""
    from tickmesh.model import events as ev

    if isinstance(event, ev.Signal):
        return signals_raw(namespace)
    if isinstance(event, ev.OrderIntent):
        return signals_validated(namespace)
    if isinstance(event, ev.OrderDenied):
        return signals_rejected(namespace)
    if isinstance(event, ev.OrderEvent):
        return orders_events(namespace)
    if isinstance(event, ev.PortfolioSnapshot | ev.PositionSnapshot):
        return portfolio(namespace)
    if isinstance(event, ev.RiskState):
        return risk_state(namespace)
    if isinstance(event, ev.Bar):
        return bars(event.timeframe)
    if isinstance(event, ev.Tick | ev.TickBatch):
        return MARKET_TICKS
    if isinstance(event, ev.Heartbeat):
        return SYSTEM_HEARTBEATS
    if isinstance(event, ev.Command):
        return OPS_COMMANDS
    if isinstance(event, ev.DeadLetter):
        return SYSTEM_DLQ
    return SYSTEM_LOGS
