"""Every limit accepts an order exactly at the limit and refuses one increment past it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from tickmesh.model import DenyReason, OrderDenied, OrderIntent, Side
from tickmesh.risk import RiskLimits

from .support import OTHER, SYMBOL, Desk, open_limits


def _priced(desk: Desk) -> None:
    desk.tick(100.0)


def _long_4(desk: Desk) -> None:
    desk.tick(100.0)
    desk.fill(Side.BUY, "4")


def _other_symbol_exposure_200(desk: Desk) -> None:
    desk.tick(100.0)
    desk.tick(100.0, symbol=OTHER)
    desk.fill(Side.SELL, "2", symbol=OTHER, strategy_id="s2")


def _one_order_1000ns_ago(desk: Desk) -> None:
    desk.tick(100.0)
    desk.intent(quantity="1", ts=desk.now - 1000)


def _three_orders_in_window(desk: Desk) -> None:
    desk.tick(100.0)
    for i, strategy in enumerate(("a", "b", "c")):
        desk.intent(quantity="1", strategy_id=strategy, ts=desk.now - 999 + i)


def _data_1000ns_before(desk: Desk) -> None:
    desk.tick(100.0, ts=desk.now - 1000)


@dataclass(frozen=True)
class Boundary:
    limits: RiskLimits
    arrange: Callable[[Desk], None]
    at_limit: dict[str, Any]
    past_limit: dict[str, Any]
    reason: DenyReason
    side: Side = Side.BUY


BOUNDARIES = {
    "max_order_quantity": Boundary(
        open_limits(max_order_quantity=Decimal(10)),
        _priced,
        {"quantity": "10"},
        {"quantity": "10.0001"},
        DenyReason.MAX_ORDER_QUANTITY,
    ),
    "max_order_notional": Boundary(
        open_limits(max_order_notional=Decimal(1000)),
        _priced,
        {"quantity": "10"},
        {"quantity": "10.0001"},
        DenyReason.MAX_ORDER_NOTIONAL,
    ),
    "max_position_quantity": Boundary(
        open_limits(max_position_quantity=Decimal(10)),
        _long_4,
        {"quantity": "6"},
        {"quantity": "6.0001"},
        DenyReason.MAX_POSITION,
    ),
    "max_position_quantity_short": Boundary(
        open_limits(max_position_quantity=Decimal(10)),
        _long_4,
        {"quantity": "14"},
        {"quantity": "14.0001"},
        DenyReason.MAX_POSITION,
        side=Side.SELL,
    ),
    "max_gross_exposure": Boundary(
        open_limits(max_gross_exposure=Decimal(1000)),
        _other_symbol_exposure_200,
        {"quantity": "8"},
        {"quantity": "8.0001"},
        DenyReason.MAX_GROSS_EXPOSURE,
    ),
    "price_band_above": Boundary(
        open_limits(price_band_pct=0.05),
        _priced,
        {"quantity": "1", "price": 105.0},
        {"quantity": "1", "price": 105.01},
        DenyReason.PRICE_BAND,
    ),
    "price_band_below": Boundary(
        open_limits(price_band_pct=0.05),
        _priced,
        {"quantity": "1", "price": 95.0},
        {"quantity": "1", "price": 94.99},
        DenyReason.PRICE_BAND,
    ),
    "duplicate_window_ns": Boundary(
        open_limits(duplicate_window_ns=1000),
        _one_order_1000ns_ago,
        {"quantity": "1"},
        {"quantity": "1", "ts": "before"},
        DenyReason.DUPLICATE_ORDER,
    ),
    "max_orders_per_window": Boundary(
        open_limits(max_orders_per_window=3, rate_window_ns=1000),
        _three_orders_in_window,
        {"quantity": "1", "ts": "after"},
        {"quantity": "1"},
        DenyReason.ORDER_RATE,
    ),
    "stale_after_ns": Boundary(
        open_limits(stale_after_ns=1000),
        _data_1000ns_before,
        {"quantity": "1"},
        {"quantity": "1", "ts": "after"},
        DenyReason.STALE_DATA,
    ),
}


def _signal_fields(desk: Desk, fields: dict[str, Any]) -> dict[str, Any]:
    """``ts`` may say "before"/"after": one ns either side of now."""
    shift = {"before": -1, "after": 1}
    resolved = dict(fields)
    if "ts" in resolved:
        resolved["ts"] = desk.now + shift[resolved["ts"]]
    return resolved


@pytest.mark.parametrize("case", BOUNDARIES.values(), ids=BOUNDARIES.keys())
def test_order_at_limit_is_accepted(case: Boundary) -> None:
    desk = Desk(case.limits)
    case.arrange(desk)

    event = desk.signal(case.side, **_signal_fields(desk, case.at_limit))

    assert isinstance(event, OrderIntent), event
    assert event.quantity == Decimal(case.at_limit["quantity"])


@pytest.mark.parametrize("case", BOUNDARIES.values(), ids=BOUNDARIES.keys())
def test_order_one_increment_past_limit_is_denied_with_reason(case: Boundary) -> None:
    desk = Desk(case.limits)
    case.arrange(desk)

    denial = desk.denied(case.side, **_signal_fields(desk, case.past_limit))

    assert denial.reason is case.reason


@pytest.mark.parametrize(("open_elsewhere", "accepted"), [(1, True), (2, False)])
def test_max_open_positions_blocks_only_the_position_past_the_limit(
    open_elsewhere: int, accepted: bool
) -> None:
    desk = Desk(open_limits(max_open_positions=2))
    for i in range(open_elsewhere):
        symbol = f"SYM{i}"
        desk.tick(100.0, symbol=symbol)
        desk.fill(Side.BUY, "1", symbol=symbol)
    desk.tick(100.0)

    event = desk.signal(quantity="1")

    if accepted:
        assert isinstance(event, OrderIntent)
    else:
        assert isinstance(event, OrderDenied)
        assert event.reason is DenyReason.MAX_OPEN_POSITIONS


def test_max_open_positions_still_allows_orders_in_open_symbols() -> None:
    desk = Desk(open_limits(max_open_positions=1))
    desk.tick(100.0)
    desk.fill(Side.BUY, "1")

    intent = desk.intent(quantity="3")

    assert intent.symbol == SYMBOL


def test_duplicate_window_is_per_strategy_symbol_and_side() -> None:
    desk = Desk(open_limits(duplicate_window_ns=1000))
    desk.tick(100.0)
    desk.tick(100.0, symbol=OTHER)
    desk.intent(quantity="1")

    results = [
        desk.signal(Side.SELL, quantity="1"),
        desk.signal(quantity="1", strategy_id="s2"),
        desk.signal(quantity="1", symbol=OTHER),
    ]

    assert all(isinstance(event, OrderIntent) for event in results)


def test_denied_signals_do_not_count_toward_the_order_rate() -> None:
    desk = Desk(open_limits(max_orders_per_window=1, max_order_quantity=Decimal(1)))
    desk.tick(100.0)
    desk.denied(quantity="2")

    intent = desk.intent(quantity="1")

    assert intent.quantity == Decimal(1)
