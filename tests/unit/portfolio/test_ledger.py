from __future__ import annotations

import decimal
import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickmesh.core.stamp import Stamper
from tickmesh.model import Fill, Instrument, PortfolioSnapshot, Side
from tickmesh.portfolio import Portfolio

D = Decimal
INSTRUMENTS = {
    "BTC": Instrument(symbol="BTC", price_increment=D("0.01"), size_increment=D("0.001")),
    "ETH": Instrument(symbol="ETH", price_increment=D("0.01"), size_increment=D("0.001")),
}


def make_portfolio(cash: str = "10000") -> Portfolio:
    return Portfolio(D(cash), Stamper.deterministic("portfolio", "paper"), INSTRUMENTS)


def fill(
    fill_id: str,
    side: Side,
    quantity: str,
    price: str,
    *,
    symbol: str = "BTC",
    strategy: str = "s1",
    fee: str = "0",
) -> Fill:
    return Fill(
        event_id=f"e-{fill_id}",
        ts_event=1,
        ts_init=1,
        fill_id=fill_id,
        order_id=fill_id.split("-", maxsplit=1)[0],
        strategy_id=strategy,
        symbol=symbol,
        side=side,
        quantity=D(quantity),
        price=D(price),
        fee=D(fee),
    )


FILLS = [
    fill("a-1", Side.BUY, "2", "100", fee="0.2"),
    fill("b-1", Side.SELL, "1", "2000", symbol="ETH", strategy="s2", fee="0.5"),
    fill("c-1", Side.BUY, "1", "101", strategy="s2", fee="0.1"),
    fill("a-2", Side.SELL, "0.5", "110", fee="0.06"),
]


def filled_portfolio() -> Portfolio:
    portfolio = make_portfolio()
    for f in FILLS:
        portfolio.apply_fill(f)
    return portfolio


def position_rows(
    snapshot: PortfolioSnapshot,
) -> list[tuple[str, str, Decimal, Decimal, Decimal, Decimal]]:
    return [
        (p.strategy_id, p.symbol, p.quantity, p.avg_price, p.realized_pnl, p.unrealized_pnl)
        for p in snapshot.positions
    ]


def figures(snapshot: PortfolioSnapshot) -> tuple[object, ...]:
    """Everything a snapshot says except its event id and creation time."""
    return (
        snapshot.strategy_id,
        snapshot.cash,
        snapshot.equity,
        snapshot.realized_pnl,
        snapshot.unrealized_pnl,
        snapshot.fees,
        snapshot.gross_exposure,
        snapshot.net_exposure,
        snapshot.open_positions,
        position_rows(snapshot),
    )


def test_cash_is_starting_less_signed_notional_and_fees() -> None:
    portfolio = filled_portfolio()

    assert portfolio.cash == D(10000) - D(200) + D(2000) - D(101) + D(55) - D("0.86")
    assert portfolio.totals().fees == D("0.86")


def test_duplicate_fill_is_refused_and_changes_nothing() -> None:
    portfolio = filled_portfolio()
    before = figures(portfolio.snapshot(5))

    applied = portfolio.apply_fill(FILLS[0])

    assert applied is False
    assert figures(portfolio.snapshot(5)) == before


def test_new_fill_is_applied() -> None:
    assert make_portfolio().apply_fill(FILLS[0]) is True


def test_mark_rounds_to_price_increment_and_moves_unrealized_and_equity() -> None:
    portfolio = make_portfolio()
    portfolio.apply_fill(fill("a-1", Side.BUY, "2", "100"))

    portfolio.mark("BTC", 105.004)

    snapshot = portfolio.snapshot(9)
    assert portfolio.last_price("BTC") == D("105.00")
    assert snapshot.unrealized_pnl == D(10)
    assert snapshot.equity == D(10010) == portfolio.equity


def test_unmarked_symbol_is_valued_at_first_fill_price() -> None:
    portfolio = make_portfolio()
    portfolio.apply_fill(fill("a-1", Side.BUY, "1", "100"))

    portfolio.apply_fill(fill("a-2", Side.BUY, "1", "120"))

    assert portfolio.last_price("BTC") == D(100)
    assert portfolio.snapshot(1).unrealized_pnl == D(-20)


