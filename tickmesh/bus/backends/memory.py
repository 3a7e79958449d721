"""In-process bus: the reference implementation of the bus contract.

Each topic is a set of partitions holding a bounded, retained log. Consumer groups keep, per
partition, a cursor (next fresh offset), the lowest unacknowledged offset, the deliveries in
flight and a retry queue. A key always maps to the same partition and a partition is served to
one live member at a time, which gives per-key order.

Two ways to consume:
- asynchronously through :meth:`MemoryBus.subscribe` (what services do in ``tickmesh run``);
- synchronously through :meth:`MemoryBus.attach` + :meth:`MemoryBus.run_until_idle`: the
  deterministic mode for backtests and replays. Messages are dispatched in global publish order,
  handlers run to completion one at a time, and what they publish is dispatched after, so the
  same input always gives the same, byte-identical event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tickmesh.bus.base import Bus, Delivery, Outgoing, SubscribeOptions, Subscription
from tickmesh.bus.dlq import dead_letter
from tickmesh.core.errors import BusClosedError
from tickmesh.model.codec import decode, encode
from tickmesh.model.events import Event

SyncHandler = Callable[[str, Event], None]


class _Record:
    __slots__ = ("_event", "_payload", "headers", "key", "offset", "partition", "topic")

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: str,
        event: Event | None,
        payload: bytes | None,
        headers: dict[str, str],
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self._event = event
        self._payload = payload
        self.headers = headers

    @property
    def event(self) -> Event:
        if self._event is None:
            assert self._payload is not None
            self._event = decode(self._payload)
        return self._event

    @property
    def payload(self) -> bytes:
        if self._payload is None:
            assert self._event is not None
            self._payload = encode(self._event)
        return self._payload


class _Partition:
    __slots__ = ("base", "log", "next")

    def __init__(self) -> None:
        self.log: deque[_Record] = deque()
        self.base = 0
        self.next = 0

    def get(self, offset: int) -> _Record:
        return self.log[offset - self.base]


class _Inflight(Delivery):
    """One delivery in flight: it is both the group's bookkeeping and what the consumer acks."""

    __slots__ = ("attempt", "consumer", "deadline", "done", "group", "record")

    def __init__(
        self, group: _Group, record: _Record, attempt: int, consumer: str, deadline: float
    ) -> None:
        self.group = group
        self.record = record
        self.attempt = attempt
        self.consumer = consumer
        self.deadline = deadline
        self.done = False

    @property
    def topic(self) -> str:  # type: ignore[override]
        return self.record.topic

    @property
    def key(self) -> str:  # type: ignore[override]
        return self.record.key

    @property
    def headers(self) -> dict[str, str]:  # type: ignore[override]
        return self.record.headers

    @property
    def event(self) -> Event:
        return self.record.event

    @property
    def payload(self) -> bytes:
        return self.record.payload

    async def ack(self) -> None:
        if not self.done:
            self.group.ack(self.record.partition, self)

    async def nack(self, error: str, *, terminal: bool = False) -> None:
        self.group.fail(self.record.partition, self, error, terminal)


@dataclass(slots=True)
class _GroupPartition:
    cursor: int
    low: int
    acked_above: set[int] = field(default_factory=set)
    retry: deque[tuple[_Record, int]] = field(default_factory=deque)
    inflight: dict[int, _Inflight] = field(default_factory=dict)

    def settle(self, offset: int) -> None:
        """Mark ``offset`` acknowledged and advance the low-water mark."""
        if offset == self.low:
            self.low += 1
            while self.low in self.acked_above:
                self.acked_above.discard(self.low)
                self.low += 1
        elif offset > self.low:
            self.acked_above.add(offset)

    def unacked(self, next_offset: int) -> int:
        return next_offset - self.low - len(self.acked_above)


