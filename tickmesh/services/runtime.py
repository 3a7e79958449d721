"""What every service shares: declared inputs, a pure-ish handler, dedup, counters, an error
policy, heartbeats and a lifecycle. The same service object runs in two hosts:

- :class:`SyncHost` attaches it to the deterministic memory bus (replays, backtests,
  ``tickmesh run`` on the embedded default);
- :class:`AsyncRunner` consumes a real subscription: fetch, handle, publish, then ack — so a crash
  between handling and ack means redelivery, and dedup by ``event_id`` makes that harmless.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tickmesh import topics
from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.bus.base import Bus, Delivery, Outgoing, SubscribeOptions
from tickmesh.core.errors import DecodeError, RetryableError
from tickmesh.model.events import BarBatch, Event, Heartbeat

if TYPE_CHECKING:
    from tickmesh.services.tracing import Tracing

log = logging.getLogger(__name__)

QUIET_FOREVER = 1 << 62
"""What :meth:`Service.quiet_until` returns when a service never needs bars one by one."""
_MARKET = "market."


class DedupWindow:
    """Remembers the last ``capacity`` event ids; a redelivered event is recognised and skipped."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def seen(self, event_id: str) -> bool:
        """True if already seen; otherwise remember it and return False."""
        if event_id in self._seen:
            return True
        self._seen[event_id] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return False

    def forget(self, event_id: str) -> None:
        """A failed attempt must not make the redelivery look like a duplicate."""
        self._seen.pop(event_id, None)


@dataclass
class ServiceStats:
    events_in: int = 0
    events_out: int = 0
    errors: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    handle_seconds: float = 0.0
    handle_max_seconds: float = 0.0
    started_at: float = field(default_factory=time.monotonic)

    def as_counters(self) -> dict[str, float]:
        mean = self.handle_seconds / self.events_in if self.events_in else 0.0
        return {
            "events_in": self.events_in,
            "events_out": self.events_out,
            "errors": self.errors,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "handle_mean_us": mean * 1e6,
            "handle_max_us": self.handle_max_seconds * 1e6,
        }


class Service(abc.ABC):
    """A unit of the pipeline. ``handle`` is synchronous and returns what to publish."""

    name: str = "service"

    def __init__(self) -> None:
        self.stats = ServiceStats()
        self.dedup = DedupWindow()
        self._reads_market: bool | None = None

    @abc.abstractmethod
    def inputs(self) -> list[str]:
        """Topics this service consumes."""

    @abc.abstractmethod
    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        """Handle one event; return the events to publish. Raise to have it retried."""

    def on_start(self) -> Sequence[Outgoing]:
        return ()

    async def flush(self) -> None:  # noqa: B027 - optional hook
        """Persist anything buffered (I/O services override this)."""

    def status(self) -> dict[str, object]:
        """Service-specific state for the live view and heartbeats."""
        return {}

    # --- fast-forward, for replays (see tickmesh.backtest.engine) ----------------------------

    def prepare_replay(self, series: Mapping[str, BarBatch]) -> None:  # noqa: B027 - optional
        """Called once before a replay of ``series`` (symbol -> all its bars) that may hand
        this service runs of bars as :class:`BarBatch` events."""

    def quiet_until(self, ts: int) -> int:
        """In such a replay: the earliest bar open time at or after ``ts`` from which this
        service needs market events one by one. Bars before it may reach it as one
        :class:`BarBatch`, after which it must be in the state the bars one by one would have
        left, having published nothing for them. The replay asks again after sending the open
        prints at ``ts`` one by one; a batch that then starts with those bars says so
        (``BarBatch.opened``). The default is safe: ``ts`` for a service that reads market data
        (it never takes a batch), :data:`QUIET_FOREVER` otherwise."""
        reads_market = self._reads_market
        if reads_market is None:
            reads_market = self._reads_market = any(t.startswith(_MARKET) for t in self.inputs())
        return ts if reads_market else QUIET_FOREVER

    def process(self, topic: str, event: Event, *, dedup: bool = True) -> Sequence[Outgoing]:
        """Dedup, time and count one event around :meth:`handle`. ``dedup=False`` is for hosts
        that never deliver an event twice (the deterministic :class:`SyncHost`)."""
        if dedup and self.dedup.seen(event.event_id):
            self.stats.duplicates += 1
            return ()
        started = time.perf_counter()
        try:
            out = self.handle(topic, event)
        except Exception:
            self.stats.errors += 1
            if dedup:
                self.dedup.forget(event.event_id)
            raise
        elapsed = time.perf_counter() - started
        stats = self.stats
        stats.events_in += 1
        stats.events_out += len(out)
        stats.handle_seconds += elapsed
        stats.handle_max_seconds = max(stats.handle_max_seconds, elapsed)
        return out

    def heartbeat(self, ts_ns: int) -> Heartbeat:
        """Liveness plus counters: the runtime's own and the numeric part of :meth:`status`;
        a ``state`` in :meth:`status` becomes the heartbeat's status."""
        status = self.status()
        counters = self.stats.as_counters()
        counters.update(
            (k, float(v))
            for k, v in status.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        )
        return Heartbeat(
            event_id=f"hb-{self.name}-{ts_ns}",
            ts_event=ts_ns,
            ts_init=ts_ns,
            source=self.name,
            service=self.name,
            status=str(status.get("state", "running")),
            uptime_s=time.monotonic() - self.stats.started_at,
            counters=counters,
        )