def test_non_finite_mark_is_refused() -> None:
    with pytest.raises(ValueError, match="BTC"):
        make_portfolio().mark("BTC", float("nan"))


def test_a_mark_before_the_first_fill_values_it_and_the_latest_of_several_marks_counts() -> None:
    portfolio = make_portfolio()
    portfolio.mark("BTC", 90.0)
    portfolio.apply_fill(fill("a-1", Side.BUY, "1", "100"))
    assert portfolio.last_price("BTC") == D(90)

    for price in (91.004, 92.5, 93.006):
        portfolio.mark("BTC", price)
    portfolio.mark("ETH", 7.0)

    assert portfolio.last_price("BTC") == D("93.01")
    assert portfolio.equity == D(10_000) - D(100) + D("93.01")


def test_a_mark_too_large_to_round_fails_at_once_and_keeps_the_mark_before() -> None:
    portfolio = make_portfolio()
    portfolio.apply_fill(fill("a-1", Side.BUY, "1", "100"))
    portfolio.mark("BTC", 101.0)

    with pytest.raises(decimal.InvalidOperation):
        portfolio.mark("BTC", 1e30)

    assert portfolio.last_price("BTC") == D(101)


def test_snapshot_exposure_and_open_positions() -> None:
    portfolio = filled_portfolio()
    portfolio.mark("BTC", 100.0)
    portfolio.mark("ETH", 2000.0)

    snapshot = portfolio.snapshot(7)

    assert (snapshot.gross_exposure, snapshot.net_exposure) == (D(2250), D(-1750))
    assert snapshot.open_positions == 3
    assert snapshot.ts_event == 7
    assert snapshot.namespace == "paper"


def test_snapshot_positions_are_sorted_by_symbol_then_strategy() -> None:
    snapshot = filled_portfolio().snapshot(1)

    keys = [(p.symbol, p.strategy_id) for p in snapshot.positions]

    assert keys == [("BTC", "s1"), ("BTC", "s2"), ("ETH", "s2")]


def test_realized_plus_unrealized_equals_equity_less_starting_cash() -> None:
    portfolio = filled_portfolio()
    portfolio.mark("BTC", 97.31)

    snapshot = portfolio.snapshot(1)

    assert snapshot.realized_pnl + snapshot.unrealized_pnl == snapshot.equity - D(10000)


def test_strategy_snapshots_sum_to_namespace_snapshot() -> None:
    portfolio = filled_portfolio()
    portfolio.mark("ETH", 1990.5)

    whole = portfolio.snapshot(3)
    parts = portfolio.strategy_snapshots(3)

    assert [p.strategy_id for p in parts] == ["s1", "s2"]
    assert sum((p.cash for p in parts), D(10000)) == whole.cash
    assert sum((p.equity for p in parts), D(10000)) == whole.equity
    for name in ("realized_pnl", "unrealized_pnl", "fees", "gross_exposure", "net_exposure"):
        assert sum((getattr(p, name) for p in parts), D(0)) == getattr(whole, name)
    assert sum(p.open_positions for p in parts) == whole.open_positions
    assert sorted(row for p in parts for row in position_rows(p)) == sorted(position_rows(whole))


def test_rebuild_from_fills_equals_live_ledger() -> None:
    live = filled_portfolio()

    rebuilt = Portfolio.rebuild(
        [*FILLS, FILLS[1]], D(10000), Stamper.deterministic("other"), INSTRUMENTS
    )

    assert figures(rebuilt.snapshot(1)) == figures(live.snapshot(1))
    assert rebuilt.equals_positions(live.snapshot(1).positions)


def test_stored_positions_with_other_quantity_are_reported() -> None:
    stored = filled_portfolio().snapshot(1).positions
    ledger = make_portfolio()
    for f in FILLS[:-1]:
        ledger.apply_fill(f)

    mismatches = ledger.position_mismatches(stored)

    assert not ledger.equals_positions(stored)
    assert len(mismatches) == 1
    assert mismatches[0].startswith("s1/BTC")


