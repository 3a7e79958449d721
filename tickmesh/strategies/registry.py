"""Strategies by name, so configs, the runner and discovery refer to them as plain strings."""

from __future__ import annotations

from typing import TypeVar

from tickmesh.strategies.base import Strategy

S = TypeVar("S", bound=type[Strategy])

_REGISTRY: dict[str, type[Strategy]] = {}


class UnknownStrategyError(KeyError):
    """No strategy is registered under the name; the message lists the ones that are."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(cls: S) -> S:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    name = cls.name
    if not name:
        raise ValueError(f'{cls.__qualname__} has no name; set `name = "..."` on the class')
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(
            f"strategy name {name!r} is taken by {existing.__module__}.{existing.__qualname__}"
        )
    _REGISTRY[name] = cls
    return cls


def get_strategy(name: str) -> type[Strategy]:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownStrategyError(
            f"unknown strategy {name!r}; available: {', '.join(available())}"
        ) from None


def available() -> list[str]:
    """Registered strategy names, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def _load_builtins() -> None:
    import tickmesh.strategies.builtin  # noqa: F401  (registers on import)
