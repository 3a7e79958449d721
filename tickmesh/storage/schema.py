"""The SQL schema, declared once with SQLAlchemy Core; migration 0001 builds the tables from it.

Money (prices and quantities of orders and fills, fees, cash, PnL) is stored as exact decimal TEXT
through :class:`DecimalText`, on every database. SQLite's NUMERIC affinity turns values into
8-byte floats, so ``Decimal("0.3")`` or a 28-digit quantity would not come back as written; TEXT
keeps the digits and the exponent, and the same column type works on PostgreSQL. The cost: SQL
sums and comparisons on money need an explicit ``CAST``; tickmesh does its arithmetic in Python.

Market data (bar OHLCV) is float, like the events. Timestamps are integer nanoseconds (BIGINT:
today's epoch nanoseconds are about 1.7e18, far beyond a 32-bit INTEGER).

Every column type refuses, before the database sees it, what one of the two databases would
refuse: SQLite stores a 40-character namespace in ``VARCHAR(32)``, a float in ``BIGINT`` and a
NUL character in ``TEXT`` without a word, while PostgreSQL rejects all three. The checks make
both backends keep, and refuse, exactly the same values, with a message that says why.
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
    """A Decimal stored as its exact string form; floats are refused so binary noise never lands,
    and so are NaN and infinities, which are not amounts of money."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(f"money columns take Decimal, got {type(value).__name__}: {value!r}")
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError(f"money columns take a finite Decimal, got {value!r}")
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        try:
            return Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"stored money value is not a decimal: {value!r}") from exc


class StrictString(TypeDecorator[str]):
    """``VARCHAR(length)`` holding text only, NUL-free and at most ``length`` characters."""

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return _checked_text(value, self.length)


