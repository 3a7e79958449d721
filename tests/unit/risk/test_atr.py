"""Wilder ATR: seeded by the average of the first true ranges, then smoothed."""

from __future__ import annotations

import pytest

from tickmesh.risk import WilderAtr


def test_atr_is_none_until_period_bars() -> None:
    atr = WilderAtr(3)

    values = [atr.update(11.0, 9.0, 10.0) for _ in range(3)]

    assert values == [None, None, 2.0]


def test_atr_smooths_after_seed() -> None:
    atr = WilderAtr(2)
    atr.update(11.0, 9.0, 10.0)
    atr.update(12.0, 10.0, 11.0)

    value = atr.update(15.0, 11.0, 14.0)

    assert value == pytest.approx((2.0 * 1 + 4.0) / 2)


def test_true_range_includes_gap_from_previous_close() -> None:
    atr = WilderAtr(2)
    atr.update(11.0, 9.0, 10.0)

    value = atr.update(21.0, 20.0, 20.5)

    assert value == pytest.approx((2.0 + 11.0) / 2)


def test_non_positive_period_is_rejected() -> None:
    with pytest.raises(ValueError, match="period"):
        WilderAtr(0)
