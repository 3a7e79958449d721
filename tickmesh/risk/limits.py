"""The risk manager's configuration: hard limits, sizing parameters and drawdown thresholds.

Every ``*_pct`` field is a fraction (``0.1`` means 10%). A limit set to ``None`` is not checked.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

_SECOND_NS = 1_000_000_000


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pre-trade limits and sizing rules for one namespace.

    ``sizing``: ``"risk"`` sizes so a stop-out loses ``risk_fraction`` of equity; ``"all_in"``
    commits ``all_in_fraction`` of equity (at most the cash available) at the fill price, as
    backtesting.py's default ``buy()`` does with 1; the caps apply to the estimate at the
    signal price.
    """

    max_order_quantity: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position_quantity: Decimal | None = None
    max_gross_exposure: Decimal | None = None
    max_open_positions: int | None = 20
    price_band_pct: float | None = 0.05
    duplicate_window_ns: int = _SECOND_NS
    max_orders_per_window: int | None = 60
    rate_window_ns: int = 60 * _SECOND_NS
    stale_after_ns: int | None = 300 * _SECOND_NS
    risk_fraction: float = 0.02
    atr_period: int = 14
    atr_multiple: float = 2.0
    fallback_stop_pct: float = 0.02
    max_position_pct_of_equity: float | None = 0.25
    reduce_at_drawdown_pct: float | None = 0.10
    halt_at_drawdown_pct: float | None = 0.20
    sizing: Literal["risk", "all_in"] = "risk"
    all_in_fraction: float = 1.0

    def __post_init__(self) -> None:
        self._check_positive_limits()
        self._check_windows()
        self._check_fractions()
        self._check_drawdown_order()
        if self.sizing not in ("risk", "all_in"):
            raise ValueError(f"sizing must be 'risk' or 'all_in', got {self.sizing!r}")

    def _check_positive_limits(self) -> None:
        for name in (
            "max_order_quantity",
            "max_order_notional",
            "max_position_quantity",
            "max_gross_exposure",
        ):
            _require_positive(name, getattr(self, name))
        _require_positive("max_open_positions", self.max_open_positions)
        _require_positive("max_orders_per_window", self.max_orders_per_window)
        _require_positive("atr_period", self.atr_period)
        _require_positive("atr_multiple", self.atr_multiple)

    def _check_windows(self) -> None:
        if self.duplicate_window_ns < 0:
            raise ValueError(f"duplicate_window_ns must be >= 0, got {self.duplicate_window_ns}")
        _require_positive("rate_window_ns", self.rate_window_ns)
        if self.stale_after_ns is not None and self.stale_after_ns < 0:
            raise ValueError(f"stale_after_ns must be >= 0, got {self.stale_after_ns}")

    def _check_fractions(self) -> None:
        _require_fraction("risk_fraction", self.risk_fraction)
        _require_fraction("all_in_fraction", self.all_in_fraction)
        _require_fraction("fallback_stop_pct", self.fallback_stop_pct)
        _require_fraction("max_position_pct_of_equity", self.max_position_pct_of_equity, 10.0)
        _require_fraction("price_band_pct", self.price_band_pct, 10.0)
        _require_fraction("reduce_at_drawdown_pct", self.reduce_at_drawdown_pct)
        _require_fraction("halt_at_drawdown_pct", self.halt_at_drawdown_pct)

    def _check_drawdown_order(self) -> None:
        reduce_at, halt_at = self.reduce_at_drawdown_pct, self.halt_at_drawdown_pct
        if reduce_at is not None and halt_at is not None and reduce_at > halt_at:
            raise ValueError(
                f"reduce_at_drawdown_pct ({reduce_at}) must not exceed "
                f"halt_at_drawdown_pct ({halt_at})"
            )


def _require_positive(name: str, value: Decimal | float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")


def _require_fraction(name: str, value: float | None, upper: float = 1.0) -> None:
    if value is not None and not 0 < value <= upper:
        raise ValueError(f"{name} must be in (0, {upper}] (a fraction: 0.1 means 10%), got {value}")
