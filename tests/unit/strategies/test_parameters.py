"""Typed parameters: ranges, validation messages, and how strategies resolve them."""

from __future__ import annotations

import random

import pytest

from tickmesh.strategies import (
    BoolParameter,
    CategoricalParameter,
    FloatParameter,
    IntParameter,
    SmaCross,
    Strategy,
)


class Tunable(Strategy):
    name = "tunable"
    window = IntParameter(10, 2, 50, step=2)
    threshold = FloatParameter(0.5, 0.0, 1.0)
    trail = BoolParameter(False)
    mode = CategoricalParameter("fast", ["fast", "slow"])


def test_strategy_parameters_lists_declarations_in_order() -> None:
    names = list(Tunable.parameters())

    assert names == ["window", "threshold", "trail", "mode"]


def test_strategy_without_params_takes_defaults() -> None:
    strategy = Tunable()

    assert strategy.params == {"window": 10, "threshold": 0.5, "trail": False, "mode": "fast"}
    assert (strategy.window, strategy.threshold, strategy.trail, strategy.mode) == (
        10, 0.5, False, "fast",
    )  # fmt: skip


def test_strategy_valid_params_override_defaults_and_int_becomes_float() -> None:
    strategy = Tunable({"window": 20, "threshold": 1, "trail": True, "mode": "slow"})

    assert strategy.params == {"window": 20, "threshold": 1.0, "trail": True, "mode": "slow"}
    assert isinstance(strategy.threshold, float)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"window": 52}, r"'window': 52 .*2\.\.50 step 2"),
        ({"window": 11}, r"'window': 11 .*step 2"),
        ({"window": 10.0}, r"'window': 10\.0 .*an int"),
        ({"window": True}, r"'window': True"),
        ({"threshold": 1.5}, r"'threshold': 1\.5 .*0\.0\.\.1\.0"),
        ({"threshold": float("nan")}, r"'threshold': nan"),
        ({"threshold": "0.5"}, r"'threshold': '0\.5'"),
        ({"trail": 1}, r"'trail': 1 .*true or false"),
        ({"mode": "medium"}, r"'mode': 'medium' .*one of 'fast', 'slow'"),
    ],
)
def test_bad_param_value_raises_naming_parameter_value_and_range(params, named) -> None:
    with pytest.raises(ValueError, match=named):
        Tunable(params)


def test_unknown_param_names_raise_listing_them() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter\(s\).*'tunable': speed, zeta; known"):
        Tunable({"zeta": 1, "speed": 2, "window": 10})


def test_sma_cross_fast_not_below_slow_raises_naming_both() -> None:
    with pytest.raises(ValueError, match=r"'fast' \(30\) must be below 'slow' \(20\)"):
        SmaCross({"fast": 30})


def test_unknown_timeframe_raises() -> None:
    with pytest.raises(ValueError, match="timeframe '7m'"):
        Tunable(timeframe="7m")


def test_timeframe_per_instance_overrides_class_default() -> None:
    default, hourly = Tunable(), Tunable(timeframe="1h")

    assert (default.timeframe, hourly.timeframe) == ("1m", "1h")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: IntParameter(1, 2, 5), "default 1 is not within an int in 2..5"),
        (lambda: IntParameter(3, 5, 2), "low <= high"),
        (lambda: IntParameter(3, 1, 5, step=0), "step >= 1"),
        (lambda: IntParameter(2, 1, 5, step=2), "default 2 is not within .* step 2"),
        (lambda: FloatParameter(2.0, 0.0, 1.0), "default 2.0 is not within"),
        (lambda: FloatParameter(0.5, 0.0, float("inf")), "finite"),
        (lambda: CategoricalParameter("x", ["a", "b"]), "default 'x' is not within"),
        (lambda: CategoricalParameter("a", ["a"]), "at least two choices"),
    ],
)
def test_inconsistent_declaration_raises(build, message) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_samples_stay_within_declared_space() -> None:
    rng = random.Random(7)
    params = Tunable.parameters()

    for _ in range(200):
        drawn = {name: p.sample(rng) for name, p in params.items()}
        Tunable(drawn)


def test_int_parameter_values_is_the_search_grid() -> None:
    param = IntParameter(5, 2, 9, step=3)

    assert list(param.values) == [2, 5, 8]


def test_parameter_read_on_class_is_the_declaration() -> None:
    declared = Tunable.window

    assert isinstance(declared, IntParameter)
    assert (declared.name, declared.low, declared.high) == ("window", 2, 50)
