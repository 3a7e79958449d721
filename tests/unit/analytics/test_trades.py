"""Round-trip trades from fills: directions, partial closes, flips, fee allocation, exact sums."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickmesh.analytics import Trade, TradeBuilder, build_trades
from tickmesh.core.errors import DataError
from tickmesh.core.stamp import Stamper
from tickmesh.model import Fill, Instrument, Side
from tickmesh.portfolio import Portfolio
from tickmesh.portfolio.ledger import DEFAULT_INSTRUMENT

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
BTC = Instrument(symbol="BTC", price_increment=D("0.01"), size_increment=D("0.001"))


def fill(
    n: int,
    side: Side,
    quantity: str,
    price: str,
    fee: str = "0",
    *,
    ts: int | None = None,
    strategy: str = "s",
    symbol: str = "BTC",
) -> Fill:
    stamp = n * 10 if ts is None else ts
    return Fill(
        event_id=f"e{n}",
        ts_event=stamp,
        ts_init=stamp,
        fill_id=f"f{n}",
        order_id=f"o{n}",
        strategy_id=strategy,
        symbol=symbol,
        side=side,
        quantity=D(quantity),
        price=D(price),
        fee=D(fee),
    )


def closed(*fills: Fill) -> tuple[Trade, ...]:
    return build_trades(fills, {"BTC": BTC}).closed


# --- round trips ----------------------------------------------------------------------------


def test_long_round_trip_nets_both_fees_from_pnl() -> None:
    (trade,) = closed(fill(1, BUY, "2", "100", "1"), fill(2, SELL, "2", "110", "1.1"))

    assert (trade.size, trade.side, trade.entry_price, trade.exit_price) == (
        D(2),
        BUY,
        D(100),
        D(110),
    )
    assert (trade.pnl, trade.fees) == (D("17.9"), D("2.1"))
    assert trade.return_pct == pytest.approx(0.1 - 2.1 / 200)
    assert (trade.entry_time, trade.exit_time, trade.duration) == (10, 20, 10)


def test_short_round_trip_has_negative_size_and_gains_when_price_falls() -> None:
    (trade,) = closed(fill(1, SELL, "3", "50"), fill(2, BUY, "3", "40"))

    assert (trade.size, trade.side, trade.pnl) == (D(-3), SELL, D(30))
    assert trade.return_pct == pytest.approx((40 / 50 - 1) * -1)


def test_adding_to_a_trade_averages_entry_price_and_keeps_first_entry_time() -> None:
    (trade,) = closed(fill(1, BUY, "1", "100"), fill(2, BUY, "1", "110"), fill(3, SELL, "2", "120"))

    assert (trade.size, trade.entry_price, trade.entry_time, trade.pnl) == (D(2), D(105), 10, D(30))
    assert trade.return_pct == pytest.approx(30 / 210)


def test_partial_close_splits_trade_and_keeps_the_rest_open() -> None:
    book = build_trades(
        [fill(1, BUY, "4", "100", "4"), fill(2, SELL, "1", "110", "0.5")], {"BTC": BTC}
    )

    (piece,) = book.closed
    (rest,) = book.open
    assert (piece.size, piece.fees, piece.pnl) == (D(1), D("1.5"), D("8.5"))
    assert (rest.size, rest.cost, rest.fees, rest.entry_time) == (D(3), D(300), D(3), 10)


def test_fill_through_zero_closes_trade_and_opens_opposite_one_at_fill() -> None:
    book = build_trades([fill(1, BUY, "2", "100"), fill(2, SELL, "5", "90", "5")], {"BTC": BTC})

    (old,) = book.closed
    (new,) = book.open
    assert (old.size, old.exit_price, old.fees, old.pnl) == (D(2), D(90), D(2), D(-22))
    assert (new.size, new.entry_price, new.fees, new.entry_time) == (D(-3), D(90), D(3), 20)


def test_opening_fee_shares_round_to_grid_and_add_up_exactly() -> None:
    fills = [fill(1, BUY, "3", "100", "1"), fill(2, SELL, "1", "100"), fill(3, SELL, "2", "100")]

    first, second = closed(*fills)

    assert (first.fees, second.fees) == (D("0.33333"), D("0.66667"))  # 0.01 x 0.001 grid
    assert first.fees + second.fees == D(1)


def test_round_trip_pnl_equals_its_cash_flows_exactly() -> None:
    fills = [
        fill(1, BUY, "0.3", "100.01", "0.07"),
        fill(2, BUY, "0.7", "101.37", "0.03"),
        fill(3, SELL, "0.1", "99.99", "0.011"),
        fill(4, SELL, "0.9", "102.5", "0.013"),
    ]

    trades = closed(*fills)

    cash_flows = sum(-f.side.sign * f.quantity * f.price - f.fee for f in fills)
    assert sum(t.pnl for t in trades) == cash_flows


def test_strategies_and_symbols_are_traded_separately() -> None:
    fills = [
        fill(1, BUY, "1", "100", strategy="a"),
        fill(2, SELL, "1", "100", strategy="b"),
        fill(3, BUY, "1", "10", symbol="ETH", strategy="a"),
        fill(4, SELL, "1", "110", strategy="a"),
    ]

    book = build_trades(fills)

    assert [(t.strategy_id, t.symbol, t.pnl) for t in book.closed] == [("a", "BTC", D(10))]
    assert [(o.strategy_id, o.symbol, o.size) for o in book.open] == [
        ("a", "ETH", D(1)),
        ("b", "BTC", D(-1)),
    ]


# --- open trades and bars -------------------------------------------------------------------


def test_open_trade_closed_at_a_price_equals_a_closing_fill() -> None:
    opening = [fill(1, BUY, "2", "100", "1")]
    (open_trade,) = build_trades(opening).open

    finalized = open_trade.close_at(20, D(110), D("1.1"))

    assert finalized == closed(*opening, fill(2, SELL, "2", "110", "1.1"))[0]
    assert open_trade.unrealized_pnl(D(110)) == D(19)


def test_open_trade_closed_before_its_entry_raises_data_error() -> None:
    (open_trade,) = build_trades([fill(1, BUY, "2", "100")]).open

    with pytest.raises(DataError, match="before its entry"):
        open_trade.close_at(5, D(100))


def test_bar_times_give_entry_and_exit_bar_of_last_bar_at_or_before() -> None:
    fills = [fill(1, BUY, "1", "100", ts=15), fill(2, SELL, "1", "100", ts=30)]

    (trade,) = build_trades(fills, bar_times=[0, 10, 20, 30, 40]).closed

    assert (trade.entry_bar, trade.exit_bar) == (1, 3)


def test_fill_before_the_first_bar_raises_data_error() -> None:
    with pytest.raises(DataError, match="fill f1 at 5 is before the first bar"):
        build_trades([fill(1, BUY, "1", "100", ts=5)], bar_times=[10, 20])


# --- bad input and redelivery ---------------------------------------------------------------


def test_fill_earlier_than_the_one_before_raises_data_error_naming_it() -> None:
    fills = [fill(1, BUY, "1", "100", ts=50), fill(2, SELL, "1", "100", ts=40)]

    with pytest.raises(DataError, match="fills must be in time order: fill f2 at 40"):
        build_trades(fills)


@pytest.mark.parametrize(
    ("quantity", "price", "fee", "match"),
    [
        ("0", "100", "0", "quantity must be positive"),
        ("1", "-1", "0", "price must be positive"),
        ("1", "NaN", "0", "price must be positive"),
        ("1", "100", "Infinity", "fee must be finite"),
    ],
)
def test_malformed_fill_raises_data_error(quantity: str, price: str, fee: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        build_trades([fill(1, BUY, quantity, price, fee)])


def test_rejected_fill_leaves_the_builder_unchanged() -> None:
    builder = TradeBuilder(bar_times=[10, 20])
    builder.apply(fill(1, BUY, "1", "100", ts=10))

    with pytest.raises(DataError):
        builder.apply(fill(2, SELL, "1", "0", ts=20))
    trade = builder.apply(fill(2, SELL, "1", "110", ts=20))

    assert trade is not None
    assert (trade.pnl, trade.entry_bar, trade.exit_bar) == (D(10), 0, 1)


def test_redelivered_fill_is_skipped() -> None:
    builder = TradeBuilder()
    opening = fill(1, BUY, "1", "100")

    builder.apply(opening)
    builder.apply(fill(2, SELL, "1", "105"))

    assert builder.apply(opening) is None
    assert builder.open_trades() == []


def test_trade_to_dict_is_json_with_exact_decimal_strings() -> None:
    (trade,) = closed(fill(1, SELL, "0.5", "100.10"), fill(2, BUY, "0.5", "90.05"))

    doc, raw = trade.to_dict(), trade.to_dict(human=False)

    assert json.loads(json.dumps(doc)) == doc
    assert (doc["side"], doc["size"], doc["pnl"], doc["fees"]) == ("SELL", "-0.5", "5.025", "0")
    assert (doc["entry_time"], doc["duration"]) == (
        "1970-01-01T00:00:00.000000010Z",
        "0 days 00:00:00.000000010",
    )
    assert (raw["entry_time"], raw["exit_time"], raw["duration"]) == (10, 20, 10)


# --- against the ledger ---------------------------------------------------------------------

INSTRUMENTS = {
    "BTC": BTC,
    "EUR": Instrument(symbol="EUR", price_increment=D("0.00001"), size_increment=D("1")),
}
SYMBOLS = ["BTC", "EUR", "XYZ"]  # XYZ uses the default instrument


@st.composite
def fill_streams(draw: st.DrawFn) -> list[Fill]:
    """Small quantities at few prices and times, so trades often flip, split and share a time."""
    count = draw(st.integers(1, 40))
    fills = []
    ts = 0
    for n in range(count):
        ts += draw(st.integers(0, 3))
        quantity = D(draw(st.integers(1, 5))) * D(draw(st.sampled_from(["1", "0.5", "0.001"])))
        price = D(draw(st.integers(9_000, 11_000))) / 100
        fee = D(draw(st.integers(0, 300))) / 1000
        side = draw(st.sampled_from(Side))
        strategy, symbol = draw(st.sampled_from(["s1", "s2"])), draw(st.sampled_from(SYMBOLS))
        fills.append(
            fill(
                n,
                side,
                str(quantity),
                str(price),
                str(fee),
                ts=ts,
                strategy=strategy,
                symbol=symbol,
            )
        )
    return fills


marks = st.fixed_dictionaries(
    {s: st.integers(9_000, 11_000).map(lambda c: D(c) / 100) for s in SYMBOLS}
)


@settings(max_examples=150, deadline=None)
@given(fills=fill_streams(), prices=marks)
def test_trade_pnl_plus_open_value_equals_ledger_pnl_exactly(
    fills: list[Fill], prices: dict[str, Decimal]
) -> None:
    book = build_trades(fills, INSTRUMENTS)
    ledger = Portfolio.rebuild(fills, D(0), Stamper.deterministic("p"), INSTRUMENTS)
    for symbol, price in prices.items():
        ledger.mark(symbol, float(price))

    totals = ledger.totals()
    closed_pnl = sum((t.pnl for t in book.closed), D(0))
    open_value = sum((o.unrealized_pnl(prices[o.symbol]) for o in book.open), D(0))
    assert closed_pnl + open_value == totals.realized_pnl + totals.unrealized_pnl
    assert closed_pnl - sum((o.fees for o in book.open), D(0)) == totals.realized_pnl


@settings(max_examples=100, deadline=None)
@given(fills=fill_streams())
def test_open_trades_are_the_ledger_positions_and_fees_add_up(fills: list[Fill]) -> None:
    book = build_trades(fills, INSTRUMENTS)
    ledger = Portfolio.rebuild(fills, D(0), Stamper.deterministic("p"), INSTRUMENTS)

    positions = {
        (p.strategy_id, p.symbol): (p.quantity, p.cost) for p in ledger.positions() if p.is_open
    }
    assert {(o.strategy_id, o.symbol): (o.size, o.cost) for o in book.open} == positions
    allocated = sum((t.fees for t in book.closed), D(0)) + sum((o.fees for o in book.open), D(0))
    assert allocated == sum((f.fee for f in fills), D(0))


@settings(max_examples=100, deadline=None)
@given(fills=fill_streams())
def test_each_trade_return_is_pnl_over_its_cost_basis_near_size_times_entry(
    fills: list[Fill],
) -> None:
    book = build_trades(fills, INSTRUMENTS)

    for trade in book.closed:
        instrument = INSTRUMENTS.get(trade.symbol, DEFAULT_INSTRUMENT)
        grid = instrument.price_increment * instrument.size_increment
        basis = abs(trade.size * trade.exit_price - trade.pnl - trade.fees)
        assert trade.return_pct == float(trade.pnl / basis)
        assert abs(basis - abs(trade.size) * trade.entry_price) <= grid * (abs(trade.size) + 1)
        assert trade.exit_time >= trade.entry_time


@settings(max_examples=100, deadline=None)
@given(fills=fill_streams())
def test_every_fill_quantity_opens_and_closes_or_stays_open(fills: list[Fill]) -> None:
    book = build_trades(fills, INSTRUMENTS)

    traded: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for f in fills:
        traded[(f.strategy_id, f.symbol)] += f.quantity
    accounted: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for t in book.closed:
        accounted[(t.strategy_id, t.symbol)] += 2 * abs(t.size)
    for o in book.open:
        accounted[(o.strategy_id, o.symbol)] += abs(o.size)
    assert accounted == traded
