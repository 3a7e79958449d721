"""Settings (what a person writes: percents, seconds) to domain configs (fractions, ns)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tickmesh.config import Settings
from tickmesh.config.settings import ExecutionSettings, RiskSettings
from tickmesh.execution import PaperConfig
from tickmesh.risk import RiskLimits

_NS = 1_000_000_000


def _fraction(pct: float | None) -> float | None:
    return None if pct is None else pct / 100.0


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * _NS)


def risk_limits(risk: RiskSettings) -> RiskLimits:
    return RiskLimits(
        max_order_quantity=risk.max_order_quantity,
        max_order_notional=risk.max_order_notional,
        max_position_quantity=risk.max_position_quantity,
        max_gross_exposure=risk.max_gross_exposure,
        max_open_positions=risk.max_open_positions,
        price_band_pct=_fraction(risk.price_band_pct),
        duplicate_window_ns=_ns(risk.duplicate_window_s) or 0,
        max_orders_per_window=risk.max_orders_per_window,
        rate_window_ns=_ns(risk.rate_window_s) or 60 * _NS,
        stale_after_ns=_ns(risk.stale_after_s),
        risk_fraction=risk.risk_fraction,
        atr_multiple=risk.atr_multiple,
        fallback_stop_pct=_fraction(risk.fallback_stop_pct) or 0.02,
        max_position_pct_of_equity=_fraction(risk.max_position_pct_of_equity),
        reduce_at_drawdown_pct=_fraction(risk.reduce_at_drawdown_pct),
        halt_at_drawdown_pct=_fraction(risk.halt_at_drawdown_pct),
        sizing=risk.sizing,
    )


def paper_config(execution: ExecutionSettings) -> PaperConfig:
    participation = execution.participation
    return PaperConfig(
        fee_bps=execution.fee_bps,
        slippage_bps=execution.slippage_bps,
        participation=None if participation is None else Decimal(str(participation)),
        latency_ns=execution.latency_ms * 1_000_000,
        fill_on=execution.fill_on,
    )


def fingerprint_parts(settings: Settings) -> dict[str, Any]:
    """The settings that decide a session's outcome (not where it is stored or how fast)."""
    where = {
        "secrets", "db_url", "log_level", "bus_url", "bus_prefix", "data_dir", "cache_url",
        "tracing",
    }  # fmt: skip
    data = settings.model_dump(mode="json", exclude=where)
    for source in data.get("feed", {}).get("sources", []):
        source.pop("speed", None)
    return data
