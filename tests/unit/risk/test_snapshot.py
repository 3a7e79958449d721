"""Persisted risk state: a restored manager sees the same positions, working orders and state."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tickmesh.model import CommandType, DenyReason, Side, TradingState
from tickmesh.risk import RiskSnapshot

from .support import SYMBOL, Desk, open_limits


def _traded_desk() -> Desk:
    desk = Desk(open_limits(max_position_quantity=Decimal(10), halt_at_drawdown_pct=0.5))
    desk.tick(100.0)
    desk.equity("100000")
    desk.equity("90000")
    desk.fill(Side.BUY, "4")
    desk.intent(quantity="3")
    desk.command(CommandType.SET_STATE, state="REDUCING")
    return desk


def test_snapshot_survives_json_round_trip() -> None:
    snapshot = _traded_desk().risk.snapshot()

    decoded = msgspec.json.decode(msgspec.json.encode(snapshot), type=RiskSnapshot)

    assert decoded == snapshot


def test_restore_from_builtins_recovers_state_positions_and_peak() -> None:
    source = _traded_desk()
    plain = msgspec.to_builtins(source.risk.snapshot())
    target = Desk(open_limits(max_position_quantity=Decimal(10), halt_at_drawdown_pct=0.5))

    target.risk.restore(plain)

    assert target.risk.state is TradingState.REDUCING
    assert target.risk.book.position("s1", SYMBOL) == Decimal(4)
    assert target.risk.book.working(SYMBOL, Side.BUY) == Decimal(3)
    assert target.risk.snapshot().peak_equity == Decimal(100000)


def test_restored_working_orders_still_count_toward_limits() -> None:
    source = _traded_desk()
    source.command(CommandType.RESUME)
    target = Desk(open_limits(max_position_quantity=Decimal(10)))
    target.risk.restore(source.risk.snapshot())
    target.tick(100.0)

    denial = target.denied(quantity="4")

    assert denial.reason is DenyReason.MAX_POSITION
