"""Clocks are passed in, never reached for: domain code asks the clock it was given."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current time in nanoseconds since the Unix epoch."""
        ...


class LiveClock:
    """Wall-clock time."""

    def now_ns(self) -> int:
        return time.time_ns()


class SimulatedClock:
    """Time that only moves when told to; replays and backtests drive it from event time."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        """Move forward to ``ts_ns``; time never goes backwards."""
        self._now = max(self._now, ts_ns)
