"""Every message on the bus: frozen msgspec structs forming one tagged union.

Market data and indicators are float; order and fill prices, quantities, fees, cash and PnL are
Decimal (encoded as strings on the wire, so they round-trip exactly).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from tickmesh.model.enums import CommandType, DenyReason, OrderType, Side, TradingState


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True, tag_field="type"):
    """Fields every event carries.

    ``event_id`` is a sortable unique id (ULID); ``ts_event`` is when the thing happened and
    ``ts_init`` when tickmesh created the event, both in ns since the epoch. ``correlation_id``
    follows a signal through risk and execution to its fills.
    """

    event_id: str
    ts_event: int
    ts_init: int
    source: str = ""
    namespace: str = ""
    correlation_id: str = ""


# --- market data (shared by every namespace) -------------------------------------------------


class Tick(Event, frozen=True, kw_only=True):
    """One trade print."""

    symbol: str
    price: float
    size: float
    aggressor: Side | None = None
    trade_id: str = ""
    venue: str = ""


class TickBatch(Event, frozen=True, kw_only=True):
    """Many trades of one symbol in one message: the columnar fast path for replays and
    high-rate feeds. Columns are little-endian arrays (int64 ns, float64, float64) of equal length,
    so consumers read them with ``numpy.frombuffer`` without copying."""

    symbol: str
    ts: bytes
    price: bytes
    size: bytes

    @property
    def count(self) -> int:
        return len(self.ts) // 8


class Quote(Event, frozen=True, kw_only=True):
    symbol: str
    bid: float
    ask: float
    bid_size: float = 0.0
    ask_size: float = 0.0


class Bar(Event, frozen=True, kw_only=True):
    """OHLCV over [ts_open, ts_event): ``ts_event`` is the bar's close time."""

    symbol: str
    timeframe: str
    ts_open: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trade_count: int = 0


class BarBatch(Event, frozen=True, kw_only=True):
    """Consecutive bars of one symbol as columns, for a replay that fast-forwards through bars
    on which no service acts (see :mod:`tickmesh.backtest.engine`).

    A service must leave the state that the bars one by one would leave, each bar preceded by
    its open as a trade print, as the backtest feeds them. The columns are numpy arrays
    (``ts_open`` int64 ns, the prices and volume float64), so a batch lives on the in-process
    bus only: it is not in :data:`AnyEvent` and never encoded. ``ts_event`` is the last bar's
    close time.

    ``opened``: the first bar's open print already went out one by one (a fill step: the
    replay sent the open prints alone, then found every service quiet for the bars), so it is
    not to be applied again. A service whose open prints only set a last price may ignore it.
    """

    symbol: str
    timeframe: str
    ts_open: Any
    open: Any
    high: Any
    low: Any
    close: Any
    volume: Any
    opened: bool = False

    def __len__(self) -> int:
        return len(self.ts_open)


# --- trading flow (per namespace) ---------------------------------------------------------------


class Signal(Event, frozen=True, kw_only=True):
    """A strategy's wish to trade; sizing is left to the risk manager unless ``quantity`` is set."""

    strategy_id: str
    strategy: str
    symbol: str
    side: Side
    price: float
    timeframe: str = ""
    reduce_only: bool = False
    quantity: Decimal | None = None
    stop_distance: float | None = None
    reason: str = ""


class OrderIntent(Event, frozen=True, kw_only=True):
    """A signal the risk manager accepted and sized. ``order_id`` is the client order id.

    ``equity_fraction`` (all-in sizing; 1 is backtesting.py's default ``buy()``): the venue sizes
    the order when it fills, committing that fraction of the account's equity then, at most the
    cash available, fees included; ``quantity`` is risk's estimate at the signal price, which
    its checks used.
    """

    order_id: str
    signal_id: str
    strategy_id: str
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    reduce_only: bool = False
    ref_price: float = 0.0
    equity_fraction: Decimal | None = None


class OrderDenied(Event, frozen=True, kw_only=True):
    """A refusal is an event, not an exception."""

    signal_id: str
    strategy_id: str
    symbol: str
    side: Side
    reason: DenyReason
    detail: str = ""


class Fill(Event, frozen=True, kw_only=True):
    """One execution against an order. ``fill_id`` is unique per venue and order."""

    fill_id: str
    order_id: str
    strategy_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    liquidity: str = "taker"


class OrderEvent(Event, frozen=True, kw_only=True):
    """Base of the order lifecycle events; keyed by order id."""

    order_id: str
    strategy_id: str
    symbol: str
    side: Side


class OrderAccepted(OrderEvent, frozen=True, kw_only=True):
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None


class OrderPartiallyFilled(OrderEvent, frozen=True, kw_only=True):
    fill: Fill
    filled_quantity: Decimal
    leaves_quantity: Decimal


class OrderFilled(OrderEvent, frozen=True, kw_only=True):
    fill: Fill
    filled_quantity: Decimal


class OrderCanceled(OrderEvent, frozen=True, kw_only=True):
    filled_quantity: Decimal = Decimal(0)
    reason: str = ""


class OrderRejected(OrderEvent, frozen=True, kw_only=True):
    """The venue (or paper engine) refused the order, e.g. insufficient cash."""

    reason: str


class OrderFailed(OrderEvent, frozen=True, kw_only=True):
    """The order could not be sent or its outcome is unknown; an operator should look."""

    reason: str


# --- state ------------------------------------------------------------------------------------


class PositionSnapshot(Event, frozen=True, kw_only=True):
    strategy_id: str
    symbol: str
    quantity: Decimal
    avg_price: Decimal
    last_price: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal


class PortfolioSnapshot(Event, frozen=True, kw_only=True):
    """``strategy_id`` empty means the whole namespace."""

    strategy_id: str = ""
    cash: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal
    open_positions: int
    positions: tuple[PositionSnapshot, ...] = ()


class RiskState(Event, frozen=True, kw_only=True):
    state: TradingState
    reason: str = ""
    equity: Decimal = Decimal(0)
    peak_equity: Decimal = Decimal(0)
    drawdown_pct: float = 0.0


# --- system -----------------------------------------------------------------------------------


class Heartbeat(Event, frozen=True, kw_only=True):
    service: str
    status: str = "running"
    uptime_s: float = 0.0
    counters: dict[str, float] = {}


class Command(Event, frozen=True, kw_only=True):
    """An operator instruction on ``ops.commands`` (halt, resume, enable a strategy...)."""

    command: CommandType
    args: dict[str, str] = {}
    issued_by: str = ""


class ServiceError(Event, frozen=True, kw_only=True):
    """Something failed inside a service but the service carries on (a strategy raised, say)."""

    service: str
    subject: str = ""
    error_type: str
    message: str
    topic: str = ""


class DeadLetter(Event, frozen=True, kw_only=True):
    """A message that could not be handled; kept with its error for an operator to inspect."""

    topic: str
    key: str = ""
    group: str = ""
    payload: bytes
    error: str
    attempts: int


AnyEvent = (
    Tick
    | TickBatch
    | Quote
    | Bar
    | Signal
    | OrderIntent
    | OrderDenied
    | Fill
    | OrderAccepted
    | OrderPartiallyFilled
    | OrderFilled
    | OrderCanceled
    | OrderRejected
    | OrderFailed
    | PositionSnapshot
    | PortfolioSnapshot
    | RiskState
    | Heartbeat
    | Command
    | ServiceError
    | DeadLetter
)

EVENT_TYPES: tuple[type[Event], ...] = AnyEvent.__args__
