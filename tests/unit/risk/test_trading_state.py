"""ACTIVE / REDUCING / HALTED: driven by drawdown and operator commands, one event per change."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from tickmesh.model import CommandType, DenyReason, RiskState, Side, TradingState

from .support import Desk, open_limits


def _drawdown_desk() -> Desk:
    desk = Desk(open_limits(reduce_at_drawdown_pct=0.10, halt_at_drawdown_pct=0.20))
    desk.tick(100.0)
    desk.equity("100000")
    return desk


def _states(events: Sequence[object]) -> list[TradingState]:
    return [e.state for e in events if isinstance(e, RiskState)]


def test_drawdown_thresholds_drive_active_reducing_halted() -> None:
    desk = _drawdown_desk()

    seen = [
        _states(desk.equity("95000")),
        _states(desk.equity("90000")),
        _states(desk.equity("85000")),
        _states(desk.equity("80000")),
    ]

    assert seen == [[], [TradingState.REDUCING], [], [TradingState.HALTED]]


def test_drawdown_state_event_carries_equity_peak_and_drawdown() -> None:
    desk = _drawdown_desk()

    (event,) = desk.equity("90000")

    assert isinstance(event, RiskState)
    assert (event.equity, event.peak_equity) == (Decimal(90000), Decimal(100000))
    assert event.drawdown_pct == pytest.approx(0.10)
    assert "drawdown" in event.reason


def test_drawdown_straight_past_halt_goes_to_halted() -> None:
    desk = _drawdown_desk()

    assert _states(desk.equity("50000")) == [TradingState.HALTED]


def test_drawdown_halt_stays_after_equity_recovers() -> None:
    desk = _drawdown_desk()
    desk.equity("80000")

    events = desk.equity("120000")

    assert events == []
    assert desk.risk.state is TradingState.HALTED


def test_drawdown_reducing_lifts_when_drawdown_recovers() -> None:
    desk = _drawdown_desk()
    desk.equity("90000")

    assert _states(desk.equity("95000")) == [TradingState.ACTIVE]


def test_manual_reducing_does_not_lift_on_recovery() -> None:
    desk = _drawdown_desk()
    desk.command(CommandType.SET_STATE, state="REDUCING")

    assert desk.equity("110000") == []
    assert desk.risk.state is TradingState.REDUCING


def test_resume_after_drawdown_halt_resets_peak() -> None:
    desk = _drawdown_desk()
    desk.equity("80000")

    resumed = _states(desk.command(CommandType.RESUME))
    after = desk.equity("80000")

    assert resumed == [TradingState.ACTIVE]
    assert after == []
    assert desk.risk.state is TradingState.ACTIVE


def test_drawdown_after_resume_is_measured_from_new_peak() -> None:
    desk = _drawdown_desk()
    desk.equity("80000")
    desk.command(CommandType.RESUME)

    assert _states(desk.equity("72000")) == [TradingState.REDUCING]


def test_halt_twice_emits_one_change() -> None:
    desk = Desk()

    first = desk.command(CommandType.HALT)
    second = desk.command(CommandType.HALT)

    assert _states(first) == [TradingState.HALTED]
    assert isinstance(first[0], RiskState)
    assert first[0].reason == "manual"
    assert second == []


def test_resume_while_active_emits_nothing() -> None:
    desk = Desk()

    assert desk.command(CommandType.RESUME) == []


@pytest.mark.parametrize("state", ["ACTIVE", "REDUCING", "HALTED"])
def test_set_state_moves_to_named_state(state: str) -> None:
    desk = Desk()
    desk.command(CommandType.HALT)

    desk.command(CommandType.SET_STATE, state=state)

    assert desk.risk.state is TradingState(state)


@pytest.mark.parametrize("args", [{}, {"state": "PAUSED"}, {"mode": "HALTED"}])
def test_set_state_with_bad_args_is_ignored(args: dict[str, str]) -> None:
    desk = Desk()

    events = desk.command(CommandType.SET_STATE, **args)

    assert events == []
    assert desk.risk.state is TradingState.ACTIVE


def test_unrelated_command_is_ignored() -> None:
    desk = Desk()

    assert desk.command(CommandType.DISABLE_STRATEGY, strategy_id="s1") == []


def test_strategy_level_snapshot_does_not_move_drawdown() -> None:
    desk = _drawdown_desk()

    assert desk.equity("1", strategy_id="s1") == []
    assert desk.risk.state is TradingState.ACTIVE


def test_reducing_allows_a_close() -> None:
    desk = Desk()
    desk.tick(100.0)
    desk.fill(Side.BUY, "5")
    desk.command(CommandType.SET_STATE, state="REDUCING")

    intent = desk.intent(Side.SELL, quantity="5")

    assert intent.quantity == Decimal(5)


@pytest.mark.parametrize(
    ("side", "quantity"),
    [(Side.BUY, "1"), (Side.SELL, "5.0001")],
    ids=["increase", "flip"],
)
def test_reducing_denies_orders_that_grow_the_position(side: Side, quantity: str) -> None:
    desk = Desk()
    desk.tick(100.0)
    desk.fill(Side.BUY, "5")
    desk.command(CommandType.SET_STATE, state="REDUCING")

    denial = desk.denied(side, quantity=quantity)

    assert denial.reason is DenyReason.REDUCING_ONLY


def test_reducing_shrinks_a_sized_order_to_a_close() -> None:
    desk = Desk()
    desk.tick(100.0)
    desk.equity("100000")
    desk.fill(Side.SELL, "3")
    desk.command(CommandType.SET_STATE, state="REDUCING")

    intent = desk.intent(Side.BUY)

    assert intent.quantity == Decimal(3)


def test_reducing_denies_a_close_that_grows_symbol_exposure() -> None:
    desk = Desk()
    desk.tick(100.0)
    desk.fill(Side.BUY, "5", strategy_id="a")
    desk.fill(Side.SELL, "5", strategy_id="b")
    desk.command(CommandType.SET_STATE, state="REDUCING")

    denial = desk.denied(Side.SELL, quantity="5", strategy_id="a")

    assert denial.reason is DenyReason.REDUCING_ONLY


def test_halted_denies_even_a_close() -> None:
    desk = Desk()
    desk.tick(100.0)
    desk.fill(Side.BUY, "5")
    desk.command(CommandType.HALT)

    denial = desk.denied(Side.SELL, reduce_only=True)

    assert denial.reason is DenyReason.TRADING_HALTED
