"""Live events for the API's Server-Sent Events stream (``GET /api/v1/stream``).

:class:`HubService` sits in the pipeline like any other service and hands what it sees to a
:class:`StreamHub` as stream items: each gets the next integer id and one stream name
(:data:`STREAMS`). An order fill belongs to two streams, ``orders`` and ``fills``, so it becomes
two items with two ids; a client subscribed to both sees it under both names.

The hub keeps the last ``ring_size`` items so a client that reconnects with the id it saw last
gets exactly what it missed; when that id is no longer buffered (or was never issued here) the
client is told to reset, i.e. reload state over REST. Each subscriber has a bounded queue: a
client that falls ``queue_size`` items behind is cut with a reason instead of holding anything
up. Publishing never blocks or awaits, since pipeline handlers run synchronously on the event
loop; everything here must be used from that loop's thread.

Ids start at the wall clock in microseconds (unless ``first_id`` says otherwise), so the ids of
an earlier process are below everything this one issues: a client resuming across a restart
gets a reset instead of another process's items under familiar ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from tickmesh import topics
from tickmesh.model.codec import to_builtins
from tickmesh.model.events import Event, OrderFilled, OrderPartiallyFilled
from tickmesh.services.runtime import Service

log = logging.getLogger(__name__)

STREAMS: tuple[str, ...] = ("bars", "fills", "orders", "portfolio", "risk", "rejections")


class StreamLimitError(Exception):
    """The user already holds as many open streams as allowed; ``str()`` says so."""


class HubClosedError(Exception):
    """The hub was closed (the server is stopping); no new subscriptions."""


@dataclass(frozen=True, slots=True)
class HubLimits:
    """How much the hub buffers: ``ring_size`` items for resuming, ``queue_size`` unsent items
    per client before it is cut as too slow, ``max_per_user`` open streams per user."""

    ring_size: int = 4096
    queue_size: int = 1024
    max_per_user: int = 4

    def __post_init__(self) -> None:
        for name in ("ring_size", "queue_size", "max_per_user"):
            if getattr(self, name) < 1:
                raise ValueError(f"HubLimits.{name} must be at least 1, not {getattr(self, name)}")


class StreamItem:
    """One event under one stream name and id. The JSON is made on first use and kept, so an
    item nobody reads costs no encoding and one read by many clients is encoded once."""

    __slots__ = ("_data", "event", "id", "stream")

    def __init__(self, item_id: int, stream: str, event: Event) -> None:
        self.id = item_id
        self.stream = stream
        self.event = event
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        """The event as one line of JSON (``to_builtins``: Decimals as exact strings)."""
        if self._data is None:
            self._data = msgspec.json.encode(to_builtins(self.event))
        return self._data

    def __repr__(self) -> str:
        return f"StreamItem({self.id}, {self.stream!r}, {type(self.event).__name__})"


class Subscription:
    """One connected client: the streams it wants, what it missed (``backlog``, or ``reset``
    saying why it must reload instead), a bounded queue of live items, and once it has ended,
    ``end_reason``."""

    def __init__(
        self,
        user: str,
        streams: frozenset[str],
        capacity: int,
        backlog: list[StreamItem],
        reset: str | None,
        resume_id: int,
    ) -> None:
        self.user = user
        self.streams = streams
        self.capacity = capacity
        self.backlog = backlog
        self.reset = reset
        self.resume_id = resume_id
        self.end_reason: str | None = None
        self.ended = asyncio.Event()
        self._queue: deque[StreamItem] = deque()
        self._ready = asyncio.Event()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def offer(self, item: StreamItem) -> bool:
        """Queue ``item``; False when the queue is full (the caller then ends this client)."""
        if len(self._queue) >= self.capacity:
            return False
        self._queue.append(item)
        self._ready.set()
        return True

    def end(self, reason: str) -> None:
        """Stop this subscription; unsent items are dropped (the client resumes by id)."""
        if self.end_reason is not None:
            return
        self.end_reason = reason
        self._queue.clear()
        self.ended.set()
        self._ready.set()

    async def next_batch(self, timeout: float) -> list[StreamItem]:
        """Every queued item, oldest first, waiting up to ``timeout`` seconds for the first;
        empty when the wait ran out or the subscription ended."""
        if not self._queue and self.end_reason is None:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout)
        return self.take()

    def take(self) -> list[StreamItem]:
        """Every queued item, oldest first, without waiting (none once ended)."""
        batch = list(self._queue)
        self._queue.clear()
        return batch


class StreamHub:
    """Numbers stream items, keeps the newest for resuming, and fans them out to subscribers."""

    def __init__(self, limits: HubLimits | None = None, first_id: int | None = None) -> None:
        self.limits = limits if limits is not None else HubLimits()
        self._last_id = first_id if first_id is not None else time.time_ns() // 1000
        self._ring: deque[StreamItem] = deque(maxlen=self.limits.ring_size)
        self._subscriptions: list[Subscription] = []  # fed by publish
        self._holding: set[Subscription] = set()  # connections counted under the per-user cap
        self._per_user: Counter[str] = Counter()
        self.published = 0
        self.cut = 0
        self.closed_reason: str | None = None

    @property
    def last_id(self) -> int:
        """The id of the newest item (before any: the one below the first to be issued)."""
        return self._last_id

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def streams_of(self, user: str) -> int:
        """Open streams of ``user``, as counted against the per-user cap."""
        return self._per_user[user]

    def publish(self, stream: str, event: Event) -> StreamItem:
        """Number ``event`` as an item of ``stream``, buffer it and queue it for every
        subscriber of that stream; a subscriber with a full queue is cut. Never blocks."""
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r}; streams are {', '.join(STREAMS)}")
        self._last_id += 1
        item = StreamItem(self._last_id, stream, event)
        self._ring.append(item)
        self.published += 1
        for sub in [s for s in self._subscriptions if stream in s.streams]:
            if not sub.offer(item):
                self._cut(sub)
        return item

    def subscribe(
        self, user: str, streams: Iterable[str], after: int | None = None
    ) -> Subscription:
        """A new subscription of ``user`` to ``streams``; with ``after`` (the last id the client
        saw) it starts with the buffered items it missed, or a reset reason. Raises
        :class:`StreamLimitError` past the per-user cap, :class:`HubClosedError` once closed."""
        if self.closed_reason is not None:
            raise HubClosedError(f"the event stream is closed: {self.closed_reason}")
        chosen = frozenset(streams)
        if unknown := sorted(chosen - set(STREAMS)):
            raise ValueError(f"unknown streams {unknown}; streams are {', '.join(STREAMS)}")
        held, cap = self._per_user[user], self.limits.max_per_user
        if held >= cap:
            raise StreamLimitError(
                f"user {user!r} already has {held} open event streams (the limit is {cap}); "
                "close one before opening another"
            )
        backlog, reset = self._missed(chosen, after)
        sub = Subscription(user, chosen, self.limits.queue_size, backlog, reset, self._last_id)
        self._subscriptions.append(sub)
        self._holding.add(sub)
        self._per_user[user] += 1
        return sub

    def unsubscribe(self, sub: Subscription, reason: str = "client left") -> None:
        """The client's connection is over (idempotent): stop feeding ``sub`` and free its slot
        under the per-user cap. Call it when the response ends, also after a cut or a close."""
        self._detach(sub, reason)
        if sub not in self._holding:
            return
        self._holding.remove(sub)
        self._per_user[sub.user] -= 1
        if self._per_user[sub.user] <= 0:
            del self._per_user[sub.user]

    def close(self, reason: str) -> None:
        """End every subscription with ``reason`` and refuse new ones (server shutdown: open
        streams would otherwise keep the HTTP server waiting for them forever)."""
        self.closed_reason = reason
        for sub in list(self._subscriptions):
            self._detach(sub, reason)

    def status(self) -> dict[str, object]:
        return {
            "stream_subscribers": len(self._subscriptions),
            "stream_items": self.published,
            "stream_buffered": len(self._ring),
            "stream_cut": self.cut,
        }

    def _cut(self, sub: Subscription) -> None:
        self.cut += 1
        reason = (
            f"slow client: {sub.capacity} events were waiting to be sent; reconnect with "
            "Last-Event-ID to resume"
        )
        log.warning("event stream of %r cut: %s", sub.user, reason)
        self._detach(sub, reason)

    def _detach(self, sub: Subscription, reason: str) -> None:
        """End ``sub`` and stop feeding it; its slot stays taken until :meth:`unsubscribe`, since
        the connection lasts until the response has said goodbye."""
        sub.end(reason)
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def _missed(
        self, streams: frozenset[str], after: int | None
    ) -> tuple[list[StreamItem], str | None]:
        """The buffered items after id ``after`` in ``streams``, or why they cannot be given."""
        if after is None:
            return [], None
        if after > self._last_id:
            return [], (
                f"event id {after} was not issued by this server (its newest is "
                f"{self._last_id}); reload the state"
            )
        oldest = self._ring[0].id if self._ring else self._last_id + 1
        if after < oldest - 1:
            return [], (
                f"events after id {after} are no longer buffered (the oldest kept is {oldest}); "
                "reload the state"
            )
        start = after - oldest + 1  # ids in the ring are consecutive
        return [i for i in itertools.islice(self._ring, start, None) if i.stream in streams], None


class HubService(Service):
    """Feeds the hub from the pipeline: bars of ``timeframes`` and the namespace's order events,
    portfolio snapshots, risk state and rejected signals. Publishes nothing back."""

    name = "stream-hub"

    def __init__(self, hub: StreamHub, namespace: str, timeframes: Iterable[str]) -> None:
        super().__init__()
        self.hub = hub
        self.namespace = namespace
        self.timeframes = sorted(set(timeframes))
        self._orders = topics.orders_events(namespace)
        self._streams: dict[str, str] = {topics.bars(tf): "bars" for tf in self.timeframes}
        self._streams.update(
            {
                self._orders: "orders",
                topics.portfolio(namespace): "portfolio",
                topics.risk_state(namespace): "risk",
                topics.signals_rejected(namespace): "rejections",
            }
        )

    def inputs(self) -> list[str]:
        return list(self._streams)

    def handle(self, topic: str, event: Event) -> tuple[()]:
        stream = self._streams.get(topic)
        if stream is None:
            return ()
        self.hub.publish(stream, event)
        if topic == self._orders and isinstance(event, OrderFilled | OrderPartiallyFilled):
            self.hub.publish("fills", event)
        return ()

    def status(self) -> dict[str, object]:
        return self.hub.status()
