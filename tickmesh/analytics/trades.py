"""Closed round-trip trades from a time-ordered stream of fills.

A trade is one strategy's holding in one symbol from the fill that opens it to the fill that
closes it, kept at average cost exactly like the portfolio ledger (the same :class:`Position`
arithmetic, so a partial close removes the same rounded share of cost as the ledger does):

- fills in the holding's direction add to it (its entry price is the average, its entry time the
  first fill's);
- a fill against it closes part or all of it: each closing fill yields one :class:`Trade` of the
  closed size, the rest stays open (backtesting.py splits a trade the same way);
- a fill larger than the holding closes it and opens a new trade in the other direction with the
  rest, at the fill's price and time;
- fees are allocated pro rata to quantity: a flip fill's fee between the closed and the opened
  part, an opening fee between the partial closes that follow. Every share is rounded half-even to
  the instrument's notional grid (price increment x size increment) and the remainder carried on,
  so the pieces add up to the fees paid exactly.

Hence, exactly, ``sum(trade.pnl) + sum(open.unrealized_pnl(mark))`` is every cash flow of the
fills plus the open quantity at ``mark``: what the ledger reports as realized + unrealized PnL.

backtesting.py keeps one lot per opening order and closes lots first-in first-out; tickmesh
averages, like its ledger. The two give the same trades whenever a position is opened by a single
fill (total PnL is the same in every case).

Trades still open when the fills end are returned as :class:`OpenTrade`. backtesting.py 0.6.6
leaves such trades out of its statistics by default (with a warning; its equity curve still marks
them to market). With ``Backtest(..., finalize_trades=True)`` it closes them with market orders in
one more pass over the last bar: at that bar's open (the close of the bar before when
``trade_on_close=True``), paying commission, and counts them. :meth:`OpenTrade.close_at` does the
same for a price and fee the caller picks; ``compute_stats`` counts what it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from tickmesh.analytics.periods import bar_at, format_duration, format_timestamp
from tickmesh.core.decimal import ZERO, quantize
from tickmesh.core.errors import DataError
from tickmesh.model.enums import Side
from tickmesh.model.events import Fill
from tickmesh.model.instrument import Instrument
from tickmesh.portfolio.ledger import DEFAULT_INSTRUMENT, PositionKey
from tickmesh.portfolio.position import Position

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

_Exit: TypeAlias = tuple[int, Decimal, int | None]
"""(time, price, bar) of a closing fill."""


@dataclass(frozen=True, slots=True)
class Trade:
    """A closed round trip (or the closed part of one).

    ``size`` is signed like backtesting.py's: positive long, negative short. ``pnl`` is exact and
    net of every fee allocated to this piece (``fees``). ``return_pct`` is backtesting.py's
    ``Trade.pl_pct``, a *fraction* (0.05 is 5 %): ``sign * (exit / entry - 1)`` less the fees per
    unit of entry value, which is ``pnl / entry value``. The entry value is the exact cost basis
    this piece took out of the holding; ``entry_price`` is the holding's average price on the
    notional grid, as the ledger shows it, so ``size * entry_price`` may differ from that basis by
    the grid's rounding after a partial close. Times are ns; bars are indices into the bar
    timestamps the builder was given, if any.
    """

    strategy_id: str
    symbol: str
    size: Decimal
    entry_time: int
    exit_time: int
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal
    fees: Decimal
    return_pct: float
    entry_bar: int | None = None
    exit_bar: int | None = None

    @property
    def side(self) -> Side:
        """The side that opened the trade: BUY for a long trade, SELL for a short one."""
        return Side.BUY if self.size > 0 else Side.SELL

    @property
    def duration(self) -> int:
        return self.exit_time - self.entry_time

    def to_dict(self, *, human: bool = True) -> dict[str, JsonValue]:
        """JSON-ready, Decimals as exact strings. With ``human``, times are ISO 8601 UTC and the
        duration text like ``3 days 04:00:00``; else ns ints."""
        return {
            "strategy_id": self.strategy_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "size": str(self.size),
            "entry_time": format_timestamp(self.entry_time) if human else self.entry_time,
            "exit_time": format_timestamp(self.exit_time) if human else self.exit_time,
            "entry_price": str(self.entry_price),
            "exit_price": str(self.exit_price),
            "pnl": str(self.pnl),
            "fees": str(self.fees),
            "return_pct": self.return_pct,
            "duration": format_duration(self.duration) if human else self.duration,
            "entry_bar": self.entry_bar,
            "exit_bar": self.exit_bar,
        }


@dataclass(frozen=True, slots=True)
class OpenTrade:
    """A trade still open: ``cost`` is its signed cost basis, ``fees`` the opening fees not yet
    charged to a closed piece."""

    strategy_id: str
    symbol: str
    size: Decimal
    entry_time: int
    entry_price: Decimal
    cost: Decimal
    fees: Decimal
    entry_bar: int | None = None

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """What closing all of it at ``mark`` without a fee would add, net of its opening fees."""
        return self.size * mark - self.cost - self.fees

    def close_at(
        self, ts: int, price: Decimal, fee: Decimal = ZERO, bar: int | None = None
    ) -> Trade:
        """The trade as if closed whole at ``price`` (backtesting.py's ``finalize_trades``)."""
        if ts < self.entry_time:
            raise DataError(f"cannot close a trade at {ts}, before its entry at {self.entry_time}")
        _require_positive(price, "close price")
        _require_finite(fee, "close fee")
        return _closed_piece(self, self.size, self.cost, self.fees + fee, (ts, price, bar))


@dataclass(frozen=True, slots=True)
class TradeBook:
    """Every closed trade in the order closed, and the trades still open."""

    closed: tuple[Trade, ...]
    open: tuple[OpenTrade, ...]


class _Holding:
    """The mutable state behind one open trade."""

    __slots__ = ("entry_bar", "entry_time", "fees", "position")

    def __init__(self, position: Position, entry_time: int, entry_bar: int | None) -> None:
        self.position = position
        self.entry_time = entry_time
        self.entry_bar = entry_bar
        self.fees = ZERO

    def add(self, quantity: Decimal, price: Decimal, fee: Decimal, side: Side) -> None:
        self.position.apply(side, quantity, price, ZERO)
        self.fees += fee

    def close(self, quantity: Decimal, exit_fee: Decimal, exit_: _Exit) -> Trade:
        """Close ``quantity`` (at most the whole holding) and return that piece as a trade."""
        position = self.position
        size = position.quantity
        piece = quantity if size > 0 else -quantity
        opened = self.snapshot()
        position.apply(Side.SELL if size > 0 else Side.BUY, quantity, exit_[1], ZERO)
        removed = opened.cost - position.cost
        entry_fee = self.fees
        if position.quantity:
            entry_fee = _share(self.fees, piece / size, position.instrument)
        self.fees -= entry_fee
        return _closed_piece(opened, piece, removed, entry_fee + exit_fee, exit_)

    def snapshot(self) -> OpenTrade:
        position = self.position
        return OpenTrade(
            strategy_id=position.strategy_id,
            symbol=position.symbol,
            size=position.quantity,
            entry_time=self.entry_time,
            entry_price=position.avg_price,
            cost=position.cost,
            fees=self.fees,
            entry_bar=self.entry_bar,
        )


def _share(amount: Decimal, fraction: Decimal, instrument: Instrument) -> Decimal:
    """``fraction`` of a fee, rounded half-even to the instrument's notional grid."""
    return quantize(amount * fraction, instrument.price_increment * instrument.size_increment)


def _closed_piece(
    opened: OpenTrade, piece: Decimal, cost: Decimal, fees: Decimal, exit_: _Exit
) -> Trade:
    exit_time, exit_price, exit_bar = exit_
    pnl = piece * exit_price - cost - fees
    return Trade(
        strategy_id=opened.strategy_id,
        symbol=opened.symbol,
        size=piece,
        entry_time=opened.entry_time,
        exit_time=exit_time,
        entry_price=opened.entry_price,
        exit_price=exit_price,
        pnl=pnl,
        fees=fees,
        return_pct=float(pnl / abs(cost)),
        entry_bar=opened.entry_bar,
        exit_bar=exit_bar,
    )


class TradeBuilder:
    """Turns fills, in time order, into trades as they close (usable live, one fill at a time).

    Fills are booked per (strategy_id, symbol); a ``fill_id`` seen before is skipped, as the ledger
    does. With ``bar_times`` (increasing bar timestamps, a sequence or an int64 array), trades
    carry the index of the last bar stamped at or before each entry and exit.
    """

    def __init__(
        self,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        default_instrument: Instrument = DEFAULT_INSTRUMENT,
        bar_times: Sequence[int] | npt.NDArray[np.int64] | None = None,
    ) -> None:
        self._instruments = dict(instruments or {})
        self._default_instrument = default_instrument
        self._bar_times = None if bar_times is None else _int_list(bar_times)
        self._holdings: dict[PositionKey, _Holding] = {}
        self._seen: set[str] = set()
        self._last_ts: int | None = None

    def apply(self, fill: Fill) -> Trade | None:
        """Book ``fill``; the trade (or piece) it closed, if any."""
        if fill.fill_id in self._seen:
            return None
        bar = self._checked_bar(fill)  # before any change: a bad fill leaves no trace
        self._seen.add(fill.fill_id)
        self._last_ts = fill.ts_event
        key = (fill.strategy_id, fill.symbol)
        holding = self._holdings.get(key)
        if holding is None or (holding.position.quantity > 0) == (fill.side is Side.BUY):
            self._open_or_add(key, holding, fill, (fill.quantity, fill.fee), bar)
            return None
        return self._reduce(key, holding, fill, bar)

    def open_trades(self) -> list[OpenTrade]:
        """The trades open now, sorted by strategy then symbol."""
        return [self._holdings[key].snapshot() for key in sorted(self._holdings)]

    def _reduce(self, key: PositionKey, holding: _Holding, fill: Fill, bar: int | None) -> Trade:
        held = abs(holding.position.quantity)
        closing = min(fill.quantity, held)
        close_fee = fill.fee
        if closing < fill.quantity:
            close_fee = _share(fill.fee, closing / fill.quantity, holding.position.instrument)
        trade = holding.close(closing, close_fee, (fill.ts_event, fill.price, bar))
        if closing == held:
            del self._holdings[key]
        if closing < fill.quantity:
            rest = (fill.quantity - closing, fill.fee - close_fee)
            self._open_or_add(key, None, fill, rest, bar)
        return trade

    def _open_or_add(
        self,
        key: PositionKey,
        holding: _Holding | None,
        fill: Fill,
        amount: tuple[Decimal, Decimal],
        bar: int | None,
    ) -> None:
        """Open a trade (or add to ``holding``) with ``amount`` = (quantity, fee) of ``fill``."""
        if holding is None:
            position = Position(fill.strategy_id, fill.symbol, self._instrument(fill.symbol))
            holding = self._holdings[key] = _Holding(position, fill.ts_event, bar)
        quantity, fee = amount
        holding.add(quantity, fill.price, fee, fill.side)

    def _instrument(self, symbol: str) -> Instrument:
        return self._instruments.get(symbol, self._default_instrument)

    def _checked_bar(self, fill: Fill) -> int | None:
        """Validate ``fill`` and return the bar it falls in (None without bar times)."""
        if self._last_ts is not None and fill.ts_event < self._last_ts:
            raise DataError(
                f"fills must be in time order: fill {fill.fill_id} at {fill.ts_event} comes "
                f"after a fill at {self._last_ts}"
            )
        _require_positive(fill.quantity, f"fill {fill.fill_id} quantity")
        _require_positive(fill.price, f"fill {fill.fill_id} price")
        _require_finite(fill.fee, f"fill {fill.fill_id} fee")
        if self._bar_times is None:
            return None
        return bar_at(self._bar_times, fill.ts_event, f"fill {fill.fill_id}")


def _int_list(times: Sequence[int] | npt.NDArray[np.int64]) -> list[int]:
    """A list to bisect: of Python ints for an array, which compare faster than numpy scalars."""
    return times.tolist() if isinstance(times, np.ndarray) else list(times)


def _require_finite(value: Decimal, what: str) -> None:
    if not value.is_finite():
        raise DataError(f"{what} must be finite, got {value}")


def _require_positive(value: Decimal, what: str) -> None:
    if not value.is_finite() or value <= 0:
        raise DataError(f"{what} must be positive, got {value}")


def build_trades(
    fills: Iterable[Fill],
    instruments: Mapping[str, Instrument] | None = None,
    *,
    default_instrument: Instrument = DEFAULT_INSTRUMENT,
    bar_times: Sequence[int] | npt.NDArray[np.int64] | None = None,
) -> TradeBook:
    """Every trade the time-ordered ``fills`` close, and those left open (see the module doc)."""
    builder = TradeBuilder(instruments, default_instrument=default_instrument, bar_times=bar_times)
    closed = [trade for fill in fills if (trade := builder.apply(fill)) is not None]
    return TradeBook(closed=tuple(closed), open=tuple(builder.open_trades()))
