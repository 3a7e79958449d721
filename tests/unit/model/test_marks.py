"""Marks: float prices kept as they come, rounded to the increment when read."""

from __future__ import annotations

import decimal
from decimal import Decimal

import numpy as np
import pytest

from tickmesh.model.instrument import Instrument
from tickmesh.model.marks import Marks

INSTRUMENTS = {
    "BTC": Instrument(symbol="BTC", price_increment=Decimal("0.01")),
    "EUR": Instrument(symbol="EUR", price_increment=Decimal("0.00005")),
}


def marks() -> Marks:
    return Marks(INSTRUMENTS.__getitem__)


def test_each_read_gives_the_eagerly_rounded_last_price() -> None:
    lazy = marks()
    rng = np.random.default_rng(3)
    for price in rng.uniform(0.5, 2.0, 500).tolist():
        symbol = "EUR" if price > 1.2 else "BTC"
        lazy.set(symbol, price)
        if price < 1.0:  # read now and then: a read must not change what later reads give
            assert lazy.get(symbol, Decimal(0)) == INSTRUMENTS[symbol].round_price(
                Decimal(repr(price))
            )
    for symbol, money in lazy.settled().items():
        assert str(money) == str(lazy.get(symbol, Decimal(0)))
    assert set(lazy.settled()) == {"BTC", "EUR"}


def test_a_fill_price_marks_only_a_symbol_without_a_price() -> None:
    book = marks()
    book.set("BTC", 101.234)
    book.setdefault("BTC", Decimal(99))
    book.setdefault("EUR", Decimal("1.1"))

    assert book.get("BTC", Decimal(0)) == Decimal("101.23")
    assert book.find("EUR") == Decimal("1.1")
    assert book.find("ETH") is None
    assert "EUR" in book
    assert "ETH" not in book


def test_a_price_too_large_to_round_fails_where_it_came_in_and_keeps_the_mark_before() -> None:
    book = marks()
    book.set("BTC", 100.0)

    with pytest.raises(decimal.InvalidOperation):
        book.set("BTC", 1e30)

    assert book.get("BTC", Decimal(0)) == Decimal("100.00")
