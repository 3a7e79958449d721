"""The SQL schema, declared once with SQLAlchemy Core; migration 0001 builds the tables from it.

Money (prices and quantities of orders and fills, fees, cash, PnL) is stored as exact decimal TEXT
through :class:`DecimalText`, on every database. SQLite's NUMERIC affinity turns values into
8-byte floats, so ``Decimal("0.3")`` or a 28-digit quantity would not come back as written; TEXT
keeps the digits and the exponent, and the same column type works on PostgreSQL. The cost: SQL
sums and comparisons on money need an explicit ``CAST``; tickmesh does its arithmetic in Python.

Market data (bar OHLCV) is float, like the events. Timestamps are integer nanoseconds.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DecimalText(TypeDecorator[Decimal]):
    """A Decimal stored as its exact string form; floats are refused so binary noise never lands."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            return str(value)
        raise TypeError(f"money columns take Decimal, got {type(value).__name__}: {value!r}")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        try:
            return Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"stored money value is not a decimal: {value!r}") from exc


SESSION_STATUSES = ("running", "completed", "crashed", "interrupted")

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("namespace", String(32), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("config_fingerprint", String(128), nullable=False, default=""),
    Column("seed", BigInteger, nullable=True),
    Column("start_cash", DecimalText, nullable=False),
    Column("start_positions", Text, nullable=False, default="{}"),
    Column("ended_at", BigInteger, nullable=True),
    CheckConstraint(f"status IN {SESSION_STATUSES!r}", name="status"),
    Index(None, "namespace", "started_at"),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("namespace", String(32), nullable=False),
    Column("strategy_id", String(128), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", DecimalText, nullable=True),
    Column("order_type", String(16), nullable=True),
    Column("limit_price", DecimalText, nullable=True),
    Column("status", String(20), nullable=False),
    Column("filled_quantity", DecimalText, nullable=False),
    Column("signal_id", String(64), nullable=False, default=""),
    Column("correlation_id", String(64), nullable=False, default=""),
    Column("ts_event", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    Index(None, "namespace", "ts_event"),
)

fills = Table(
    "fills",
    metadata,
    Column("fill_id", String(64), primary_key=True),
    Column("event_id", String(64), nullable=False),
    Column("namespace", String(32), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("strategy_id", String(128), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", DecimalText, nullable=False),
    Column("price", DecimalText, nullable=False),
    Column("fee", DecimalText, nullable=False),
    Column("liquidity", String(16), nullable=False, default="taker"),
    Column("ts_event", BigInteger, nullable=False),
    Column("ts_init", BigInteger, nullable=False),
    Column("source", String(64), nullable=False, default=""),
    Column("correlation_id", String(64), nullable=False, default=""),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=True),
    Index(None, "namespace", "ts_event"),
)

positions = Table(
    "positions",
    metadata,
    Column("namespace", String(32), primary_key=True),
    Column("strategy_id", String(128), primary_key=True),
    Column("symbol", String(64), primary_key=True),
    Column("quantity", DecimalText, nullable=False),
    Column("avg_price", DecimalText, nullable=False),
    Column("realized_pnl", DecimalText, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("namespace", String(32), primary_key=True),
    Column("starting_cash", DecimalText, nullable=False),
    Column("cash", DecimalText, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

bars = Table(
    "bars",
    metadata,
    Column("symbol", String(64), primary_key=True),
    Column("timeframe", String(8), primary_key=True),
    Column("ts_open", BigInteger, primary_key=True),
    Column("ts_event", BigInteger, nullable=False),
    Column("open", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("close", Float, nullable=False),
    Column("volume", Float, nullable=False),
    Column("trade_count", Integer, nullable=False, default=0),
    Column("event_id", String(64), nullable=False),
    Column("ts_init", BigInteger, nullable=False),
    Column("source", String(64), nullable=False, default=""),
)

signals = Table(
    "signals",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("namespace", String(32), nullable=False),
    Column("strategy_id", String(128), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("price", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("ts_event", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),
    Index(None, "namespace", "ts_event"),
)

rejections = Table(
    "rejections",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("namespace", String(32), nullable=False),
    Column("signal_id", String(64), nullable=False),
    Column("strategy_id", String(128), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("ts_event", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),
    Index(None, "namespace", "ts_event"),
)

risk_state = Table(
    "risk_state",
    metadata,
    Column("namespace", String(32), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("peak_equity", DecimalText, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

feed_checkpoints = Table(
    "feed_checkpoints",
    metadata,
    Column("feed_id", String(128), primary_key=True),
    Column("position", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

__all__ = [
    "SESSION_STATUSES",
    "DecimalText",
    "accounts",
    "bars",
    "feed_checkpoints",
    "fills",
    "metadata",
    "orders",
    "positions",
    "rejections",
    "risk_state",
    "sessions",
    "signals",
]
