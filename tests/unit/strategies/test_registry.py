"""Strategies are found by name; mistakes name what is available."""

from __future__ import annotations

import pytest

from tickmesh.strategies import (
    SmaCross,
    Strategy,
    UnknownStrategyError,
    available,
    get_strategy,
    register,
)


def test_available_lists_builtins_sorted() -> None:
    names = available()

    assert {"donchian_breakout", "rsi_reversion", "sma_cross"} <= set(names)
    assert names == sorted(names)


def test_get_strategy_returns_registered_class() -> None:
    cls = get_strategy("sma_cross")

    assert cls is SmaCross


def test_get_unknown_strategy_raises_key_error_listing_available() -> None:
    with pytest.raises(KeyError) as caught:
        get_strategy("smacross")

    assert isinstance(caught.value, UnknownStrategyError)
    assert str(caught.value).startswith("unknown strategy 'smacross'; available: ")
    assert "sma_cross" in str(caught.value)


def test_register_same_class_twice_is_harmless() -> None:
    again = register(SmaCross)

    assert again is SmaCross
    assert get_strategy("sma_cross") is SmaCross


def test_register_taken_name_raises() -> None:
    class Impostor(Strategy):
        name = "sma_cross"

    with pytest.raises(ValueError, match="'sma_cross' is taken"):
        register(Impostor)


def test_register_without_name_raises() -> None:
    class Nameless(Strategy):
        pass

    with pytest.raises(ValueError, match="Nameless has no name"):
        register(Nameless)
