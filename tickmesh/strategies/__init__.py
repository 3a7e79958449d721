"""Strategies: incremental indicators, typed parameters, the strategy API, a registry by name,
the built-in strategies and the runner that turns bars into signals."""

from tickmesh.strategies.base import Strategy, StrategyContext
from tickmesh.strategies.builtin import DonchianBreakout, RsiReversion, SmaCross
from tickmesh.strategies.indicators import (
    ATR,
    EMA,
    RSI,
    SMA,
    Crossover,
    Donchian,
    RollingMax,
    RollingMin,
    RollingStd,
)
from tickmesh.strategies.parameters import (
    BoolParameter,
    CategoricalParameter,
    FloatParameter,
    IntParameter,
    Parameter,
)
from tickmesh.strategies.registry import (
    UnknownStrategyError,
    available,
    get_strategy,
    register,
)
from tickmesh.strategies.runner import StrategyInstanceConfig, StrategyRunner, StrategyStatus

__all__ = [
    "ATR",
    "EMA",
    "RSI",
    "SMA",
    "BoolParameter",
    "CategoricalParameter",
    "Crossover",
    "Donchian",
    "DonchianBreakout",
    "FloatParameter",
    "IntParameter",
    "Parameter",
    "RollingMax",
    "RollingMin",
    "RollingStd",
    "RsiReversion",
    "SmaCross",
    "Strategy",
    "StrategyContext",
    "StrategyInstanceConfig",
    "StrategyRunner",
    "StrategyStatus",
    "UnknownStrategyError",
    "available",
    "get_strategy",
    "register",
]
