"""Portfolio: the exact, idempotent ledger of fills with per-strategy and namespace views."""

from tickmesh.portfolio.ledger import Portfolio, PositionKey, Totals
from tickmesh.portfolio.position import Position

__all__ = ["Portfolio", "Position", "PositionKey", "Totals"]
