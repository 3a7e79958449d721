"""NATS JetStream backend of the bus contract (see :mod:`tickmesh.bus.base`).

Layout (:mod:`.names`): a stream per topic with one subject per partition, one durable pull
consumer per (group, topic, partition) with explicit acks, ``AckWait = ack_wait_s`` and
``MaxDeliver = max_deliver``, and group membership in a KV bucket (:mod:`.membership`), so
members in different processes share partitions the way the memory bus's members do.

Dead letters: a consumer that nacks a message on its last attempt (or terminally) publishes the
:class:`~tickmesh.model.DeadLetter` with its error itself and terminates the message. A message
whose consumer died on the last attempt is reported by the broker's ``MAX_DELIVERIES`` advisory,
which every bus with a member of that group turns into a dead letter (error "max deliveries
reached"); the dead letter's id is derived from the message, so duplicates are dropped by the
broker's ``Nats-Msg-Id`` window.

Broker outages: the client reconnects by itself; publishes are retried with backoff (duplicates
dropped the same way), fetches return what they have and keep trying on the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSub
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamsListIterator
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from tickmesh.bus.backends.nats.delivery import ACK, NatsDelivery
from tickmesh.bus.backends.nats.groups import GroupPartition, GroupTopic, open_group
from tickmesh.bus.backends.nats.membership import Roster
from tickmesh.bus.backends.nats.names import KEY_HEADER, Names
from tickmesh.bus.backends.nats.options import NatsOptions
from tickmesh.bus.backends.nats.publisher import Publisher
from tickmesh.bus.backends.nats.subscription import NatsSubscription
from tickmesh.bus.base import Bus, Outgoing, SubscribeOptions, Subscription
from tickmesh.bus.dlq import dead_letter
from tickmesh.core.errors import BusClosedError, RetryableError
from tickmesh.model.codec import encode
from tickmesh.model.events import Event

log = logging.getLogger(__name__)

_MAX_DELIVERIES = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"
_RECONNECT_WAIT_S = 1  # the client types this as whole seconds


class NatsBus(Bus):
    """A bus on a NATS JetStream server (``nats://host:4222?partitions=4``)."""

    def __init__(self, options: NatsOptions | None = None, prefix: str = "") -> None:
        self.options = options or NatsOptions()
        self.partitions = self.options.partitions
        self.prefix = prefix
        self.names = Names(prefix, self.partitions)
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._closed = False
        self._start_lock = asyncio.Lock()
        self._publisher = Publisher(self.names, self.options, lambda: self._closed)
        self._groups: dict[tuple[str, str], asyncio.Task[GroupTopic]] = {}
        self._joining: dict[str, set[asyncio.Task[GroupTopic]]] = {}
        self._by_consumer: dict[tuple[str, str], GroupPartition] = {}
        self._kv: KeyValue | None = None
        self._kv_lock = asyncio.Lock()
        self._advisories: NatsSub | None = None
        self._subscriptions: set[NatsSubscription] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str, prefix: str = "") -> NatsBus:
        """Raises ValueError for a malformed URL, an unknown option or a bad prefix."""
        return cls(NatsOptions.from_url(url), prefix=prefix)

    @property
    def closed(self) -> bool:
        return self._closed

    # --- connection ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise BusClosedError("bus is closed")
        if self._nc is not None:
            return
        async with self._start_lock:
            if self._nc is None:
                nc = await self._connect()
                self._js = nc.jetstream(timeout=self.options.timeout_s)
                self._publisher.bind(self._js)
                self._nc = nc

    async def _connect(self) -> NatsClient:
        """Connect, retrying for up to ``retry`` seconds; once connected, the client reconnects
        by itself for as long as it takes."""
        servers = list(self.options.servers)
        nc = NatsClient()
        connect = nc.connect(
            servers=servers,
            name=f"tickmesh-{self.names.root}",
            connect_timeout=max(1, round(self.options.timeout_s)),
            reconnect_time_wait=_RECONNECT_WAIT_S,
            max_reconnect_attempts=-1,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        try:
            await asyncio.wait_for(connect, max(self.options.retry_s, self.options.timeout_s))
        except (NatsError, OSError, TimeoutError) as exc:
            await nc.close()
            raise RetryableError(
                f"cannot connect to NATS at {', '.join(servers)}: {exc!r}"
            ) from exc
        return nc

    async def _on_error(self, exc: Exception) -> None:
        if not self._closed:
            log.warning("NATS connection error: %r", exc)

    async def _on_disconnected(self) -> None:
        if not self._closed:
            log.warning("disconnected from NATS; reconnecting")

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS")

    async def connection(self) -> NatsClient:
        await self.start()
        assert self._nc is not None
        return self._nc

    async def _jetstream(self) -> JetStreamContext:
        await self.start()
        assert self._js is not None
        return self._js

    async def close(self) -> None:
        if self._closed:
            return
        for sub in list(self._subscriptions):
            await sub.close()
        self._closed = True
        joining = [task for tasks in self._joining.values() for task in tasks]
        tasks = [*self._tasks, *self._groups.values(), *joining]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._nc is not None:
            with contextlib.suppress(NatsError):
                await self._nc.close()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background until it ends or the bus closes; errors are logged."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("NATS bus background task failed: %r", task.exception())

    # --- publishing ------------------------------------------------------------------------

    async def publish(
        self, topic: str, event: Event, key: str = "", headers: dict[str, str] | None = None
    ) -> None:
        message = self._publisher.prepare(topic, key, encode(event), event.event_id, headers)
        await self._before_publish((topic,))
        await self._publisher.publish(message)

    async def publish_raw(
        self, topic: str, payload: bytes, key: str = "", headers: dict[str, str] | None = None
    ) -> None:
        """The dedup id is a hash of key and payload: the same bytes published twice are one
        message (an event's payload carries its unique event id)."""
        digest = hashlib.blake2b(key.encode() + b"\0" + payload, digest_size=16).hexdigest()
        message = self._publisher.prepare(topic, key, payload, f"raw-{digest}", headers)
        await self._before_publish((topic,))
        await self._publisher.publish(message)

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        prepare = self._publisher.prepare
        batch = [
            prepare(m.topic, m.key, encode(m.event), m.event.event_id, m.headers) for m in messages
        ]
        await self._before_publish(dict.fromkeys(m.topic for m in messages))
        await self._publisher.publish_batch(batch)

    async def _before_publish(self, topics: Sequence[str] | dict[str, None]) -> None:
        """Connect, and let groups subscribed in this process finish creating their consumers
        first: a group that starts at "latest" must see what is published after subscribe()."""
        if self._closed:
            raise BusClosedError("bus is closed")
        if self._nc is None:
            await self.start()
        if self._joining:
            pending = [t for topic in topics for t in self._joining.get(topic, ())]
            if pending:
                await asyncio.wait(pending)

    # --- groups ----------------------------------------------------------------------------

    def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        consumer: str,
        options: SubscribeOptions | None = None,
    ) -> Subscription:
        """Join ``group`` as ``consumer``; needs a running event loop (joining starts now)."""
        if self._closed:
            raise BusClosedError("bus is closed")
        if not topics or not group or not consumer:
            raise ValueError("subscribe needs at least one topic, a group and a consumer name")
        opts = options or SubscribeOptions()
        for topic in topics:
            self.names.subjects(topic)
            self._group_task(group, topic, opts)
        sub = NatsSubscription(self, topics, group, consumer, opts)
        self._subscriptions.add(sub)
        return sub

    async def join_group(self, group: str, topic: str, options: SubscribeOptions) -> GroupTopic:
        """The group's consumers on ``topic``, created if needed (shared by local members)."""
        return await asyncio.shield(self._group_task(group, topic, options))

    def _group_task(
        self, group: str, topic: str, options: SubscribeOptions
    ) -> asyncio.Task[GroupTopic]:
        task = self._groups.get((group, topic))
        if task is not None and not _failed(task):
            return task
        task = asyncio.get_running_loop().create_task(self._open_group(group, topic, options))
        self._groups[(group, topic)] = task
        joining = self._joining.setdefault(topic, set())
        joining.add(task)
        task.add_done_callback(lambda t: self._joined(topic, t))
        return task

    def _joined(self, topic: str, task: asyncio.Task[GroupTopic]) -> None:
        joining = self._joining.get(topic)
        if joining is not None:
            joining.discard(task)
            if not joining:
                del self._joining[topic]
        if not task.cancelled() and task.exception() is not None and not self._closed:
            log.warning("opening a consumer group on %s failed: %r", topic, task.exception())

    async def _open_group(self, group: str, topic: str, options: SubscribeOptions) -> GroupTopic:
        js = await self._jetstream()
        await self._publisher.ensure_stream(topic)
        await self._watch_advisories()
        key = self.names.members_key(group, topic)
        roster = Roster(await self._members_kv(), key, options.ack_wait_s, self.spawn)
        found = await open_group(js, self.names, group, topic, options, roster)
        for part in found.partitions:
            self._by_consumer[(found.stream, part.consumer)] = part
        return found

    async def _members_kv(self) -> KeyValue:
        async with self._kv_lock:
            if self._kv is None:
                js = await self._jetstream()
                try:
                    self._kv = await js.key_value(self.names.members_bucket)
                except BucketNotFoundError:
                    self._kv = await js.create_key_value(self._members_config())
            return self._kv

    def _members_config(self) -> KeyValueConfig:
        file = self.options.storage == "file"
        return KeyValueConfig(
            bucket=self.names.members_bucket,
            history=1,
            storage=StorageType.FILE if file else StorageType.MEMORY,
            replicas=self.options.replicas,
        )

    def discard(self, subscription: NatsSubscription) -> None:
        self._subscriptions.discard(subscription)

    # --- dead letters ----------------------------------------------------------------------

    async def dead_letter(self, delivery: NatsDelivery, error: str, attempts: int) -> None:
        await self._publish_dead_letter(
            delivery.part, delivery.seq, delivery.key, delivery.payload, error, attempts
        )

    async def _publish_dead_letter(
        self, part: GroupPartition, seq: int, key: str, payload: bytes, error: str, attempts: int
    ) -> None:
        found = part.group
        letter = dead_letter(
            topic=found.topic,
            partition=part.index,
            position=seq,
            group=found.group,
            key=key,
            payload=payload,
            error=error,
            attempts=attempts,
        )
        await self.publish(self.dlq_topic, letter, key)

    async def _watch_advisories(self) -> None:
        if self._advisories is None:
            nc = await self.connection()
            self._advisories = await nc.subscribe(_MAX_DELIVERIES, cb=self._on_max_deliveries)

    async def _on_max_deliveries(self, msg: Msg) -> None:
        """The broker gave up on a message whose consumer never settled its last attempt."""
        try:
            advisory = json.loads(msg.data)
            where = (str(advisory["stream"]), str(advisory["consumer"]))
            seq, attempts = int(advisory["stream_seq"]), int(advisory["deliveries"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("unreadable max-deliveries advisory %r: %r", msg.data[:200], exc)
            return
        part = self._by_consumer.get(where)
        if part is not None:
            self.spawn(self._dead_letter_from_stream(part, seq, attempts))

    async def _dead_letter_from_stream(self, part: GroupPartition, seq: int, attempts: int) -> None:
        js = await self._jetstream()
        error = "max deliveries reached"
        try:
            stored = await js.get_msg(part.group.stream, seq)
            payload, key = stored.data or b"", (stored.headers or {}).get(KEY_HEADER, "")
        except NotFoundError:
            payload, key = b"", ""
            error += " (the message is no longer retained)"
        await self._publish_dead_letter(part, seq, key, payload, error, attempts)

    # --- observing and cleaning up ---------------------------------------------------------

    async def lag(self, group: str, topic: str) -> int:
        """Messages ``group`` has not acknowledged on ``topic``: per partition consumer, those
        not yet delivered plus those delivered and not acked. Acks this process sent are applied
        by the broker first (an ack barrier), so the count is exact for local consumers."""
        js = await self._jetstream()
        self.names.subjects(topic)
        task = self._groups.get((group, topic))
        if task is not None:
            await asyncio.wait([task])  # a group joining now counts from when it was created
            if not _failed(task):
                await self._ack_barriers(task.result().partitions)
        stream = self.names.stream(topic)
        consumers = [self.names.consumer(group, p) for p in range(self.partitions)]
        counts = await asyncio.gather(*(_unacked(js, stream, c) for c in consumers))
        return sum(counts)

    async def _ack_barriers(self, partitions: list[GroupPartition]) -> None:
        nc = await self.connection()
        barriers = []
        for part in partitions:
            if part.barrier is not None:
                barriers.append(nc.request(part.barrier, ACK, timeout=self.options.timeout_s))
                part.barrier = None
        for outcome in await asyncio.gather(*barriers, return_exceptions=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, NatsError):
                raise outcome

    async def delete_group(self, group: str, topics: Sequence[str]) -> bool:
        """Delete the group's durable consumers on ``topics`` and its membership entries."""
        js = await self._jetstream()
        for topic in topics:
            task = self._groups.pop((group, topic), None)
            if task is not None:
                await asyncio.wait([task])
            stream = self.names.stream(topic)
            for p in range(self.partitions):
                consumer = self.names.consumer(group, p)
                self._by_consumer.pop((stream, consumer), None)
                with contextlib.suppress(NotFoundError):
                    await js.delete_consumer(stream, consumer)
            with contextlib.suppress(NotFoundError):
                await (await self._members_kv()).purge(self.names.members_key(group, topic))
        return True

    async def purge(self) -> None:
        """Delete this prefix's streams (with their consumers) and its membership bucket."""
        js = await self._jetstream()
        for name in await self._owned_streams(js):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
        with contextlib.suppress(NotFoundError):
            await js.delete_key_value(self.names.members_bucket)
        async with self._kv_lock:
            self._kv = None
        self._publisher.forget_streams()
        self._groups.clear()

    async def _owned_streams(self, js: JetStreamContext) -> list[str]:
        owned: list[str] = []
        offset, total = 0, 1
        while offset < total:
            page = await js.streams_info_iterator(offset)
            assert isinstance(page, StreamsListIterator)
            infos = list(page)
            owned.extend(
                i.config.name
                for i in infos
                if i.config.name and self.names.owns_stream(i.config.subjects or [])
            )
            offset, total = offset + len(infos), page.total
            if not infos:
                break
        return owned


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)


async def _unacked(js: JetStreamContext, stream: str, consumer: str) -> int:
    try:
        info = await js.consumer_info(stream, consumer)
    except NotFoundError:
        return 0
    return (info.num_pending or 0) + (info.num_ack_pending or 0)
