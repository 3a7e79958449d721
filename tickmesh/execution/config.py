"""How the paper venue is simulated: costs, liquidity, latency and what it matches on."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from tickmesh.core.decimal import to_decimal

FillOn = Literal["tick", "bar", "both"]

_BPS = Decimal(10_000)


class PaperConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Paper venue settings; invalid values raise ``ValueError`` naming the field.

    - ``fee_bps``: fee charged on every fill's notional, in basis points.
    - ``slippage_bps``: market orders pay up (buy) or receive less (sell) by this much.
    - ``participation``: the largest fraction of one tick's or bar's volume a single order may
      take, e.g. ``0.1``; ``None`` fills the whole order on the first eligible data, whatever its
      volume. With a cap set, data with zero volume fills nothing.
    - ``latency_ns``: an order is live ``latency_ns`` after its intent's ``ts_event``.
    - ``fill_on``: which market data matches orders; ``"both"`` suits a feed that sends only one
      kind, but with both kinds on one symbol the same trades are seen twice.
    - ``allow_short``: when false a sell larger than the held position is rejected.

    Numbers may be given as int, float or str; they are stored as Decimal.
    """

    fee_bps: Decimal = Decimal(0)
    slippage_bps: Decimal = Decimal(0)
    participation: Decimal | None = None
    latency_ns: int = 0
    fill_on: FillOn = "both"
    allow_short: bool = False

    def __post_init__(self) -> None:
        for name in ("fee_bps", "slippage_bps", "participation"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Decimal):
                msgspec.structs.force_setattr(self, name, to_decimal(value))
        _check(0 <= self.fee_bps < _BPS, "fee_bps", "must be in [0, 10000)", self.fee_bps)
        _check(
            0 <= self.slippage_bps < _BPS,
            "slippage_bps",
            "must be in [0, 10000)",
            self.slippage_bps,
        )
        if self.participation is not None:
            _check(
                0 < self.participation <= 1,
                "participation",
                "must be in (0, 1]",
                self.participation,
            )
        _check(self.latency_ns >= 0, "latency_ns", "must be >= 0", self.latency_ns)
        _check(
            self.fill_on in ("tick", "bar", "both"),
            "fill_on",
            "must be tick|bar|both",
            self.fill_on,
        )

    @property
    def fee_rate(self) -> Decimal:
        return self.fee_bps / _BPS

    @property
    def slippage_rate(self) -> Decimal:
        return self.slippage_bps / _BPS

    @property
    def matches_ticks(self) -> bool:
        return self.fill_on in ("tick", "both")

    @property
    def matches_bars(self) -> bool:
        return self.fill_on in ("bar", "both")


def _check(ok: bool, field: str, rule: str, value: object) -> None:
    if not ok:
        raise ValueError(f"PaperConfig.{field} {rule}, got {value!r}")
