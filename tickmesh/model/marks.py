"""Last market prices as money, rounded to each symbol's price increment only when read."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from tickmesh.core.decimal import to_decimal
from tickmesh.model.instrument import Instrument

_LAZY_BELOW = 1e12


class Marks:
    """Symbol -> last price as a Decimal rounded to the instrument's increment.

    Prices arrive with every tick and bar, far more often than anything reads them, so a float
    price is kept as it is and rounded on the first read after it (the same Decimal an eager
    ``instrument.round_price(to_decimal(price))`` gives). A price so large that rounding might
    fail within the decimal context's precision is rounded at once, so the error surfaces where
    the price came in and the mark before it stays.
    """

    __slots__ = ("_instrument", "_money", "_raw")

    def __init__(self, instrument: Callable[[str], Instrument]) -> None:
        self._instrument = instrument
        self._money: dict[str, Decimal] = {}
        self._raw: dict[str, float] = {}

    def set(self, symbol: str, price: float) -> None:
        """Mark ``symbol`` at a (finite) market price."""
        if -_LAZY_BELOW < price < _LAZY_BELOW:
            self._raw[symbol] = price
            return
        rounded = self._round(symbol, price)
        self._raw.pop(symbol, None)
        self._money[symbol] = rounded

    def setdefault(self, symbol: str, price: Decimal) -> None:
        """Mark ``symbol`` at ``price`` (already money) unless it has a mark."""
        if symbol not in self._raw:
            self._money.setdefault(symbol, price)

    def get(self, symbol: str, default: Decimal) -> Decimal:
        found = self.find(symbol)
        return default if found is None else found

    def find(self, symbol: str) -> Decimal | None:
        if symbol in self._raw:
            self._money[symbol] = self._round(symbol, self._raw.pop(symbol))
        return self._money.get(symbol)

    def settled(self) -> dict[str, Decimal]:
        """Every mark as money (the dict itself: read it, do not change it)."""
        if self._raw:
            for symbol, price in self._raw.items():
                self._money[symbol] = self._round(symbol, price)
            self._raw.clear()
        return self._money

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._raw or symbol in self._money

    def _round(self, symbol: str, price: float) -> Decimal:
        return self._instrument(symbol).round_price(to_decimal(price))