def test_stored_positions_may_omit_flat_ones() -> None:
    portfolio = make_portfolio()
    portfolio.apply_fill(fill("a-1", Side.BUY, "1", "100"))
    portfolio.apply_fill(fill("a-2", Side.SELL, "1", "105"))
    portfolio.apply_fill(fill("b-1", Side.BUY, "1", "10", symbol="ETH"))
    open_only = [p for p in portfolio.snapshot(1).positions if p.quantity]

    assert portfolio.equals_positions(open_only)
    assert not portfolio.equals_positions([])


def test_net_positions_sum_strategies_per_symbol_and_drop_flat() -> None:
    portfolio = make_portfolio()
    portfolio.apply_fill(fill("a-1", Side.BUY, "2", "100", strategy="s1"))
    portfolio.apply_fill(fill("b-1", Side.BUY, "1", "100", strategy="s2"))
    portfolio.apply_fill(fill("c-1", Side.BUY, "1", "10", symbol="ETH"))
    portfolio.apply_fill(fill("c-2", Side.SELL, "1", "11", symbol="ETH"))

    assert portfolio.net_positions() == {"BTC": D(3)}


def test_equity_path_reads_what_equity_reads_after_each_mark_and_changes_nothing() -> None:
    nan = float("nan")
    p = make_portfolio()
    p.apply_fill(fill("a-1", Side.BUY, "0.5", "100.00", fee="0.10"))
    p.apply_fill(fill("b-1", Side.SELL, "2", "10.00", symbol="ETH", strategy="s2"))
    p.apply_fill(fill("c-1", Side.BUY, "1", "50.00", symbol="BTC", strategy="s3"))
    p.apply_fill(fill("c-2", Side.SELL, "1", "51.00", symbol="BTC", strategy="s3"))
    marks = {"BTC": [101.004, nan, 99.5, 98.0], "ETH": [nan, 11.0, 12.255, nan]}
    before = p.equity

    path = p.equity_path(marks)

    assert p.equity == before
    expected = []
    for step in range(4):
        for symbol, prices in marks.items():
            if not math.isnan(prices[step]):
                p.mark(symbol, prices[step])
        expected.append(p.equity)
    assert [str(v) for v in path] == [str(v) for v in expected]


def test_equity_path_of_a_flat_book_is_its_cash_at_every_step() -> None:
    p = make_portfolio("500")
    p.apply_fill(fill("a-1", Side.BUY, "1", "100.00"))
    p.apply_fill(fill("a-2", Side.SELL, "1", "110.00"))

    assert p.equity_path({"BTC": [1.0, 2.0, 3.0]}) == [D("510.00")] * 3


@settings(max_examples=300, deadline=None)
@given(
    prices=st.lists(
        st.one_of(
            st.floats(0.0001, 150_000, allow_nan=False),
            st.integers(1, 10**12).map(lambda k: k / 10**8 + 5e-9),  # ties at the 9th decimal
        ),
        min_size=1,
        max_size=40,
    ),
    cash=st.decimals("-1e9", "1e9", places=4, allow_nan=False, allow_infinity=False),
    quantity=st.sampled_from(["1", "99", "0.001", "-3", "1250.5", "7E+2"]),
    places=st.sampled_from([0, 2, 5, 8]),
)
def test_a_one_symbol_equity_path_is_digit_for_digit_what_equity_reads(
    prices: list[float], cash: Decimal, quantity: str, places: int
) -> None:
    increment = D(1).scaleb(-places)
    instrument = Instrument(symbol="X", price_increment=increment, size_increment=D("0.001"))
    portfolio = Portfolio(D(10), Stamper.deterministic("p", "t"), {"X": instrument})
    qty = D(quantity)
    side = Side.BUY if qty > 0 else Side.SELL
    portfolio.apply_fill(
        Fill(event_id="e", ts_event=1, ts_init=1, fill_id="f", order_id="o", strategy_id="s",
             symbol="X", side=side, quantity=abs(qty), price=D("3.5"), fee=cash.copy_abs())
    )  # fmt: skip

    path = portfolio.equity_path({"X": prices})

    expected = []
    for price in prices:
        portfolio.mark("X", price)
        expected.append(portfolio.equity)
    assert [str(v) for v in path] == [str(v) for v in expected]
