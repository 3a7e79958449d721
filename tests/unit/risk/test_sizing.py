"""Risk-adjusted sizing: exact on hand-worked numbers, and shrunk to fit every cap."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tickmesh.model import DenyReason, Instrument, Side
from tickmesh.risk import RiskLimits

from .support import OTHER, SYMBOL, Desk, open_limits


def _desk_at_50(limits: RiskLimits | None = None, equity: str = "100000") -> Desk:
    """Price 50 after 15 one-minute bars each spanning 2.5: ATR(14) (Wilder, TA-Lib's warm-up of
    n + 1 bars) is exactly 2.5."""
    desk = Desk(limits or open_limits())
    for _ in range(15):
        desk.bar(high=51.25, low=48.75, close=50.0)
    desk.equity(equity)
    return desk


def test_atr_sizing_matches_hand_calculation() -> None:
    desk = _desk_at_50()

    intent = desk.intent()

    # risk 2% of 100000 = 2000; stop = 2.0 x ATR 2.5 = 5; 2000 / 5 = 400
    assert intent.quantity == Decimal("400.0000")
    assert intent.ref_price == 50.0


def test_strategy_stop_distance_overrides_atr() -> None:
    desk = _desk_at_50()

    intent = desk.intent(stop_distance=10.0)

    assert intent.quantity == Decimal(200)


def test_no_atr_yet_falls_back_to_percent_of_price_stop() -> None:
    desk = Desk(open_limits())
    desk.tick(50.0)
    desk.equity("100000")

    intent = desk.intent()

    # stop = 2% of 50 = 1; 2000 / 1 = 2000
    assert intent.quantity == Decimal(2000)


def test_atr_of_another_timeframe_is_not_used() -> None:
    desk = _desk_at_50()

    intent = desk.intent(timeframe="1h")

    assert intent.quantity == Decimal(2000)


def test_sized_quantity_floors_to_size_increment() -> None:
    desk = _desk_at_50()

    intent = desk.intent(stop_distance=3.0)

    assert intent.quantity == Decimal("666.6666")


def test_sized_quantity_never_rounds_up_with_coarse_increment() -> None:
    instruments = {SYMBOL: Instrument(symbol=SYMBOL, size_increment=Decimal(1))}
    desk = Desk(open_limits(), instruments)
    desk.tick(50.0)
    desk.equity("100000")

    intent = desk.intent(stop_distance=2.999)

    assert intent.quantity == Decimal(666)


def _long_100(desk: Desk) -> None:
    desk.fill(Side.BUY, "100", price="50")


def _other_symbol_exposure_5000(desk: Desk) -> None:
    desk.tick(50.0, symbol=OTHER)
    desk.fill(Side.BUY, "100", price="50", symbol=OTHER)


def _nothing(desk: Desk) -> None:
    del desk


CAPS: dict[str, tuple[dict[str, Any], Callable[[Desk], None], Decimal]] = {
    "max_order_quantity": ({"max_order_quantity": Decimal(100)}, _nothing, Decimal(100)),
    "max_order_notional": ({"max_order_notional": Decimal(10000)}, _nothing, Decimal(200)),
    "max_position_quantity": ({"max_position_quantity": Decimal(150)}, _long_100, Decimal(50)),
    "max_gross_exposure": (
        {"max_gross_exposure": Decimal(15000)},
        _other_symbol_exposure_5000,
        Decimal(200),
    ),
    "max_position_pct_of_equity": ({"max_position_pct_of_equity": 0.1}, _nothing, Decimal(200)),
    "pct_of_equity_counts_the_position": (
        {"max_position_pct_of_equity": 0.1},
        _long_100,
        Decimal(100),
    ),
}


@pytest.mark.parametrize(("limits", "arrange", "expected"), CAPS.values(), ids=CAPS.keys())
def test_sized_quantity_is_capped_not_denied(
    limits: dict[str, Any], arrange: Callable[[Desk], None], expected: Decimal
) -> None:
    desk = _desk_at_50(open_limits(**limits))
    arrange(desk)

    intent = desk.intent()

    assert intent.quantity == expected


def test_sizing_capped_to_zero_is_denied_with_the_binding_limit() -> None:
    desk = _desk_at_50(open_limits(max_position_quantity=Decimal(100)))
    desk.fill(Side.BUY, "100", price="50")

    denial = desk.denied()

    assert denial.reason is DenyReason.MAX_POSITION
    assert "max_position_quantity 100" in denial.detail


def test_sizing_without_equity_is_denied_zero_quantity() -> None:
    desk = Desk(open_limits())
    desk.tick(50.0)

    denial = desk.denied()

    assert denial.reason is DenyReason.ZERO_QUANTITY


def test_sizing_below_one_increment_is_denied_zero_quantity() -> None:
    desk = _desk_at_50(equity="0.001")

    denial = desk.denied()

    assert denial.reason is DenyReason.ZERO_QUANTITY


def test_explicit_quantity_below_increment_is_denied_zero_quantity() -> None:
    desk = Desk(open_limits())
    desk.tick(100.0)

    denial = desk.denied(quantity="0.00009")

    assert denial.reason is DenyReason.ZERO_QUANTITY


def test_explicit_quantity_below_min_size_is_denied_zero_quantity() -> None:
    instruments = {SYMBOL: Instrument(symbol=SYMBOL, min_size=Decimal(1))}
    desk = Desk(open_limits(), instruments)
    desk.tick(100.0)

    denial = desk.denied(quantity="0.5")

    assert denial.reason is DenyReason.ZERO_QUANTITY


def test_explicit_quantity_is_floored_to_increment() -> None:
    desk = Desk(open_limits())
    desk.tick(100.0)

    intent = desk.intent(quantity="1.23456")

    assert intent.quantity == Decimal("1.2345")


def test_explicit_quantity_ignores_equity_sizing() -> None:
    desk = _desk_at_50(open_limits(max_position_pct_of_equity=0.01))

    intent = desk.intent(quantity="1000")

    assert intent.quantity == Decimal(1000)


@pytest.mark.parametrize("quantity", ["0", "-1", "NaN", "Infinity"])
def test_unusable_explicit_quantity_is_denied_zero_quantity(quantity: str) -> None:
    desk = Desk(open_limits())
    desk.tick(100.0)

    denial = desk.denied(quantity=quantity)

    assert denial.reason is DenyReason.ZERO_QUANTITY


@pytest.mark.parametrize("quantity", ["NaN", "-1"])
def test_unusable_reduce_only_quantity_is_denied_zero_quantity(quantity: str) -> None:
    desk = Desk(open_limits())
    desk.tick(100.0)
    desk.fill(Side.BUY, "5")

    denial = desk.denied(Side.SELL, reduce_only=True, quantity=quantity)

    assert denial.reason is DenyReason.ZERO_QUANTITY


def test_all_in_sizing_estimates_equity_over_price_and_leaves_the_size_to_the_fill() -> None:
    desk = _desk_at_50(open_limits(sizing="all_in"), equity="1000")

    intent = desk.intent()

    assert intent.quantity == Decimal("20.0000")
    assert intent.equity_fraction == Decimal(1)


def test_all_in_sizing_capped_by_a_limit_keeps_the_capped_quantity_fixed() -> None:
    desk = _desk_at_50(open_limits(sizing="all_in", max_order_quantity=Decimal(5)), "1000")

    intent = desk.intent()

    assert intent.quantity == Decimal(5)
    assert intent.equity_fraction is None


def test_close_under_all_in_sizing_is_a_fixed_quantity() -> None:
    desk = _desk_at_50(open_limits(sizing="all_in"), equity="1000")
    desk.fill(Side.BUY, "20", price="50")

    close = desk.intent(side=Side.SELL, reduce_only=True)

    assert close.quantity == Decimal("20.0000")
    assert close.equity_fraction is None


def test_unknown_sizing_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="sizing must be 'risk' or 'all_in'"):
        RiskLimits(sizing="everything")  # type: ignore[arg-type]
