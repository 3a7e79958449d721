from __future__ import annotations

import numpy as np
import pytest

from tickmesh.adapters.feeds.columns import epoch_to_ns, format_ns, parse_time_text

JAN_1_2020_NS = 1_577_836_800_000_000_000


@pytest.mark.parametrize(
    "values",
    [
        np.array([1_577_836_800], dtype=np.int64),
        np.array([1_577_836_800_000], dtype=np.int64),
        np.array([1_577_836_800_000_000], dtype=np.int64),
        np.array([JAN_1_2020_NS], dtype=np.int64),
        np.array([1_577_836_800.0]),
    ],
)
def test_epoch_unit_is_read_from_magnitude(values: np.ndarray) -> None:
    assert epoch_to_ns(values).tolist() == [JAN_1_2020_NS]


def test_float_epoch_keeps_exact_fractions() -> None:
    assert epoch_to_ns(np.array([1_577_836_800.25, 1_577_836_800.5])).tolist() == [
        JAN_1_2020_NS + 250_000_000,
        JAN_1_2020_NS + 500_000_000,
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-01-01", JAN_1_2020_NS),
        ("2020-01-01T01:00:00+01:00", JAN_1_2020_NS),
        ("2020-01-01T00:00:00.000123Z", JAN_1_2020_NS + 123_000),
        ("01.01.2020 00:00:01.500", JAN_1_2020_NS + 1_500_000_000),
        ("1.1.2020", JAN_1_2020_NS),
    ],
)
def test_time_text_parses_to_utc_ns(text: str, expected: int) -> None:
    assert parse_time_text(text) == expected


def test_unparsable_time_text_raises_value_error() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_time_text("31.02.2020")


def test_format_ns_is_iso_utc() -> None:
    assert format_ns(JAN_1_2020_NS + 1_000) == "2020-01-01T00:00:00.000001Z"
