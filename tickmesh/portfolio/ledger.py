"""The namespace's ledger: fills in, positions, cash, PnL and snapshots out.

Positions are booked per (strategy_id, symbol), and every namespace figure is the sum of the
strategies' figures, so per-strategy snapshots add up to the namespace snapshot exactly (two
strategies long and short the same symbol both count towards gross exposure). Cash belongs to the
namespace: a strategy's snapshot shows its net cash flow as ``cash`` (starting at zero) and its
PnL as ``equity``; the namespace snapshot adds the starting cash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, Inexact, Rounded, localcontext
from typing import NamedTuple

from tickmesh.core.decimal import ZERO, is_power_of_ten, to_decimal
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Fill, PortfolioSnapshot, PositionSnapshot
from tickmesh.model.instrument import Instrument
from tickmesh.model.marks import Marks
from tickmesh.model.position import PositionLike
from tickmesh.portfolio.position import Position

DEFAULT_INSTRUMENT = Instrument(symbol="")

PositionKey = tuple[str, str]
"""(strategy_id, symbol)"""


class Totals(NamedTuple):
    """Sums over a set of positions at the current marks."""

    cash_flow: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal
    open_positions: int


class Portfolio:
    """Idempotent ledger of fills: ``cash == starting - sum(side*qty*price) - sum(fees)`` exactly.

    A symbol is marked at its last :meth:`mark` price, or at its first fill's price until then.
    """

    def __init__(
        self,
        starting_cash: Decimal,
        stamper: Stamper,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        default_instrument: Instrument = DEFAULT_INSTRUMENT,
    ) -> None:
        self.starting_cash = starting_cash
        self._stamp = stamper
        self._instruments = dict(instruments or {})
        self._default_instrument = default_instrument
        self._positions: dict[PositionKey, Position] = {}
        self._marks = Marks(self.instrument)
        self._applied: set[str] = set()

    @classmethod
    def rebuild(
        cls,
        fills: Iterable[Fill],
        starting_cash: Decimal,
        stamper: Stamper,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        default_instrument: Instrument = DEFAULT_INSTRUMENT,
    ) -> Portfolio:
        """A ledger replayed from stored fills, in the order given (duplicates skipped)."""
        portfolio = cls(starting_cash, stamper, instruments, default_instrument=default_instrument)
        for fill in fills:
            portfolio.apply_fill(fill)
        return portfolio

    def instrument(self, symbol: str) -> Instrument:
        return self._instruments.get(symbol, self._default_instrument)

    # --- inputs ---------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> bool:
        """Book ``fill``; ``False`` and no change when its ``fill_id`` was already booked."""
        if fill.fill_id in self._applied:
            return False
        self._applied.add(fill.fill_id)
        key = (fill.strategy_id, fill.symbol)
        position = self._positions.get(key)
        if position is None:
            position = Position(fill.strategy_id, fill.symbol, self.instrument(fill.symbol))
            self._positions[key] = position
        position.apply(fill.side, fill.quantity, fill.price, fill.fee)
        self._marks.setdefault(fill.symbol, fill.price)
        return True

    def mark(self, symbol: str, price: float) -> None:
        """Mark ``symbol`` at a market price, rounded to its price increment."""
        if not math.isfinite(price):
            raise ValueError(f"mark price for {symbol} must be finite, got {price!r}")
        self._marks.set(symbol, price)

    # --- reads ----------------------------------------------------------------------------

    def last_price(self, symbol: str) -> Decimal:
        return self._marks.get(symbol, ZERO)

    def positions(self, strategy_id: str | None = None) -> list[Position]:
        """Every booked position (flat ones too), sorted by symbol then strategy."""
        chosen = (
            p
            for p in self._positions.values()
            if strategy_id is None or p.strategy_id == strategy_id
        )
        return sorted(chosen, key=lambda p: (p.symbol, p.strategy_id))

    def net_positions(self) -> dict[str, Decimal]:
        """Quantity per symbol summed over strategies (what one venue account holds), non-zero
        only, sorted by symbol: the form ``PaperMatchingEngine.restore`` takes."""
        net: dict[str, Decimal] = {}
        for position in self.positions():
            net[position.symbol] = net.get(position.symbol, ZERO) + position.quantity
        return {symbol: quantity for symbol, quantity in net.items() if quantity}

    def strategies(self) -> list[str]:
        return sorted({p.strategy_id for p in self._positions.values()})

    def totals(self, strategy_id: str | None = None) -> Totals:
        """Sums over one strategy's positions, or all of them."""
        return self._totals(self.positions(strategy_id))

    def _totals(self, positions: Iterable[Position]) -> Totals:
        """One pass, each sum in position order from zero (as ``sum(..., ZERO)`` adds)."""
        cash_flow = realized = unrealized = fees = gross = net = ZERO
        open_positions = 0
        marks = self._marks
        for p in positions:
            mark = marks.get(p.symbol, ZERO)
            value = p.market_value(mark)
            cash_flow += p.cash_flow
            realized += p.realized_pnl
            unrealized += p.unrealized_pnl(mark)
            fees += p.fees
            gross += abs(value)
            net += value
            open_positions += p.is_open
        return Totals(cash_flow, realized, unrealized, fees, gross, net, open_positions)

    @property
    def cash(self) -> Decimal:
        return self.starting_cash + self.totals().cash_flow

    @property
    def equity(self) -> Decimal:
        """Cash plus every position at its mark (what :meth:`totals` sums, without the rest)."""
        total = self.starting_cash
        for p in self._positions.values():
            total += p.cash_flow + p.market_value(self._marks.get(p.symbol, ZERO))
        return total

    def equity_path(self, marks: Mapping[str, Sequence[float]]) -> list[Decimal]:
        """What :attr:`equity` would read after each of k steps, step j marking each symbol of
        ``marks`` at its j-th price (NaN: not at that step); nothing changes here. Only open
        positions are re-priced: a flat one is worth zero at any mark."""
        steps = len(next(iter(marks.values()), ()))
        positions = list(self._positions.values())
        if len(marks) == 1:
            symbol, prices = next(iter(marks.items()))
            one = self._one_symbol_path(symbol, prices, positions)
            if one is not None:
                return one
        current = {symbol: self._marks.get(symbol, ZERO) for symbol in marks}
        moving = [
            (symbol, prices, self.instrument(symbol))
            for symbol, prices in marks.items()
            if symbol not in self._marks or any(p.quantity for p in positions if p.symbol == symbol)
        ]
        path: list[Decimal] = []
        value: Decimal | None = None
        for step in range(steps):
            for symbol, prices, instrument in moving:
                price = prices[step]
                if not math.isnan(price):
                    if math.isinf(price):
                        raise ValueError(f"mark price for {symbol} must be finite, got {price!r}")
                    current[symbol] = instrument.round_price(to_decimal(price))
                    value = None
            if value is None:
                value = self.starting_cash
                for p in positions:
                    mark = (
                        current[p.symbol]
                        if p.symbol in current
                        else self._marks.get(p.symbol, ZERO)
                    )
                    value += p.cash_flow + p.market_value(mark)
            path.append(value)
        return path

    def _one_symbol_path(
        self, symbol: str, prices: Sequence[float], positions: list[Position]
    ) -> list[Decimal] | None:
        """:meth:`equity_path` when one symbol is marked at every step: ``base + quantity x
        mark``, equal digit for digit to the sum :attr:`equity` makes, since no addition or
        product here rounds (checked: None when one would, or when a price is not finite)."""
        instrument = self.instrument(symbol)
        if not is_power_of_ten(instrument.price_increment) or not all(map(math.isfinite, prices)):
            return None
        with localcontext() as ctx:
            ctx.traps[Inexact] = ctx.traps[Rounded] = True
            try:
                base, quantity = self.starting_cash, None
                for p in positions:
                    if p.symbol == symbol:
                        base += p.cash_flow
                        quantity = p.quantity if quantity is None else quantity + p.quantity
                    else:
                        base += p.cash_flow + p.market_value(self._marks.get(p.symbol, ZERO))
            except (Inexact, Rounded):
                return None
        if quantity is None:  # nothing held in the symbol: its marks move nothing
            return [base] * len(prices)
        increment = instrument.price_increment
        if not quantity:  # flat: zero at any mark of the increment's exponent
            return [base + quantity * increment] * len(prices)
        exact = _integer_path(base, quantity, increment, prices)
        if exact is not None:
            return exact
        # instrument.round_price(to_decimal(price)), inlined: one quantize for such increments
        marks = [Decimal(repr(price)).quantize(increment) for price in prices]
        with localcontext() as ctx:
            ctx.traps[Inexact] = ctx.traps[Rounded] = True
            try:
                return [base + quantity * mark for mark in marks]
            except (Inexact, Rounded):
                return None

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self, ts_event: int, strategy_id: str = "") -> PortfolioSnapshot:
        """The namespace (``strategy_id=""``) or one strategy, positions sorted by symbol."""
        selected = strategy_id or None
        positions = self.positions(selected)
        totals = self._totals(positions)
        cash = totals.cash_flow + (ZERO if selected else self.starting_cash)
        return PortfolioSnapshot(
            **self._stamp(ts_event),
            strategy_id=strategy_id,
            cash=cash,
            equity=cash + totals.net_exposure,
            realized_pnl=totals.realized_pnl,
            unrealized_pnl=totals.unrealized_pnl,
            fees=totals.fees,
            gross_exposure=totals.gross_exposure,
            net_exposure=totals.net_exposure,
            open_positions=totals.open_positions,
            positions=tuple(self._position_snapshot(p, ts_event) for p in positions),
        )

    def strategy_snapshots(self, ts_event: int) -> list[PortfolioSnapshot]:
        return [self.snapshot(ts_event, s) for s in self.strategies()]

    def _position_snapshot(self, position: Position, ts_event: int) -> PositionSnapshot:
        mark = self.last_price(position.symbol)
        return PositionSnapshot(
            **self._stamp(ts_event),
            strategy_id=position.strategy_id,
            symbol=position.symbol,
            quantity=position.quantity,
            avg_price=position.avg_price,
            last_price=mark,
            realized_pnl=position.realized_pnl,
            unrealized_pnl=position.unrealized_pnl(mark),
        )

    # --- start-up check -------------------------------------------------------------------

    def position_mismatches(self, stored: Iterable[PositionLike]) -> list[str]:
        """How the ledger's positions differ from ``stored`` in quantity or average price.

        A position missing on one side counts as flat, so stored flat positions may be omitted.
        """
        mine = {(p.strategy_id, p.symbol): (p.quantity, p.avg_price) for p in self.positions()}
        theirs = {(s.strategy_id, s.symbol): (s.quantity, s.avg_price) for s in stored}
        flat = (ZERO, ZERO)
        mismatches = []
        for key in sorted(mine.keys() | theirs.keys()):
            ours, saved = mine.get(key, flat), theirs.get(key, flat)
            if ours != saved:
                mismatches.append(f"{key[0]}/{key[1]}: ledger {ours} != stored {saved}")
        return mismatches

    def equals_positions(self, stored: Iterable[PositionLike]) -> bool:
        """True when every position equals the stored one exactly (quantity and average price)."""
        return not self.position_mismatches(stored)