class _Group:
    """One consumer group's state on one topic."""

    def __init__(self, bus: MemoryBus, topic: _Topic, name: str, options: SubscribeOptions):
        self.bus = bus
        self.topic = topic
        self.name = name
        self.options = options
        earliest = options.start == "earliest"
        self.parts = []
        for part in topic.partitions:
            first = part.base if earliest else part.next
            self.parts.append(_GroupPartition(cursor=first, low=first))
        self.members: dict[str, float] = {}  # consumer -> last seen (monotonic)
        self.timeline: deque[_Inflight] = deque()

    def live_members(self, now: float) -> list[str]:
        horizon = now - self.options.ack_wait_s
        return [m for m, seen in self.members.items() if seen >= horizon]

    def assigned(self, consumer: str, now: float) -> list[int]:
        live = self.live_members(now) or [consumer]
        if consumer not in live:
            return []
        idx, n = live.index(consumer), len(live)
        return [p for p in range(len(self.parts)) if p % n == idx]

    def expire(self, now: float) -> None:
        """Give deliveries whose consumer went silent past ``ack_wait`` back to the group."""
        timeline = self.timeline
        while timeline and (timeline[0].done or timeline[0].deadline <= now):
            inflight = timeline.popleft()
            if not inflight.done:
                self.fail(inflight.record.partition, inflight, "ack wait expired")

    def take(self, consumer: str, budget: int, now: float) -> list[Delivery]:
        taken: list[Delivery] = []
        deadline = now + self.options.ack_wait_s
        for p in self.assigned(consumer, now):
            gp, part = self.parts[p], self.topic.partitions[p]
            while budget > len(taken) and gp.retry:
                record, attempts = gp.retry.popleft()
                taken.append(self._track(gp, record, attempts + 1, consumer, deadline))
            while budget > len(taken) and gp.cursor < part.next:
                record = part.get(gp.cursor)
                gp.cursor += 1
                taken.append(self._track(gp, record, 1, consumer, deadline))
        return taken

    def _track(
        self, gp: _GroupPartition, record: _Record, attempt: int, consumer: str, deadline: float
    ) -> _Inflight:
        inflight = _Inflight(self, record, attempt, consumer, deadline)
        gp.inflight[record.offset] = inflight
        self.timeline.append(inflight)
        return inflight

    def ack(self, p: int, inflight: _Inflight) -> None:
        inflight.done = True
        gp = self.parts[p]
        gp.inflight.pop(inflight.record.offset, None)
        gp.settle(inflight.record.offset)
        self.bus._space.notify()

    def fail(self, p: int, inflight: _Inflight, error: str, terminal: bool = False) -> None:
        if inflight.done:
            return
        inflight.done = True
        gp = self.parts[p]
        gp.inflight.pop(inflight.record.offset, None)
        if terminal or inflight.attempt >= self.options.max_deliver:
            self.bus._dead_letter(self.name, inflight.record, error, inflight.attempt)
            gp.settle(inflight.record.offset)
            self.bus._space.notify()
        else:
            gp.retry.append((inflight.record, inflight.attempt))
            self.bus._data.notify()

    def release(self, consumer: str) -> None:
        """A member left: its in-flight deliveries go back to the group now."""
        for p, gp in enumerate(self.parts):
            for inflight in [i for i in gp.inflight.values() if i.consumer == consumer]:
                inflight.done = True
                gp.inflight.pop(inflight.record.offset)
                gp.retry.appendleft((inflight.record, inflight.attempt))
            del p
        self.members.pop(consumer, None)
        self.bus._data.notify()

    def lag(self) -> int:
        return sum(
            gp.unacked(part.next)
            for gp, part in zip(self.parts, self.topic.partitions, strict=False)
        )

    def min_low(self, p: int) -> int:
        return self.parts[p].low


class _Topic:
    def __init__(self, name: str, partitions: int) -> None:
        self.name = name
        self.partitions = [_Partition() for _ in range(partitions)]
        self.groups: dict[str, _Group] = {}
        self.floors = [-1] * partitions  # cached trim floor per partition; -1 = recompute
        self.sync_groups: list[_SyncGroup] = []
        self._rr = itertools.count()

    def partition_for(self, key: str) -> int:
        n = len(self.partitions)
        if n == 1:
            return 0
        if not key:
            return next(self._rr) % n
        return zlib.crc32(key.encode()) % n


class _Signal:
    """Wake every waiter; cheap when nobody waits."""

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    def notify(self) -> None:
        fut = self._future
        if fut is not None:
            self._future = None
            if not fut.done():
                fut.set_result(None)

    async def wait(self, timeout: float) -> None:
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._future), timeout)


