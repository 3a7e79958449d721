from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from tickmesh.execution import PaperConfig


def test_numbers_given_as_int_float_or_str_are_stored_as_decimal() -> None:
    config = PaperConfig(fee_bps=10, slippage_bps=2.5, participation="0.1")  # type: ignore[arg-type]

    assert (config.fee_bps, config.slippage_bps, config.participation) == (
        Decimal(10),
        Decimal("2.5"),
        Decimal("0.1"),
    )
    assert config.fee_rate == Decimal("0.001")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fee_bps", -1),
        ("slippage_bps", 10_000),
        ("participation", 0),
        ("participation", "1.5"),
        ("latency_ns", -5),
        ("fill_on", "quote"),
    ],
)
def test_invalid_value_raises_value_error_naming_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        PaperConfig(**{field: value})  # type: ignore[arg-type]


def test_unknown_field_is_rejected_when_decoding() -> None:
    with pytest.raises(msgspec.ValidationError, match="fees"):
        msgspec.convert({"fees": 1}, PaperConfig)


def test_decoded_config_matches_constructed_one() -> None:
    decoded = msgspec.json.decode(b'{"fee_bps": "10", "fill_on": "bar"}', type=PaperConfig)

    assert decoded == PaperConfig(fee_bps=Decimal(10), fill_on="bar")
