"""Fills in the fields every event carries from the clock and id generator a component holds."""

from __future__ import annotations

from typing import Any

from tickmesh.core.clock import Clock
from tickmesh.core.ids import IdGenerator


class Stamper:
    """Makes the common event fields for one component (``source``) in one namespace.

    ``Tick(**stamper(ts_event), symbol=...)``: event id and ``ts_init`` come from the injected
    id generator and clock, so a simulated clock and a seeded generator give reproducible events.
    """

    __slots__ = ("clock", "ids", "namespace", "source")

    def __init__(self, clock: Clock, ids: IdGenerator, source: str, namespace: str = "") -> None:
        self.clock = clock
        self.ids = ids
        self.source = source
        self.namespace = namespace

    def __call__(self, ts_event: int | None = None, correlation_id: str = "") -> dict[str, Any]:
        now = self.clock.now_ns()
        return {
            "event_id": self.ids.next_id(),
            "ts_event": now if ts_event is None else ts_event,
            "ts_init": now,
            "source": self.source,
            "namespace": self.namespace,
            "correlation_id": correlation_id,
        }

    @classmethod
    def deterministic(cls, source: str, namespace: str = "", seed: int | str = 0) -> Stamper:
        """A stamper on a simulated clock with seeded ids, for tests and replays."""
        from tickmesh.core.clock import SimulatedClock

        clock = SimulatedClock()
        return cls(
            clock, IdGenerator(clock, seed=f"{seed}:{source}:{namespace}"), source, namespace
        )
