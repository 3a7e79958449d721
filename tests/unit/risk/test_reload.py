"""RELOAD: the risk manager swaps in the limits a command carries, whole, or ignores it."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from tickmesh.model import CommandType, DenyReason, RiskState, TradingState
from tickmesh.risk import RiskLimits
from tickmesh.risk.reload import limits_from_args, limits_to_args

from .support import Desk, open_limits


def _reload(desk: Desk, limits: RiskLimits, **extra: str) -> list[object]:
    return list(desk.command(CommandType.RELOAD, **limits_to_args(limits), **extra))


def _desk(limits: RiskLimits) -> Desk:
    desk = Desk(limits)
    desk.tick(100.0)
    desk.equity("100000")
    return desk


def test_after_reload_a_quantity_that_was_allowed_is_refused_by_the_new_limit() -> None:
    desk = _desk(open_limits(max_order_quantity=Decimal(10)))
    before = desk.intent(quantity="5")

    _reload(desk, open_limits(max_order_quantity=Decimal(1)))
    after = desk.denied(quantity="5")

    assert before.quantity == Decimal(5)
    assert after.reason is DenyReason.MAX_ORDER_QUANTITY
    assert "5" in after.detail


def test_after_reload_a_quantity_that_was_refused_is_allowed() -> None:
    desk = _desk(open_limits(max_order_quantity=Decimal(1)))
    before = desk.denied(quantity="5")

    _reload(desk, open_limits(max_order_quantity=Decimal(10)))
    after = desk.intent(quantity="5")

    assert before.reason is DenyReason.MAX_ORDER_QUANTITY
    assert after.quantity == Decimal(5)


def test_reload_applies_new_drawdown_thresholds_to_the_equity_already_seen() -> None:
    desk = _desk(open_limits(halt_at_drawdown_pct=0.5))
    desk.equity("85000")

    events = _reload(desk, open_limits(halt_at_drawdown_pct=0.1))

    (event,) = events
    assert isinstance(event, RiskState)
    assert event.state is TradingState.HALTED
    assert desk.risk.state is TradingState.HALTED


def test_reload_keeps_the_atr_period_the_indicators_were_built_with() -> None:
    desk = _desk(open_limits(atr_period=5))

    _reload(desk, open_limits(atr_period=30, max_order_quantity=Decimal(2)))

    assert desk.risk.limits.atr_period == 5
    assert desk.risk.limits.max_order_quantity == Decimal(2)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"risk.max_order_quantity": "-1"}, "max_order_quantity must be positive"),
        ({"risk.max_order_quantity": "NaN"}, "not a number"),
        ({"risk.max_open_positions": "1.5"}, "max_open_positions"),
        ({"risk.sizing": "yolo"}, "sizing"),
        ({"risk.max_order_qty": "1"}, "unknown max_order_qty"),
    ],
)
def test_reload_with_bad_args_is_ignored_and_logged(
    change: dict[str, str], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    limits = open_limits(max_order_quantity=Decimal(10))
    desk = _desk(limits)
    args = {**limits_to_args(open_limits(max_order_quantity=Decimal(1))), **change}

    with caplog.at_level(logging.WARNING, logger="tickmesh.risk.manager"):
        events = desk.command(CommandType.RELOAD, **args)

    assert events == []
    assert desk.risk.limits == limits
    assert desk.intent(quantity="5").quantity == Decimal(5)
    assert reason in caplog.text


def test_reload_missing_a_limit_is_ignored_rather_than_half_applied() -> None:
    limits = open_limits(max_order_quantity=Decimal(10))
    desk = _desk(limits)
    args = limits_to_args(open_limits(max_order_quantity=Decimal(1)))
    del args["risk.max_gross_exposure"]

    assert desk.command(CommandType.RELOAD, **args) == []
    assert desk.risk.limits == limits


def test_limits_survive_the_trip_through_command_args_exactly() -> None:
    limits = RiskLimits(
        max_order_quantity=Decimal("0.000000000000000000000000001"),
        max_gross_exposure=Decimal("123456789.123456789"),
        price_band_pct=0.1 + 0.2,
        stale_after_ns=None,
        sizing="all_in",
    )

    args = limits_to_args(limits)

    assert limits_from_args({**args, "reason": "why not"}, limits) == limits
    assert args["risk.stale_after_ns"] == "off"
    assert all(isinstance(value, str) for value in args.values())
