"""RiskLimits: sane defaults, and invalid settings name the field at fault."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from tickmesh.risk import RiskLimits


def test_defaults_are_valid_and_fractional() -> None:
    limits = RiskLimits()

    assert limits.risk_fraction == 0.02
    assert limits.reduce_at_drawdown_pct is not None
    assert limits.halt_at_drawdown_pct is not None
    assert limits.reduce_at_drawdown_pct < limits.halt_at_drawdown_pct


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_order_quantity", Decimal(0)),
        ("max_order_notional", Decimal(-1)),
        ("max_position_quantity", Decimal(0)),
        ("max_gross_exposure", Decimal(0)),
        ("max_open_positions", 0),
        ("max_orders_per_window", 0),
        ("rate_window_ns", 0),
        ("duplicate_window_ns", -1),
        ("stale_after_ns", -1),
        ("risk_fraction", 0.0),
        ("risk_fraction", 1.5),
        ("fallback_stop_pct", float("nan")),
        ("atr_period", 0),
        ("atr_multiple", 0.0),
        ("price_band_pct", 0.0),
        ("max_position_pct_of_equity", -0.1),
        ("halt_at_drawdown_pct", 1.2),
    ],
)
def test_invalid_setting_raises_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        RiskLimits(**{field: value})


def test_reduce_threshold_above_halt_threshold_is_rejected() -> None:
    with pytest.raises(ValueError, match="reduce_at_drawdown_pct"):
        RiskLimits(reduce_at_drawdown_pct=0.3, halt_at_drawdown_pct=0.2)


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError, match="max_leverage"):
        msgspec.convert({"max_leverage": 3}, RiskLimits)


def test_limits_load_from_plain_config() -> None:
    limits = msgspec.convert({"max_order_quantity": "10", "price_band_pct": 0.01}, RiskLimits)

    assert limits.max_order_quantity == Decimal(10)
