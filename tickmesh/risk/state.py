"""The trading state (ACTIVE / REDUCING / HALTED): driven by drawdown from peak equity and by
operator commands.

Drawdown only escalates, with one exception: a REDUCING state the drawdown caused lifts by itself
once the drawdown is back under ``reduce_at_drawdown_pct``. HALTED, and any state an operator
set, stays until an operator changes it.
"""

from __future__ import annotations

from decimal import Decimal

from tickmesh.model.enums import CommandType, TradingState
from tickmesh.model.events import Command
from tickmesh.risk.limits import RiskLimits

_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
MANUAL = "manual"


class TradingGate:
    """Holds the state, why it is in it, and the equity and peak the drawdown is measured on.

    Every mutator returns whether the state changed, so the caller emits exactly one
    ``RiskState`` per change.
    """

    def __init__(self, limits: RiskLimits) -> None:
        self._limits = limits
        self.state = TradingState.ACTIVE
        self.reason = ""
        self.by_drawdown = False
        self.equity: Decimal | None = None
        self.peak: Decimal | None = None

    @property
    def drawdown(self) -> float:
        """Fall from peak equity as a fraction of the peak (0.0 when unknown)."""
        if self.equity is None or self.peak is None or self.peak <= 0:
            return 0.0
        return max(float((self.peak - self.equity) / self.peak), 0.0)

    def on_equity(self, equity: Decimal) -> bool:
        self.equity = equity
        self.peak = equity if self.peak is None else max(self.peak, equity)
        return self._follow_drawdown()

    def on_command(self, cmd: Command) -> bool:
        if cmd.command is CommandType.HALT:
            return self._set(TradingState.HALTED, MANUAL)
        if cmd.command is CommandType.RESUME:
            return self._resume()
        if cmd.command is CommandType.SET_STATE:
            return self._set_state(cmd.args.get("state", ""))
        return False

    def set_limits(self, limits: RiskLimits) -> bool:
        """Measure drawdown against new thresholds from now on, starting with the equity seen."""
        self._limits = limits
        return self.equity is not None and self._follow_drawdown()

    def restore(self, state: TradingState, reason: str, by_drawdown: bool) -> None:
        self.state, self.reason, self.by_drawdown = state, reason, by_drawdown

    def _set_state(self, name: str) -> bool:
        try:
            state = TradingState(name.strip().upper())
        except ValueError:
            return False
        if state is TradingState.ACTIVE:
            return self._resume()
        return self._set(state, MANUAL)

    def _resume(self) -> bool:
        self.peak = self.equity
        return self._set(TradingState.ACTIVE, MANUAL)

    def _follow_drawdown(self) -> bool:
        target, reason = self._drawdown_target()
        if _SEVERITY[target] > _SEVERITY[self.state]:
            return self._set(target, reason, by_drawdown=True)
        recovered = target is TradingState.ACTIVE and self.state is TradingState.REDUCING
        if recovered and self.by_drawdown:
            return self._set(TradingState.ACTIVE, reason, by_drawdown=True)
        return False

    def _drawdown_target(self) -> tuple[TradingState, str]:
        dd = self.drawdown
        halt_at = self._limits.halt_at_drawdown_pct
        reduce_at = self._limits.reduce_at_drawdown_pct
        if halt_at is not None and dd >= halt_at:
            return TradingState.HALTED, f"drawdown {dd:.2%} >= halt_at_drawdown_pct {halt_at:.2%}"
        if reduce_at is not None and dd >= reduce_at:
            return (
                TradingState.REDUCING,
                f"drawdown {dd:.2%} >= reduce_at_drawdown_pct {reduce_at:.2%}",
            )
        return TradingState.ACTIVE, f"drawdown {dd:.2%} recovered"

    def _set(self, state: TradingState, reason: str, *, by_drawdown: bool = False) -> bool:
        if state is self.state:
            return False
        self.state, self.reason, self.by_drawdown = state, reason, by_drawdown
        return True
