"""Execution: the paper matching engine (a simulated venue that is pure domain code)."""

from tickmesh.execution.account import AccountState, PaperAccount
from tickmesh.execution.config import FillOn, PaperConfig
from tickmesh.execution.matching_engine import DEFAULT_INSTRUMENT, PaperMatchingEngine
from tickmesh.execution.orders import OpenOrder

__all__ = [
    "DEFAULT_INSTRUMENT",
    "AccountState",
    "FillOn",
    "OpenOrder",
    "PaperAccount",
    "PaperConfig",
    "PaperMatchingEngine",
]