class StrictText(TypeDecorator[str]):
    """Unbounded ``TEXT`` holding text only, NUL-free (PostgreSQL cannot store ``\\x00``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return _checked_text(value, None)


class _CheckedInteger(TypeDecorator[int]):
    """A signed integer of ``bits`` bits; bools and floats are refused."""

    impl = Integer
    cache_ok = True
    bits = 32

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"integer columns take int, got {type(value).__name__}: {value!r}")
        limit = 1 << (self.bits - 1)
        if not -limit <= value < limit:
            raise ValueError(f"integer {value} does not fit a signed {self.bits}-bit column")
        return value


class StrictBigInteger(_CheckedInteger):
    """64 bits: nanosecond timestamps (about 1.7e18 today) and seeds."""

    impl = BigInteger
    cache_ok = True
    bits = 64


class StrictInteger(_CheckedInteger):
    """32 bits: counts."""

    impl = Integer
    cache_ok = True
    bits = 32


def _checked_text(value: Any, length: int | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"text columns take str, got {type(value).__name__}: {value!r}")
    if "\x00" in value:
        raise ValueError(f"text must not contain NUL characters: {value!r}")
    if length is not None and len(value) > length:
        raise ValueError(f"text of {len(value)} characters is longer than {length}: {value!r}")
    return value


SESSION_STATUSES = ("running", "completed", "crashed", "interrupted")

sessions = Table(
    "sessions",
    metadata,
    Column("id", StrictString(64), primary_key=True),
    Column("namespace", StrictString(32), nullable=False),
    Column("started_at", StrictBigInteger, nullable=False),
    Column("status", StrictString(16), nullable=False),
    Column("config_fingerprint", StrictString(128), nullable=False, default=""),
    Column("seed", StrictBigInteger, nullable=True),
    Column("start_cash", DecimalText, nullable=False),
    Column("start_positions", StrictText, nullable=False, default="{}"),
    Column("ended_at", StrictBigInteger, nullable=True),
    CheckConstraint(f"status IN {SESSION_STATUSES!r}", name="status"),
    Index(None, "namespace", "started_at"),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", StrictString(64), primary_key=True),
    Column("namespace", StrictString(32), nullable=False),
    Column("strategy_id", StrictString(128), nullable=False),
    Column("symbol", StrictString(64), nullable=False),
    Column("side", StrictString(4), nullable=False),
    Column("quantity", DecimalText, nullable=True),
    Column("order_type", StrictString(16), nullable=True),
    Column("limit_price", DecimalText, nullable=True),
    Column("status", StrictString(20), nullable=False),
    Column("filled_quantity", DecimalText, nullable=False),
    Column("signal_id", StrictString(64), nullable=False, default=""),
    Column("correlation_id", StrictString(64), nullable=False, default=""),
    Column("ts_event", StrictBigInteger, nullable=False),
    Column("updated_ts", StrictBigInteger, nullable=False),
    Index(None, "namespace", "ts_event"),
)

fills = Table(
    "fills",
    metadata,
    Column("fill_id", StrictString(64), primary_key=True),
    Column("event_id", StrictString(64), nullable=False),
    Column("namespace", StrictString(32), nullable=False),
    Column("order_id", StrictString(64), nullable=False),
    Column("strategy_id", StrictString(128), nullable=False),
    Column("symbol", StrictString(64), nullable=False),
    Column("side", StrictString(4), nullable=False),
    Column("quantity", DecimalText, nullable=False),
    Column("price", DecimalText, nullable=False),
    Column("fee", DecimalText, nullable=False),
    Column("liquidity", StrictString(16), nullable=False, default="taker"),
    Column("ts_event", StrictBigInteger, nullable=False),
    Column("ts_init", StrictBigInteger, nullable=False),
    Column("source", StrictString(64), nullable=False, default=""),
    Column("correlation_id", StrictString(64), nullable=False, default=""),
    Column("session_id", StrictString(64), ForeignKey("sessions.id"), nullable=True),
    Index(None, "namespace", "ts_event"),
)

positions = Table(
    "positions",
    metadata,
    Column("namespace", StrictString(32), primary_key=True),
    Column("strategy_id", StrictString(128), primary_key=True),
    Column("symbol", StrictString(64), primary_key=True),
    Column("quantity", DecimalText, nullable=False),
    Column("avg_price", DecimalText, nullable=False),
    Column("realized_pnl", DecimalText, nullable=False),
    Column("ts", StrictBigInteger, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("namespace", StrictString(32), primary_key=True),
    Column("starting_cash", DecimalText, nullable=False),
    Column("cash", DecimalText, nullable=False),
    Column("ts", StrictBigInteger, nullable=False),
)

bars = Table(
    "bars",
    metadata,
    Column("symbol", StrictString(64), primary_key=True),
    Column("timeframe", StrictString(8), primary_key=True),
    Column("ts_open", StrictBigInteger, primary_key=True),
    Column("ts_event", StrictBigInteger, nullable=False),
    Column("open", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("close", Float, nullable=False),
    Column("volume", Float, nullable=False),
    Column("trade_count", StrictInteger, nullable=False, default=0),
    Column("event_id", StrictString(64), nullable=False),
    Column("ts_init", StrictBigInteger, nullable=False),
    Column("source", StrictString(64), nullable=False, default=""),
)

signals = Table(
    "signals",
    metadata,
    Column("event_id", StrictString(64), primary_key=True),
    Column("namespace", StrictString(32), nullable=False),
    Column("strategy_id", StrictString(128), nullable=False),
    Column("symbol", StrictString(64), nullable=False),
    Column("side", StrictString(4), nullable=False),
    Column("price", Float, nullable=False),
    Column("reason", StrictText, nullable=False, default=""),
    Column("ts_event", StrictBigInteger, nullable=False),
    Column("payload", StrictText, nullable=False),
    Index(None, "namespace", "ts_event"),
)

rejections = Table(
    "rejections",
    metadata,
    Column("event_id", StrictString(64), primary_key=True),
    Column("namespace", StrictString(32), nullable=False),
    Column("signal_id", StrictString(64), nullable=False),
    Column("strategy_id", StrictString(128), nullable=False),
    Column("symbol", StrictString(64), nullable=False),
    Column("side", StrictString(4), nullable=False),
    Column("reason", StrictString(32), nullable=False),
    Column("detail", StrictText, nullable=False, default=""),
    Column("ts_event", StrictBigInteger, nullable=False),
    Column("payload", StrictText, nullable=False),
    Index(None, "namespace", "ts_event"),
)

risk_state = Table(
    "risk_state",
    metadata,
    Column("namespace", StrictString(32), primary_key=True),
    Column("state", StrictString(16), nullable=False),
    Column("reason", StrictText, nullable=False, default=""),
    Column("peak_equity", DecimalText, nullable=False),
    Column("ts", StrictBigInteger, nullable=False),
)

equity_samples = Table(
    "equity_samples",
    metadata,
    Column("namespace", StrictString(32), primary_key=True),
    Column("ts", StrictBigInteger, primary_key=True),
    Column("equity", DecimalText, nullable=False),
    Column("cash", DecimalText, nullable=False),
)
"""The namespace's equity over time, one row per portfolio snapshot time (migration 0003)."""

feed_checkpoints = Table(
    "feed_checkpoints",
    metadata,
    Column("feed_id", StrictString(128), primary_key=True),
    Column("position", StrictText, nullable=False),
    Column("ts", StrictBigInteger, nullable=False),
)

__all__ = [
    "SESSION_STATUSES",
    "DecimalText",
    "StrictBigInteger",
    "StrictInteger",
    "StrictString",
    "StrictText",
    "accounts",
    "bars",
    "equity_samples",
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
