"""The ledger against the fills it was given: exact sums, idempotence, and an independent model."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from tickmesh.core.stamp import Stamper
from tickmesh.model import Fill, Instrument, PortfolioSnapshot, Side
from tickmesh.portfolio import Portfolio

D = Decimal
STARTING = D("100000")
INSTRUMENTS = {
    "BTC": Instrument(symbol="BTC", price_increment=D("0.01"), size_increment=D("0.001")),
    "EUR": Instrument(symbol="EUR", price_increment=D("0.00001"), size_increment=D("1")),
}
SYMBOLS = ["BTC", "EUR", "XYZ"]  # XYZ uses the default instrument
STRATEGIES = ["s1", "s2"]


@st.composite
def fill_specs(draw: st.DrawFn) -> tuple[str, str, Side, Decimal, Decimal, Decimal]:
    """Small quantities at few prices, so positions often return to and cross zero."""
    return (
        draw(st.sampled_from(STRATEGIES)),
        draw(st.sampled_from(SYMBOLS)),
        draw(st.sampled_from(Side)),
        D(draw(st.integers(1, 5))) * D(draw(st.sampled_from(["1", "0.5", "0.001"]))),
        D(draw(st.integers(9_000, 11_000))) / 100,
        D(draw(st.integers(0, 300))) / 100,
    )


@st.composite
def fill_streams(draw: st.DrawFn) -> list[Fill]:
    """Unique fills with some of them delivered again later (as a bus redelivery would)."""
    specs = draw(st.lists(fill_specs(), min_size=1, max_size=40))
    fills = [make_fill(i, *spec) for i, spec in enumerate(specs)]
    duplicates = draw(st.lists(st.sampled_from(fills), max_size=10))
    for duplicate in duplicates:
        fills.insert(draw(st.integers(fills.index(duplicate) + 1, len(fills))), duplicate)
    return fills


def make_fill(
    n: int, strategy: str, symbol: str, side: Side, quantity: Decimal, price: Decimal, fee: Decimal
) -> Fill:
    return Fill(
        event_id=f"e{n}",
        ts_event=n,
        ts_init=n,
        fill_id=f"o{n}-1",
        order_id=f"o{n}",
        strategy_id=strategy,
        symbol=symbol,
        side=side,
        quantity=quantity,
        price=price,
        fee=fee,
    )


marks = st.fixed_dictionaries(
    {s: st.integers(8_000_00, 12_000_00).map(lambda c: c / 100) for s in SYMBOLS}
)


def unique(fills: list[Fill]) -> list[Fill]:
    return list({f.fill_id: f for f in fills}.values())


def ledger(fills: list[Fill], prices: dict[str, float]) -> Portfolio:
    portfolio = Portfolio.rebuild(fills, STARTING, Stamper.deterministic("p"), INSTRUMENTS)
    for symbol, price in prices.items():
        portfolio.mark(symbol, price)
    return portfolio


def view(snapshot: PortfolioSnapshot) -> tuple[object, ...]:
    rows = [
        (p.strategy_id, p.symbol, p.quantity, p.avg_price, p.realized_pnl)
        for p in snapshot.positions
    ]
    return (snapshot.cash, snapshot.equity, snapshot.realized_pnl, snapshot.fees, rows)


@settings(max_examples=150, deadline=None)
@given(fills=fill_streams(), prices=marks)
def test_ledger_equals_sum_of_fills_exactly(fills: list[Fill], prices: dict[str, float]) -> None:
    portfolio = ledger(fills, prices)

    distinct = unique(fills)
    quantities: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for f in distinct:
        quantities[(f.strategy_id, f.symbol)] += f.side.sign * f.quantity
    snapshot = portfolio.snapshot(1)
    assert snapshot.cash == STARTING - sum(
        f.side.sign * f.quantity * f.price + f.fee for f in distinct
    )
    assert snapshot.fees == sum(f.fee for f in distinct)
    assert {(p.strategy_id, p.symbol): p.quantity for p in snapshot.positions} == quantities
    marked = sum(q * D(repr(prices[symbol])) for (_, symbol), q in quantities.items())
    assert snapshot.equity == snapshot.cash + marked
    assert snapshot.realized_pnl + snapshot.unrealized_pnl == snapshot.equity - STARTING
    assert snapshot.open_positions == sum(1 for q in quantities.values() if q)


@settings(max_examples=100, deadline=None)
@given(fills=fill_streams(), prices=marks)
def test_duplicates_change_nothing(fills: list[Fill], prices: dict[str, float]) -> None:
    portfolio = ledger(fills, prices)
    before = view(portfolio.snapshot(1))

    applied = [portfolio.apply_fill(f) for f in fills]

    assert not any(applied)
    assert view(portfolio.snapshot(1)) == before
    assert view(ledger(unique(fills), prices).snapshot(1)) == before


@settings(max_examples=100, deadline=None)
@given(fills=fill_streams(), prices=marks)
def test_strategy_snapshots_sum_to_namespace(fills: list[Fill], prices: dict[str, float]) -> None:
    portfolio = ledger(fills, prices)

    whole = portfolio.snapshot(1)
    parts = portfolio.strategy_snapshots(1)

    assert sum((p.cash for p in parts), STARTING) == whole.cash
    assert sum((p.equity for p in parts), STARTING) == whole.equity
    for name in ("realized_pnl", "unrealized_pnl", "fees", "gross_exposure", "net_exposure"):
        assert sum((getattr(p, name) for p in parts), D(0)) == getattr(whole, name)
    assert sum(len(p.positions) for p in parts) == len(whole.positions)


@settings(max_examples=100, deadline=None)
@given(fills=fill_streams(), prices=marks)
def test_rebuild_from_fills_equals_live_ledger(fills: list[Fill], prices: dict[str, float]) -> None:
    live = Portfolio(STARTING, Stamper.deterministic("live"), INSTRUMENTS)
    for f in fills:  # marks arrive between fills in the live session
        live.apply_fill(f)
        live.mark(f.symbol, prices[f.symbol])
    for symbol, price in prices.items():
        live.mark(symbol, price)

    rebuilt = ledger(unique(fills), prices)

    assert view(rebuilt.snapshot(1)) == view(live.snapshot(1))
    assert rebuilt.equals_positions(live.snapshot(1).positions)


@settings(max_examples=100, deadline=None)
@given(fills=fill_streams())
def test_average_cost_matches_exact_rational_model(fills: list[Fill]) -> None:
    portfolio = ledger(fills, {})
    model = rational_average_cost(unique(fills))

    for position in portfolio.positions():
        quantity, cost, realized = model[(position.strategy_id, position.symbol)]
        instrument = portfolio.instrument(position.symbol)
        grid = Fraction(instrument.price_increment * instrument.size_increment)
        assert Fraction(position.quantity) == quantity
        assert abs(Fraction(position.realized_pnl) - realized) <= grid * len(fills)
        if not quantity:  # flat: everything is realized, with no rounding left behind
            assert (Fraction(position.realized_pnl), position.cost) == (realized, D(0))
        else:  # a cost error is spread over the quantity, then rounded to the grid
            tolerance = grid * len(fills) / abs(quantity) + grid
            assert abs(Fraction(position.avg_price) - cost / quantity) <= tolerance


def rational_average_cost(fills: list[Fill]) -> dict[tuple[str, str], tuple[Fraction, ...]]:
    """Average-cost accounting with unrounded fractions, written independently of the ledger."""
    book: dict[tuple[str, str], tuple[Fraction, ...]] = defaultdict(lambda: (Fraction(0),) * 3)
    for f in fills:
        quantity, cost, realized = book[(f.strategy_id, f.symbol)]
        signed, price = f.side.sign * Fraction(f.quantity), Fraction(f.price)
        realized -= Fraction(f.fee)
        if quantity * signed < 0:
            closed = min(abs(signed), abs(quantity))
            avg = cost / quantity
            realized += closed * (price - avg) * (1 if quantity > 0 else -1)
            remaining = quantity + (closed if quantity < 0 else -closed)
            cost, quantity = avg * remaining, remaining
            signed += closed if signed < 0 else -closed
        book[(f.strategy_id, f.symbol)] = (quantity + signed, cost + signed * price, realized)
    return book
