"""Typed strategy parameters with their search ranges, declared as class attributes.

``fast = IntParameter(10, 2, 100)`` on a strategy class gives discovery a space to search and
gives the instance ``self.fast`` (an ``int``) once constructed with validated params. Modelled on
freqtrade's ``strategy/parameters.py``: the declaration carries the default, the range and
whether the optimiser may move it.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, Self, TypeVar, overload

T = TypeVar("T")


class Parameter(ABC, Generic[T]):
    """One tunable value. Reading it on a strategy instance returns the instance's value."""

    name: str = ""

    def __init__(self, default: T, *, optimize: bool = True) -> None:
        self.default = default
        self.optimize = optimize

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> Self | T:
        if instance is None:
            return self
        values: dict[str, T] = instance.__dict__["_params"]
        return values[self.name]

    def validate(self, value: object) -> T:
        """The value converted to this parameter's type, or ``ValueError`` naming the parameter,
        the value and the allowed range."""
        checked = self._check(value)
        if checked is None:
            raise ValueError(
                f"parameter {self.name!r}: {value!r} is not allowed; expected {self.describe()}"
            )
        return checked

    @abstractmethod
    def _check(self, value: object) -> T | None:
        """The converted value, or ``None`` when it is out of type or range."""

    @abstractmethod
    def describe(self) -> str:
        """The allowed values, for error messages and listings."""

    @abstractmethod
    def sample(self, rng: random.Random) -> T:
        """A uniformly drawn allowed value (what a search starts from or mutates to)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}={self.default!r}, {self.describe()})"

    def _check_default(self) -> None:
        if self._check(self.default) is None:
            raise ValueError(f"default {self.default!r} is not within {self.describe()}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class IntParameter(Parameter[int]):
    """An integer in ``low..high`` (inclusive) on a grid of ``step`` from ``low``."""

    def __init__(
        self, default: int, low: int, high: int, step: int = 1, *, optimize: bool = True
    ) -> None:
        if not (_is_int(low) and _is_int(high) and _is_int(step)) or step < 1 or low > high:
            raise ValueError(
                f"IntParameter needs ints low <= high and step >= 1, got {low}..{high}"
            )
        super().__init__(default, optimize=optimize)
        self.low, self.high, self.step = low, high, step
        self._check_default()

    @property
    def values(self) -> range:
        return range(self.low, self.high + 1, self.step)

    def _check(self, value: object) -> int | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        return value if value in self.values else None

    def describe(self) -> str:
        grid = f" step {self.step}" if self.step != 1 else ""
        return f"an int in {self.low}..{self.high}{grid}"

    def sample(self, rng: random.Random) -> int:
        return rng.choice(self.values)


class FloatParameter(Parameter[float]):
    """A finite float in ``[low, high]``; ints are accepted and converted."""

    def __init__(self, default: float, low: float, high: float, *, optimize: bool = True) -> None:
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ValueError(f"FloatParameter needs finite low <= high, got {low}..{high}")
        super().__init__(float(default), optimize=optimize)
        self.low, self.high = float(low), float(high)
        self._check_default()

    def _check(self, value: object) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        number = float(value)
        return number if self.low <= number <= self.high else None

    def describe(self) -> str:
        return f"a number in {self.low}..{self.high}"

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


class BoolParameter(Parameter[bool]):
    """``True`` or ``False`` (no truthy stand-ins)."""

    def __init__(self, default: bool, *, optimize: bool = True) -> None:
        super().__init__(default, optimize=optimize)
        self._check_default()

    def _check(self, value: object) -> bool | None:
        return value if isinstance(value, bool) else None

    def describe(self) -> str:
        return "true or false"

    def sample(self, rng: random.Random) -> bool:
        return rng.random() < 0.5


class CategoricalParameter(Parameter[Any]):
    """One of a fixed list of choices (compared with ``==``)."""

    def __init__(
        self, default: object, choices: Sequence[object], *, optimize: bool = True
    ) -> None:
        if len(choices) < 2 or None in choices:
            raise ValueError(
                "CategoricalParameter needs at least two choices, none of them None; "
                f"got {choices!r}"
            )
        super().__init__(default, optimize=optimize)
        self.choices = tuple(choices)
        self._check_default()

    def _check(self, value: object) -> object | None:
        for choice in self.choices:
            if type(choice) is type(value) and choice == value:
                return choice
        return None

    def describe(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def sample(self, rng: random.Random) -> object:
        return rng.choice(self.choices)