class MemoryBus(Bus):
    """The in-process reference backend.

    ``retention`` bounds every partition's log; a publish that would drop a message some group
    has not acknowledged waits instead (backpressure). ``log_sink`` receives every published
    message as ``(topic, key, payload)`` in publish order (the event log of a replay).
    """

    def __init__(
        self,
        partitions: int = 4,
        retention: int = 10_000,
        log_sink: Callable[[str, str, bytes], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if partitions < 1 or retention < 1:
            raise ValueError("partitions and retention must be >= 1")
        self.partitions = partitions
        self.retention = retention
        self._topics: dict[str, _Topic] = {}
        self._log_sink = log_sink
        self._now = clock
        self._data = _Signal()
        self._space = _Signal()
        self._closed = False
        self._fifo: deque[_Record] = deque()
        self._dispatching = False

    # --- publishing --------------------------------------------------------------------------

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic(name, self.partitions)
        return topic

    def _append(
        self,
        topic_name: str,
        key: str,
        event: Event | None,
        payload: bytes | None,
        headers: dict[str, str],
    ) -> _Record | None:
        """Append if there is room; None means the caller must wait for space."""
        topic = self._topics.get(topic_name) or self._topic(topic_name)
        p = topic.partition_for(key) if self.partitions > 1 else 0
        part = topic.partitions[p]
        if len(part.log) >= self.retention and not self._trim(topic, p):
            return None
        record = _Record(topic_name, p, part.next, key, event, payload, headers)
        part.log.append(record)
        part.next += 1
        if self._log_sink is not None:
            self._log_sink(topic_name, key, record.payload)
        if topic.sync_groups:
            self._fifo.append(record)
        return record

    def _trim(self, topic: _Topic, p: int) -> bool:
        """Drop the oldest record if every group has acknowledged it.

        Groups' low-water marks only rise, so the floor is cached and recomputed only when the
        log reaches it (or a new group joins, see :meth:`subscribe`)."""
        part = topic.partitions[p]
        if part.base >= topic.floors[p]:
            groups = topic.groups.values()
            topic.floors[p] = min((g.min_low(p) for g in groups), default=part.next)
            if part.base >= topic.floors[p]:
                return False
        part.log.popleft()
        part.base += 1
        return True

    async def publish(
        self, topic: str, event: Event, key: str = "", headers: dict[str, str] | None = None
    ) -> None:
        await self._publish(topic, key, event, None, headers or {})

    async def publish_raw(
        self, topic: str, payload: bytes, key: str = "", headers: dict[str, str] | None = None
    ) -> None:
        await self._publish(topic, key, None, payload, headers or {})

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        appended = False
        for m in messages:
            if self._append(m.topic, m.key, m.event, None, m.headers) is None:
                if appended:
                    self._data.notify()
                await self._publish(m.topic, m.key, m.event, None, m.headers)
            appended = True
        self._data.notify()

    async def _publish(
        self,
        topic: str,
        key: str,
        event: Event | None,
        payload: bytes | None,
        headers: dict[str, str],
    ) -> None:
        while True:
            if self._closed:
                raise BusClosedError("bus is closed")
            if self._append(topic, key, event, payload, headers) is not None:
                self._data.notify()
                return
            await self._space.wait(0.5)

    def publish_nowait(self, topic: str, event: Event, key: str = "") -> None:
        """Synchronous publish for the deterministic mode; never waits (trims instead)."""
        while self._append(topic, key, event, None, {}) is None:
            self._force_trim(self._topic(topic), key)
        self._data.notify()

    def _force_trim(self, topic: _Topic, key: str) -> None:
        part = topic.partitions[topic.partition_for(key)]
        part.log.popleft()
        part.base += 1

    def _dead_letter(self, group: str, record: _Record, error: str, attempts: int) -> None:
        letter = dead_letter(
            topic=record.topic,
            partition=record.partition,
            position=record.offset,
            group=group,
            key=record.key,
            payload=record.payload,
            error=error,
            attempts=attempts,
        )
        while self._append(self.dlq_topic, record.key, letter, None, {}) is None:
            self._force_trim(self._topic(self.dlq_topic), record.key)
        self._data.notify()

    # --- async consumption -------------------------------------------------------------------

    def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        consumer: str,
        options: SubscribeOptions | None = None,
    ) -> Subscription:
        opts = options or SubscribeOptions()
        groups = []
        for name in topics:
            topic = self._topic(name)
            if group not in topic.groups:
                topic.groups[group] = _Group(self, topic, group, opts)
                topic.floors = [-1] * len(topic.partitions)
            g = topic.groups[group]
            g.members[consumer] = self._now()
            groups.append(g)
        return MemorySubscription(self, groups, consumer)

    async def delete_group(self, group: str, topics: Sequence[str]) -> bool:
        for name in topics:
            topic = self._topics.get(name)
            if topic is not None and topic.groups.pop(group, None) is not None:
                topic.floors = [-1] * len(topic.floors)
        return True

    async def lag(self, group: str, topic: str) -> int:
        t = self._topics.get(topic)
        if t is None or group not in t.groups:
            return 0
        return t.groups[group].lag()

    def group_lags(self) -> dict[tuple[str, str], int]:
        """Lag of every (group, topic), for metrics and the live view."""
        return {(g.name, t.name): g.lag() for t in self._topics.values() for g in t.groups.values()}

    def retained(self, topic: str) -> list[Event]:
        """Every retained event of ``topic``, partition by partition, in offset order."""
        t = self._topics.get(topic)
        if t is None:
            return []
        return [r.event for part in t.partitions for r in part.log]

    async def close(self) -> None:
        self._closed = True
        self._data.notify()
        self._space.notify()

    # --- deterministic synchronous mode --------------------------------------------------------

    def attach(
        self,
        topics: Sequence[str],
        group: str,
        handler: SyncHandler,
        max_deliver: int = 3,
        on_dead: Callable[[str, Event | None, BaseException], None] | None = None,
    ) -> None:
        """Register a synchronous handler; it sees messages published from now on."""
        sync_group = _SyncGroup(group, handler, max_deliver, on_dead)
        for name in topics:
            self._topic(name).sync_groups.append(sync_group)

    def run_until_idle(self) -> int:
        """Dispatch queued messages (and what handlers publish) until none are left."""
        if self._dispatching:
            return 0
        self._dispatching = True
        handled = 0
        fifo, topics = self._fifo, self._topics
        try:
            while fifo:
                record = fifo.popleft()
                name, event = record.topic, record._event
                for sync_group in topics[name].sync_groups:
                    if event is None:  # published raw: decoding may fail, inside the policy
                        self._dispatch(sync_group, record)
                        continue
                    try:
                        sync_group.handler(name, event)
                    except Exception as exc:
                        self._dispatch(sync_group, record, exc)
                handled += 1
        finally:
            self._dispatching = False
        return handled

    def _dispatch(
        self, sync_group: _SyncGroup, record: _Record, failed: BaseException | None = None
    ) -> None:
        """The error policy: up to ``max_deliver`` attempts (``failed``: the first one already
        made), then the dead-letter topic."""
        error = failed
        for _attempt in range(1 if failed else 0, sync_group.max_deliver):
            try:
                sync_group.handler(record.topic, record.event)
                return
            except Exception as exc:
                error = exc
        assert error is not None
        self._dead_letter(
            sync_group.name, record, f"{type(error).__name__}: {error}", sync_group.max_deliver
        )
        if sync_group.on_dead is not None:
            sync_group.on_dead(record.topic, record._event, error)

    @property
    def pending_dispatch(self) -> int:
        return len(self._fifo)


@dataclass(slots=True)
class _SyncGroup:
    name: str
    handler: SyncHandler
    max_deliver: int
    on_dead: Callable[[str, Event | None, BaseException], None] | None


class MemorySubscription(Subscription):
    def __init__(self, bus: MemoryBus, groups: list[_Group], consumer: str) -> None:
        self._bus = bus
        self._groups = groups
        self._consumer = consumer
        self._closed = False

    def _poll(self, budget: int) -> list[Delivery]:
        now = self._bus._now()
        out: list[Delivery] = []
        for g in self._groups:
            g.members[self._consumer] = now
            g.expire(now)
            out.extend(g.take(self._consumer, budget - len(out), now))
            if len(out) >= budget:
                break
        return out

    async def fetch(self, max_messages: int = 256, timeout: float = 1.0) -> list[Delivery]:
        if self._closed:
            raise BusClosedError("subscription is closed")
        deadline = self._bus._now() + timeout
        while True:
            out = self._poll(max_messages)
            remaining = deadline - self._bus._now()
            if out or remaining <= 0 or self._bus._closed:
                return out
            await self._bus._data.wait(min(remaining, self._wake_interval()))

    def _wake_interval(self) -> float:
        return min(g.options.ack_wait_s for g in self._groups) / 2

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            for g in self._groups:
                g.release(self._consumer)


def log_digest() -> tuple[Callable[[str, str, bytes], None], Callable[[], str]]:
    """A ``log_sink`` that hashes the event log, and a function returning the hex digest."""
    h = hashlib.sha256()

    def sink(topic: str, key: str, payload: bytes) -> None:
        h.update(topic.encode())
        h.update(b"\0")
        h.update(key.encode())
        h.update(b"\0")
        h.update(len(payload).to_bytes(4, "big"))
        h.update(payload)

    return sink, h.hexdigest
