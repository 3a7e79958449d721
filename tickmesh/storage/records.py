"""What the repositories return when a row is state rather than an event.

Fills, bars, signals and rejections come back as the events they were stored from; positions,
accounts, risk state, sessions, orders and feed checkpoints are rows of current state, and
equity samples rows of its history; they come back as these frozen records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from tickmesh.model import OrderType, Side, TradingState


class SessionStatus(StrEnum):
    """A session still ``RUNNING`` at startup is one that crashed before it could finish;
    ``INTERRUPTED`` was stopped on request. Both are resumed when the config is unchanged."""

    RUNNING = "running"
    COMPLETED = "completed"
    CRASHED = "crashed"
    INTERRUPTED = "interrupted"


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.FAILED}
)


@dataclass(frozen=True, slots=True)
class StoredPosition:
    strategy_id: str
    symbol: str
    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class Account:
    namespace: str
    starting_cash: Decimal
    cash: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class EquitySample:
    """The namespace's equity and cash at ``ts`` (a portfolio snapshot's event time)."""

    ts: int
    equity: Decimal
    cash: Decimal


@dataclass(frozen=True, slots=True)
class StoredRiskState:
    namespace: str
    state: TradingState
    reason: str
    peak_equity: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One run of a namespace; ``start_positions`` maps ``strategy_id:symbol`` to quantity."""

    id: str
    namespace: str
    started_at: int
    status: SessionStatus
    start_cash: Decimal
    config_fingerprint: str = ""
    seed: int | None = None
    start_positions: dict[str, Decimal] = field(default_factory=dict)
    ended_at: int | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a feed got to; ``position`` is opaque to storage (file offset, sequence, cursor)."""

    feed_id: str
    position: str
    ts: int


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as its lifecycle events have left it.

    ``quantity`` and ``order_type`` are ``None`` until an event that carries them arrives.
    """

    order_id: str
    namespace: str
    strategy_id: str
    symbol: str
    side: Side
    status: OrderStatus
    filled_quantity: Decimal
    ts_event: int
    updated_ts: int
    quantity: Decimal | None = None
    order_type: OrderType | None = None
    limit_price: Decimal | None = None
    signal_id: str = ""
    correlation_id: str = ""
