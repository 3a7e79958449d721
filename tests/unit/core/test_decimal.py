"""Decimal helpers: floats convert by their shortest repr, numpy floats included."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from tickmesh.core.decimal import to_decimal


def test_float_converts_without_binary_noise() -> None:
    assert to_decimal(0.1) == Decimal("0.1")


def test_numpy_float_converts_like_a_python_float() -> None:
    assert to_decimal(np.float64(702.24)) == Decimal("702.24")
