"""Pre-trade risk: limits, risk-adjusted sizing and the ACTIVE / REDUCING / HALTED state."""

from tickmesh.risk.limits import RiskLimits
from tickmesh.risk.manager import DEFAULT_INSTRUMENT, RiskManager
from tickmesh.risk.snapshot import PositionRecord, RiskSnapshot, WorkingRecord

__all__ = [
    "DEFAULT_INSTRUMENT",
    "PositionRecord",
    "RiskLimits",
    "RiskManager",
    "RiskSnapshot",
    "WorkingRecord",
]