class SyncHost:
    """Runs services on the deterministic memory bus: handlers are called in publish order.

    Every event reaches each service exactly once (a handler that raises is retried at once,
    then dead-lettered), so no event-id dedup is needed here; a resumed session replays into
    fresh services and the store ignores what it already holds. With ``tracing``, each handler
    runs in a span (see :mod:`tickmesh.services.tracing`); without, nothing is added per event."""

    def __init__(
        self, bus: MemoryBus, max_deliver: int = 3, tracing: Tracing | None = None
    ) -> None:
        self.bus = bus
        self.services: list[Service] = []
        self._max_deliver = max_deliver
        self.tracing = tracing

    def add(self, service: Service) -> None:
        self.services.append(service)
        tracing = self.tracing

        publish = self.bus.publish_nowait

        def handler(topic: str, event: Event) -> None:
            for message in service.process(topic, event, dedup=False):
                publish(message.topic, message.event, message.key)

        def traced(topic: str, event: Event) -> None:
            assert tracing is not None
            for message in tracing.handle_local(service, topic, event):
                self.bus.publish_nowait(message.topic, message.event, message.key)

        def on_dead(topic: str, event: Event | None, exc: BaseException) -> None:
            service.stats.dead_lettered += 1
            log.error("%s: message on %s dead-lettered: %s", service.name, topic, exc)

        chosen = handler if tracing is None else traced
        self.bus.attach(service.inputs(), service.name, chosen, self._max_deliver, on_dead)

    def start(self) -> None:
        for service in self.services:
            for message in service.on_start():
                self.bus.publish_nowait(message.topic, message.event, message.key)
        self.bus.run_until_idle()

    def publish(self, event: Event, topic: str) -> None:
        self.bus.publish_nowait(topic, event, topics.key_for(event))

    def run_until_idle(self) -> int:
        return self.bus.run_until_idle()

    async def flush(self) -> None:
        for service in self.services:
            await service.flush()

    def heartbeats(self, ts_ns: int) -> None:
        for service in self.services:
            beat = service.heartbeat(ts_ns)
            self.bus.publish_nowait(topics.SYSTEM_HEARTBEATS, beat, service.name)


class AsyncRunner:
    """Consumes one service's inputs from any bus backend until stopped, then drains."""

    def __init__(
        self,
        bus: Bus,
        service: Service,
        consumer: str | None = None,
        options: SubscribeOptions | None = None,
        heartbeat_s: float = 5.0,
        tracing: Tracing | None = None,
    ) -> None:
        self.bus = bus
        self.service = service
        self.consumer = consumer or f"{service.name}-1"
        self.options = options or SubscribeOptions()
        self.heartbeat_s = heartbeat_s
        self.tracing = tracing
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, flush and leave the group."""
        self._stopping.set()

    async def run(self) -> None:
        service = self.service
        sub = self.bus.subscribe(service.inputs(), service.name, self.consumer, self.options)
        await self.bus.publish_many(list(service.on_start()))
        last_beat = 0.0
        try:
            while not self._stopping.is_set():
                for delivery in await sub.fetch(self.options.prefetch, timeout=0.2):
                    await self._handle(delivery)
                if time.monotonic() - last_beat >= self.heartbeat_s:
                    last_beat = time.monotonic()
                    await service.flush()
                    beat = service.heartbeat(time.time_ns())
                    await self.bus.publish(topics.SYSTEM_HEARTBEATS, beat, service.name)
        finally:
            await service.flush()
            await sub.close()

    async def _handle(self, delivery: Delivery) -> None:
        try:
            event = delivery.event
        except DecodeError as exc:
            self.service.stats.dead_lettered += 1
            await delivery.nack(str(exc), terminal=True)
            return
        try:
            if self.tracing is None:
                out = self.service.process(delivery.topic, event)
            else:
                out = self.tracing.handle(self.service, delivery, event)
        except RetryableError as exc:
            await delivery.nack(f"{type(exc).__name__}: {exc}")
            return
        except Exception as exc:  # error policy: retry up to max_deliver, then the DLQ
            log.exception("%s failed on %s", self.service.name, delivery.topic)
            await delivery.nack(f"{type(exc).__name__}: {exc}")
            return
        if out:
            await self.bus.publish_many(list(out))
        await delivery.ack()
