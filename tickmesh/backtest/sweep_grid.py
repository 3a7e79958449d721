"""Parameter grids for the vectorized sweep: the values to try for each parameter of a built-in
strategy, and the combinations of them the strategy accepts.

A sweep axis is written ``name=start:stop:step`` (inclusive, as the CLI's ``--sweep
fast=5:50:5``), ``name=start:stop`` (step 1), ``name=a,b,c`` or ``name=value``; booleans are
``true`` / ``false``. Every value is checked against the parameter's declared range, so a bad
value fails before any bar is evaluated. Combinations that the strategy's own cross-parameter
check rejects (``fast >= slow``) are left out and counted; a grid with none left is an error.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tickmesh.core.errors import ConfigError
from tickmesh.strategies.base import Strategy
from tickmesh.strategies.registry import UnknownStrategyError, get_strategy


class SweepConfigError(ConfigError, ValueError):
    """A sweep that cannot run as asked: the message names the parameter and what is allowed."""


@dataclass(frozen=True)
class ParameterGrid:
    """The parameter sets of one sweep, in grid order (the product of the axes, first axis
    outermost). Each set holds every parameter of the strategy, defaults included."""

    strategy: str
    axes: tuple[str, ...]
    sets: tuple[Mapping[str, Any], ...]
    dropped: int = 0
    """Combinations the strategy rejected (for example ``fast >= slow``)."""

    def __len__(self) -> int:
        return len(self.sets)


def parse_axis(spec: str) -> tuple[str, tuple[int | bool, ...]]:
    """``"fast=5:50:5"`` -> ``("fast", (5, 10, ..., 50))``; see the module doc for the forms."""
    name, sep, text = spec.partition("=")
    name, text = name.strip(), text.strip()
    if not sep or not name or not text:
        raise SweepConfigError(
            f"sweep axis {spec!r}: expected NAME=START:STOP:STEP, NAME=A,B,C or NAME=VALUE"
        )
    if ":" in text:
        return name, int_range(name, *_range_parts(name, text))
    return name, tuple(_scalar(name, part) for part in text.split(","))


def int_range(name: str, start: int, stop: int, step: int = 1) -> tuple[int, ...]:
    """``start, start + step, ...`` up to and including ``stop``."""
    if step <= 0:
        raise SweepConfigError(f"parameter {name!r}: step must be positive, got {step}")
    if start > stop:
        raise SweepConfigError(
            f"parameter {name!r}: empty range {start}:{stop}:{step} (start is above stop)"
        )
    return tuple(range(start, stop + 1, step))


def _range_parts(name: str, text: str) -> tuple[int, int, int]:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise SweepConfigError(f"parameter {name!r}: range {text!r} is not START:STOP[:STEP]")
    start, stop, *step = (_integer(name, part) for part in parts)
    return start, stop, step[0] if step else 1


def _integer(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise SweepConfigError(f"parameter {name!r}: {text.strip()!r} is not an integer") from None


def _scalar(name: str, text: str) -> int | bool:
    word = text.strip().lower()
    if word in ("true", "false"):
        return word == "true"
    return _integer(name, text)


def build_grid(strategy: str, axes: Mapping[str, Iterable[object]]) -> ParameterGrid:
    """Every combination of the axes' values that ``strategy`` accepts; parameters without an
    axis take their defaults. Raises :class:`SweepConfigError` naming the parameter for an
    unknown strategy or parameter, an empty axis, a repeated or out-of-range value, and when
    no combination is valid."""
    cls = _strategy_class(strategy)
    values = {name: _axis_values(cls, name, given) for name, given in axes.items()}
    sets: list[Mapping[str, Any]] = []
    reasons: list[str] = []
    for combination in itertools.product(*values.values()):
        try:
            sets.append(cls(dict(zip(values, combination, strict=True))).params)
        except ValueError as exc:
            reasons.append(str(exc))
    if not sets:
        raise SweepConfigError(
            f"no valid parameter set in the {strategy} grid; for example: {reasons[0]}"
        )
    return ParameterGrid(strategy, tuple(values), tuple(sets), dropped=len(reasons))


def single_set(strategy: str, params: Mapping[str, object]) -> ParameterGrid:
    """A one-set grid; the set must be valid (errors name the parameter)."""
    cls = _strategy_class(strategy)
    try:
        resolved = cls(dict(params)).params
    except ValueError as exc:
        raise SweepConfigError(f"{strategy}: {exc}") from None
    return ParameterGrid(strategy, (), (resolved,))


def _strategy_class(strategy: str) -> type[Strategy]:
    try:
        return get_strategy(strategy)
    except UnknownStrategyError as exc:
        raise SweepConfigError(str(exc)) from None


def _axis_values(cls: type[Strategy], name: str, given: Iterable[object]) -> tuple[Any, ...]:
    declared = cls.parameters()
    if name not in declared:
        raise SweepConfigError(
            f"unknown parameter {name!r} for strategy {cls.name!r}; known: {', '.join(declared)}"
        )
    values = tuple(given)
    if not values:
        raise SweepConfigError(f"parameter {name!r}: no values to sweep")
    checked: list[Any] = []
    for value in values:
        try:
            checked.append(declared[name].validate(value))
        except ValueError as exc:
            raise SweepConfigError(str(exc)) from None
    if len(set(checked)) != len(checked):
        raise SweepConfigError(f"parameter {name!r}: a value is listed twice in {values!r}")
    return tuple(checked)
