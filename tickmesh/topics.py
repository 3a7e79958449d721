"""Every topic name and partition key, in one place.

Market topics are shared by all namespaces; trading topics are per namespace (``paper``,
``live``, or a name the user picks) so their signals, orders and portfolios never mix.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable

from tickmesh.model.events import Bar, Event, Heartbeat, OrderEvent, OrderIntent, Signal

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
    per symbol); order events by order id; heartbeats by service.
    """
    if isinstance(event, Signal | OrderIntent):
        return event.strategy_id
    if isinstance(event, OrderEvent):
        return event.order_id
    if isinstance(event, Bar):
        return event.symbol
    if isinstance(event, Heartbeat):
        return event.service
    symbol = getattr(event, "symbol", None)
    if isinstance(symbol, str):
        return symbol
    return ""


def topic_for(event: Event, namespace: str) -> str:
    """Where a service publishes an event it produced (market data is routed by its feed)."""
    for cls in type(event).__mro__:
        route = _ROUTES.get(cls.__name__)
        if route is not None:
            return route(event, namespace)
    return SYSTEM_LOGS


_ROUTES: dict[str, Callable[[Event, str], str]] = {
    "Signal": lambda e, ns: signals_raw(ns),
    "OrderIntent": lambda e, ns: signals_validated(ns),
    "OrderDenied": lambda e, ns: signals_rejected(ns),
    "OrderEvent": lambda e, ns: orders_events(ns),
    "PortfolioSnapshot": lambda e, ns: portfolio(ns),
    "PositionSnapshot": lambda e, ns: portfolio(ns),
    "RiskState": lambda e, ns: risk_state(ns),
    "Bar": lambda e, ns: bars(e.timeframe),  # type: ignore[attr-defined]
    "Tick": lambda e, ns: MARKET_TICKS,
    "TickBatch": lambda e, ns: MARKET_TICKS,
    "Heartbeat": lambda e, ns: SYSTEM_HEARTBEATS,
    "Command": lambda e, ns: OPS_COMMANDS,
    "DeadLetter": lambda e, ns: SYSTEM_DLQ,
}


def catalogue(namespaces: Iterable[str] = ("paper",)) -> list[str]:
    """Every topic tickmesh uses: the shared market and system topics plus each namespace's
    trading topics. What ``--topics PATTERN`` options are matched against."""
    names = [MARKET_TICKS, MARKET_QUOTES, MARKET_SYMBOLS, *(bars(tf) for tf in TIMEFRAMES)]
    names += [SYSTEM_HEARTBEATS, SYSTEM_LOGS, SYSTEM_DLQ, OPS_COMMANDS]
    for ns in namespaces:
        names += [
            signals_raw(ns),
            signals_validated(ns),
            signals_rejected(ns),
            orders_events(ns),
            portfolio(ns),
            risk_state(ns),
        ]
    return names


def match(patterns: Iterable[str], namespaces: Iterable[str] = ("paper",)) -> list[str]:
    """Topics named by shell-style ``patterns`` (``market.*``, ``paper.orders.events``).

    A pattern without wildcards is taken as given, so topics outside the catalogue can be named;
    a wildcard pattern that matches nothing is an error (most likely a typo)."""
    known = catalogue(namespaces)
    chosen: list[str] = []
    for pattern in patterns:
        if not any(ch in pattern for ch in "*?["):
            hits = [pattern]
        else:
            hits = fnmatch.filter(known, pattern)
            if not hits:
                raise ValueError(
                    f"topic pattern {pattern!r} matches no known topic; known: {', '.join(known)}"
                )
        chosen += [t for t in hits if t not in chosen]
    return chosen
