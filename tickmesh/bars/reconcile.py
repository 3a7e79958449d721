"""Bar parity between two pipelines (the seeds' shadow mode gate): minute by minute, exact.

Two series of bars of one symbol and timeframe are aligned on ``ts_open``. A minute matches when
both sides have a bar and open, high, low, close, volume and trade count are equal exactly (the
same ticks through the same rules give bit-identical floats; anything else is a difference worth
seeing). A minute present on one side only is a mismatch too. Parity is matching minutes over
the minutes either side has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tickmesh.model.events import Bar

FIELDS = ("open", "high", "low", "close", "volume", "trade_count")


@dataclass(frozen=True)
class Mismatch:
    symbol: str
    ts_open: int
    problem: str


@dataclass(frozen=True)
class Parity:
    symbol: str
    minutes: int
    matching: int
    mismatches: tuple[Mismatch, ...]

    @property
    def percent(self) -> float:
        return 100.0 * self.matching / self.minutes if self.minutes else 100.0


def compare_bars(symbol: str, a: Sequence[Bar], b: Sequence[Bar]) -> Parity:
    """Parity of two bar series of ``symbol`` (each in any order, one bar per ``ts_open``)."""
    left = {bar.ts_open: bar for bar in a}
    right = {bar.ts_open: bar for bar in b}
    minutes = sorted(left.keys() | right.keys())
    mismatches = []
    for ts in minutes:
        problem = _difference(left.get(ts), right.get(ts))
        if problem:
            mismatches.append(Mismatch(symbol, ts, problem))
    return Parity(symbol, len(minutes), len(minutes) - len(mismatches), tuple(mismatches))


def _difference(a: Bar | None, b: Bar | None) -> str:
    if a is None:
        return "only in b"
    if b is None:
        return "only in a"
    diffs = [
        f"{name} {getattr(a, name)!r} != {getattr(b, name)!r}"
        for name in FIELDS
        if getattr(a, name) != getattr(b, name)
    ]
    return "; ".join(diffs)


def overall_percent(results: Sequence[Parity]) -> float:
    minutes = sum(r.minutes for r in results)
    matching = sum(r.matching for r in results)
    return 100.0 * matching / minutes if minutes else 100.0
