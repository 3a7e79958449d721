"""What the risk manager persists so a restart resumes with the same positions and state."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tickmesh.model.enums import Side, TradingState


class PositionRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    strategy_id: str
    symbol: str
    quantity: Decimal


class WorkingRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    order_id: str
    strategy_id: str
    symbol: str
    side: Side
    leaves: Decimal


class RiskSnapshot(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Plain data: ``msgspec.to_builtins`` gives a JSON-ready dict, ``msgspec.convert`` reads it."""

    state: TradingState = TradingState.ACTIVE
    reason: str = ""
    by_drawdown: bool = False
    equity: Decimal | None = None
    peak_equity: Decimal | None = None
    positions: tuple[PositionRecord, ...] = ()
    working: tuple[WorkingRecord, ...] = ()
