"""The one-process platform on a shared bus: ``tickmesh run --bus redis://...``.

The pipeline stays on the deterministic in-process bus (so a run, its resume and its crash
recovery stay exact); the bridge copies every event it carries to the external bus, where
``tickmesh tail``, ``tickmesh mirror``, dashboards and other deployments see them, and brings
operator commands published on the external ``ops.commands`` back in. Copies are sent in
batches at the platform's flush points; a slow broker slows the replay instead of growing a
buffer without bound.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tickmesh import topics
from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.bus.base import Bus, Outgoing, SubscribeOptions, Subscription
from tickmesh.core.errors import DecodeError
from tickmesh.model.events import Command, Event

if TYPE_CHECKING:
    from tickmesh.services.tracing import Tracing

log = logging.getLogger(__name__)

BATCH = 1024
MAX_BUFFERED = 65_536


class BusBridge:
    def __init__(
        self, external: Bus, namespace: str, *, group: str = "", tracing: Tracing | None = None
    ) -> None:
        self.external = external
        self.tracing = tracing
        self.namespace = namespace
        self.group = group or f"platform-{namespace}"
        self.forwarded = 0
        self.commands_in = 0
        self._buffer: list[Outgoing] = []
        self._commands: Subscription | None = None

    def attach(self, bus: MemoryBus, timeframes: Sequence[str]) -> None:
        """Copy what the pipeline publishes on every topic but ``ops.commands`` (commands come
        from outside; copying them back out would loop)."""
        names = [t for t in self.topic_names(timeframes) if t != topics.OPS_COMMANDS]
        bus.attach(names, "bridge", self._keep if self.tracing is None else self._keep_traced)
        self._commands = self.external.subscribe(
            [topics.OPS_COMMANDS], self.group, "platform", SubscribeOptions(start="latest")
        )

    def topic_names(self, timeframes: Sequence[str]) -> list[str]:
        market = [topics.MARKET_TICKS, *(topics.bars(tf) for tf in timeframes)]
        ns = self.namespace
        return [
            *market,
            topics.signals_raw(ns),
            topics.signals_validated(ns),
            topics.signals_rejected(ns),
            topics.orders_events(ns),
            topics.portfolio(ns),
            topics.risk_state(ns),
            topics.SYSTEM_HEARTBEATS,
            topics.SYSTEM_DLQ,
            topics.OPS_COMMANDS,
        ]

    @property
    def backlog(self) -> int:
        return len(self._buffer)

    @property
    def full(self) -> bool:
        return len(self._buffer) >= MAX_BUFFERED

    def _keep(self, topic: str, event: Event) -> None:
        self._buffer.append(Outgoing(topic, event, topics.key_for(event)))

    def _keep_traced(self, topic: str, event: Event) -> None:
        """As :meth:`_keep`, with the trace context the pipeline gave ``event`` in its headers."""
        assert self.tracing is not None
        headers = self.tracing.headers_for(event)
        self._buffer.append(Outgoing(topic, event, topics.key_for(event), headers))

    async def flush(self) -> None:
        """Send everything kept so far, in order."""
        while self._buffer:
            batch, self._buffer = self._buffer[:BATCH], self._buffer[BATCH:]
            await self.external.publish_many(batch)
            self.forwarded += len(batch)

    async def commands(self) -> list[Command]:
        """Operator commands that arrived on the external bus since the last call."""
        if self._commands is None:
            return []
        received: list[Command] = []
        for delivery in await self._commands.fetch(64, timeout=0.001):
            try:
                event = delivery.event
            except DecodeError as exc:
                await delivery.nack(str(exc), terminal=True)
                continue
            if isinstance(event, Command):
                received.append(event)
                if self.tracing is not None:
                    self.tracing.adopt(event, delivery.headers)
            else:
                log.warning("ignored a %s on %s", type(event).__name__, topics.OPS_COMMANDS)
            await delivery.ack()
        self.commands_in += len(received)
        return received

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            if self._commands is not None:
                await self._commands.close()
            await self.external.close()
