from __future__ import annotations

from decimal import Decimal

from tickmesh.model import Instrument, Side
from tickmesh.portfolio import Position

D = Decimal
BTC = Instrument(symbol="BTC", price_increment=D("0.01"), size_increment=D("0.001"))


def position_after(*trades: tuple[Side, str, str]) -> Position:
    position = Position("s", "BTC", BTC)
    for side, quantity, price in trades:
        position.apply(side, D(quantity), D(price), D(0))
    return position


def test_increases_weight_average_price() -> None:
    position = position_after((Side.BUY, "2", "100"), (Side.BUY, "2", "110"))

    assert (position.quantity, position.avg_price, position.realized_pnl) == (D(4), D(105), D(0))


def test_partial_sell_realizes_against_average_and_keeps_it() -> None:
    position = position_after(
        (Side.BUY, "2", "100"), (Side.BUY, "2", "110"), (Side.SELL, "1", "120")
    )

    assert (position.quantity, position.avg_price, position.realized_pnl) == (D(3), D(105), D(15))


def test_short_cover_realizes_gain_when_price_fell() -> None:
    position = position_after((Side.SELL, "2", "100"), (Side.BUY, "1", "90"))

    assert (position.quantity, position.avg_price, position.realized_pnl) == (D(-1), D(100), D(10))


def test_sell_through_zero_closes_long_and_opens_short_at_fill_price() -> None:
    position = position_after((Side.BUY, "2", "100"), (Side.SELL, "5", "90"))

    assert (position.quantity, position.avg_price, position.realized_pnl) == (D(-3), D(90), D(-20))
    assert position.cost == D(-270)


def test_buy_through_zero_closes_short_and_opens_long() -> None:
    position = position_after((Side.SELL, "1", "50"), (Side.BUY, "3", "40"))

    assert (position.quantity, position.avg_price, position.realized_pnl) == (D(2), D(40), D(10))


def test_flat_position_has_no_cost_residue_after_rounded_partial_reductions() -> None:
    position = position_after(
        (Side.BUY, "1", "100"), (Side.BUY, "2", "100.01"), (Side.SELL, "1", "101")
    )
    assert position.realized_pnl == D("0.99333")  # 101 - 300.02/3 on the 0.00001 grid

    position.apply(Side.SELL, D(2), D(101), D(0))

    assert (position.quantity, position.cost, position.avg_price) == (D(0), D(0), D(0))
    assert position.realized_pnl == D("2.98")  # 303 - 300.02


def test_fee_is_charged_to_realized_pnl_and_cash_flow() -> None:
    position = Position("s", "BTC", BTC)

    position.apply(Side.BUY, D(1), D(100), D("0.25"))

    assert (position.fees, position.realized_pnl, position.cash_flow) == (
        D("0.25"),
        D("-0.25"),
        D("-100.25"),
    )


def test_unrealized_pnl_is_quantity_times_mark_less_cost() -> None:
    position = position_after((Side.SELL, "2", "100"))

    assert position.unrealized_pnl(D(95)) == D(10)
    assert position.market_value(D(95)) == D(-190)