_UNAMBIGUOUS_BELOW = float(1 << 44)


def _integer_path(
    base: Decimal, quantity: Decimal, increment: Decimal, prices: Sequence[float]
) -> list[Decimal] | None:
    """``[base + quantity x round(price, increment) for price in prices]`` in integer units of
    the result's exponent, digit for digit (coefficient and exponent), or None where that cannot
    be promised: ``increment`` is a power of ten ``10**-p``.

    A price rounds to ``round(price x 10**p)`` units: its shortest repr (what ``to_decimal``
    rounds) and the float product differ by at most about 2.3e-16 of the product (under 0.004
    of a unit below 2**44 units), so only a product that close to a half could round the other
    way: those few are rounded from their repr as Decimals. The sum's exponent is
    ``min(exp(base), exp(quantity) - p)``, as Decimal addition gives it; Python integers are
    exact, and a result beyond the context's digits is refused (None) as the sum would be."""
    p = -increment.as_tuple().exponent  # type: ignore[operator]
    q_exp, b_exp = quantity.as_tuple().exponent, base.as_tuple().exponent
    if p < 0 or not isinstance(q_exp, int) or not isinstance(b_exp, int):
        return None
    exponent = min(b_exp, q_exp - p)
    scale = 10.0**p
    units = [price * scale for price in prices]
    largest = max(map(abs, units), default=0.0)
    if not largest < _UNAMBIGUOUS_BELOW:
        return None
    marks = [round(u) for u in units]
    near = 1e-9 + 4.5e-16 * largest
    for k, (u, m) in enumerate(zip(units, marks, strict=True)):
        if abs(abs(u - m) - 0.5) <= near:  # round it the way to_decimal's repr rounds
            marks[k] = int(to_decimal(prices[k]).quantize(increment).scaleb(p))
    base_units = int(base.scaleb(-exponent))
    q_units = int(quantity.scaleb(-q_exp)) * 10 ** (q_exp - p - exponent)
    with localcontext() as ctx:
        ctx.traps[Inexact] = ctx.traps[Rounded] = True
        try:
            return [Decimal(base_units + q_units * m).scaleb(exponent) for m in marks]
        except (Inexact, Rounded):
            return None
