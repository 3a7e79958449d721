"""What the API answers with. Money is Decimal and travels as its exact string (``"0.1"``, never
``0.1``); market data (bar prices, signal prices) is float, as in the events. Times are integer
nanoseconds since the epoch, as stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from tickmesh.model import CommandType, DenyReason, OrderType, Side, TradingState
from tickmesh.storage.records import OrderStatus, SessionStatus
from tickmesh.storage.users import AuditOutcome

Money = Annotated[
    Decimal,
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "format": "decimal", "examples": ["100.25"]}),
]


class Out(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class Reason(Out):
    """Every refusal: ``detail`` says why."""

    detail: Any


class VersionOut(Out):
    version: str
    api: Literal["v1"] = "v1"


class FillOut(Out):
    fill_id: str
    order_id: str
    event_id: str
    strategy_id: str
    symbol: str
    side: Side
    quantity: Money
    price: Money
    fee: Money
    liquidity: str
    ts_event: int
    ts_init: int
    source: str
    correlation_id: str
    session_id: str | None


class OrderOut(Out):
    order_id: str
    strategy_id: str
    symbol: str
    side: Side
    status: OrderStatus
    quantity: Money | None
    filled_quantity: Money
    order_type: OrderType | None
    limit_price: Money | None
    signal_id: str
    correlation_id: str
    ts_event: int
    updated_ts: int


class PositionOut(Out):
    strategy_id: str
    symbol: str
    quantity: Money
    avg_price: Money
    realized_pnl: Money
    ts: int


class AccountOut(Out):
    starting_cash: Money
    cash: Money
    ts: int


class PortfolioOut(Out):
    namespace: str
    account: AccountOut | None
    positions: list[PositionOut]


class SignalOut(Out):
    event_id: str
    strategy_id: str
    strategy: str
    symbol: str
    side: Side
    price: float
    timeframe: str
    reduce_only: bool
    quantity: Money | None
    stop_distance: float | None
    reason: str
    ts_event: int
    ts_init: int
    source: str
    correlation_id: str


class RejectionOut(Out):
    event_id: str
    signal_id: str
    strategy_id: str
    symbol: str
    side: Side
    reason: DenyReason
    detail: str
    ts_event: int
    ts_init: int
    source: str
    correlation_id: str


class BarOut(Out):
    symbol: str
    timeframe: str
    ts_open: int
    ts_event: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trade_count: int


class SeriesOut(Out):
    """One stored timeframe of a symbol."""

    timeframe: str
    first_ts_open: int
    last_ts_open: int
    bar_count: int
    last_close: float


class SymbolOut(Out):
    """A symbol with stored bars: its range over every timeframe, and each timeframe's own.
    ``last_close`` is the close of the most recent bar (the shortest timeframe on a tie)."""

    symbol: str
    timeframes: list[str]
    first_ts_open: int
    last_ts_open: int
    bar_count: int
    last_close: float
    series: list[SeriesOut]


class EquityOut(Out):
    ts: int
    equity: Money
    cash: Money


class RiskStateOut(Out):
    state: TradingState
    reason: str
    peak_equity: Money
    ts: int


class RiskOut(Out):
    namespace: str
    risk: RiskStateOut | None = Field(description="null until the risk manager stored a state")


class SessionOut(Out):
    id: str
    namespace: str
    status: SessionStatus
    started_at: int
    ended_at: int | None
    start_cash: Money
    start_positions: dict[str, Money]
    config_fingerprint: str
    seed: int | None


class BacktestOut(Out):
    """A stored run; ``stats`` are backtesting.py's keys (without the trades)."""

    run_id: str
    created_ns: int
    summary: str
    data_hash: str
    config: dict[str, Any]
    stats: dict[str, Any]


class BacktestDetailOut(BacktestOut):
    """A run with one page of its closed trades (``limit`` / ``offset`` page the trades)."""

    trades: list[dict[str, Any]]
    limit: int
    offset: int
    total: int


class TokenOut(Out):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds the access token stays valid")
    refresh_token: str
    refresh_expires_in: int = Field(description="seconds the refresh token stays valid")


class CommandOut(Out):
    command_id: str
    command: CommandType
    namespace: str
    issued_by: str
    audit_id: str


class AuditOut(Out):
    id: str
    ts: int
    actor: str
    role: str
    action: str
    namespace: str
    outcome: AuditOutcome
    detail: str
    client: str
