"""The Kafka bus: each topic a Kafka topic, each group a Kafka consumer group.

Names are namespaced by the prefix (``{prefix}.{topic}``, ``{prefix}.{group}``). Topics are
created with the URL's partition count when missing (brokers that cannot create topics, such as
the librdkafka mock, auto-create them with their own count: a warning says so). Publishing
(partitioning, record batches, retries) is in :mod:`.publisher`; consumption, offsets and
redelivery in :mod:`.group` and :mod:`.assignment`; where a new group starts in
:mod:`.positions`.

Unlike the memory bus, publishing does not wait for slow groups: the topic's retention applies
regardless, so size it above the worst expected backlog.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from tickmesh.bus.backends.kafka.admin import Committed, KafkaAdmin
from tickmesh.bus.backends.kafka.group import GroupMember
from tickmesh.bus.backends.kafka.options import KafkaOptions, parse_url
from tickmesh.bus.backends.kafka.partition import Record
from tickmesh.bus.backends.kafka.positions import Positions, Since
from tickmesh.bus.backends.kafka.publisher import Out, Publisher
from tickmesh.bus.backends.kafka.reconnect import log, retrying
from tickmesh.bus.backends.kafka.subscription import KafkaSubscription
from tickmesh.bus.base import Bus, Outgoing, StartFrom, SubscribeOptions, Subscription
from tickmesh.bus.dlq import dead_letter
from tickmesh.core.errors import BusClosedError
from tickmesh.model.codec import encode
from tickmesh.model.events import Event

START_TIMEOUT_S = 10.0
MAX_POLL_INTERVAL_MS = 24 * 3600 * 1000  # liveness is the group member's business (ack_wait)
# How long a broker may hold a fetch when a consumer is caught up. Brokers that do not answer a
# pending fetch as soon as data arrives (the librdkafka mock) add up to this much latency.
FETCH_MAX_WAIT_MS = 100


class KafkaBus(Bus):
    """A bus on a Kafka cluster (``kafka://host:port[,host:port]?partitions=4``).

    ``prefix`` namespaces every topic and group, so deployments and test runs share a cluster
    without seeing each other; :meth:`purge` deletes what is under it where the brokers allow.
    """

    def __init__(self, options: KafkaOptions, prefix: str = "") -> None:
        self.options = options
        self.prefix = prefix
        self.partitions = options.partitions
        self._client_id = f"tickmesh-{prefix}" if prefix else "tickmesh"
        self._admin: KafkaAdmin | None = None
        self._positions: Positions | None = None
        self._producer: AIOKafkaProducer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._counts: dict[str, int] = {}
        self._topic_locks: dict[str, asyncio.Lock] = {}
        self._short: dict[str, str] = {}
        self._publisher: Publisher | None = None
        self._groups: dict[tuple[str, tuple[str, ...]], GroupMember] = {}
        self._group_ids: set[str] = set()
        self._start_lock: asyncio.Lock | None = None
        self._started = False
        self._closed = False

    @classmethod
    def from_url(cls, url: str, prefix: str = "") -> KafkaBus:
        """Parse the bus URL; a ValueError names the bad or unknown option."""
        return cls(parse_url(url), prefix)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def admin(self) -> KafkaAdmin:
        if self._admin is None:
            raise BusClosedError("the kafka bus is not started")
        return self._admin

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            raise BusClosedError("the kafka bus is not started")
        return self._publisher

    @property
    def positions(self) -> Positions:
        if self._positions is None:
            raise BusClosedError("the kafka bus is not started")
        return self._positions

    # --- names -------------------------------------------------------------------------------

    def full_topic(self, topic: str) -> str:
        return f"{self.prefix}.{topic}" if self.prefix else topic

    def full_group(self, group: str) -> str:
        return f"{self.prefix}.{group}" if self.prefix else group

    def short_topic(self, topic: str) -> str:
        short = self._short.get(topic)
        if short is None:
            mine = self.prefix and topic.startswith(self.prefix + ".")
            short = self._short[topic] = topic[len(self.prefix) + 1 :] if mine else topic
        return short

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (idempotent); RetryableError when no broker answers within a few seconds."""
        if self._started:
            return
        if self._closed:
            raise BusClosedError("bus is closed")
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
                await retrying(self._connect, "connect", self._is_closed, deadline)
                self._started = True

    def _is_closed(self) -> bool:
        return self._closed

    async def _connect(self) -> None:
        servers = list(self.options.bootstrap_servers)
        admin = KafkaAdmin(servers, self._client_id)
        producer = AIOKafkaProducer(
            bootstrap_servers=servers,
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
        )
        reader = AIOKafkaConsumer(
            bootstrap_servers=servers, client_id=self._client_id, enable_auto_commit=False
        )
        try:
            await admin.start()
            await producer.start()
            await reader.start()
        except BaseException:
            await _stop_all(admin, producer, reader)
            raise
        self._admin, self._producer, self._reader = admin, producer, reader
        self._positions = Positions(reader)
        self._publisher = Publisher(producer, self._is_closed)

    async def close(self) -> None:
        """Leave every group (handing unacked deliveries back) and disconnect."""
        if self._closed:
            return
        self._closed = True
        for member in list(self._groups.values()):
            await member.stop()
        await _stop_all(self._admin, self._producer, self._reader)

    async def purge(self) -> None:
        """Leave this bus's groups, then delete every topic under the prefix (without a prefix:
        the topics this bus used) and this bus's groups, where the brokers support deleting."""
        await self.start()
        for member in list(self._groups.values()):
            await member.stop()
        topics = set(self._counts)
        if self.prefix:
            topics |= {t for t in await self.admin.topics() if t.startswith(self.prefix + ".")}
        if not await self.admin.delete_topics(topics):
            log.info("kafka purge: the brokers cannot delete topics; %d left", len(topics))
        if not await self.admin.delete_groups(self._group_ids):
            log.info("kafka purge: the brokers cannot delete groups; %d left", len(self._group_ids))
        self._counts.clear()
        self._group_ids.clear()

    async def delete_group(self, group: str, topics: Sequence[str]) -> bool:
        """Delete the consumer group with its committed offsets (a Kafka group spans all its
        topics); close its subscriptions first. Where the brokers cannot, it is logged and left."""
        for key in [key for key in self._groups if key[0] == group]:
            del self._groups[key]
        full = self.full_group(group)
        self._group_ids.discard(full)
        await self.start()
        if not await self.admin.delete_groups([full]):
            log.info("kafka: the brokers cannot delete groups; %s left", full)
            return False
        return True

    # --- topics ------------------------------------------------------------------------------

    async def ensure_topic(self, topic: str) -> int:
        """Create ``topic`` (full name) if missing; its partition count."""
        count = self._counts.get(topic)
        if count is not None:
            return count
        await self.start()
        lock = self._topic_locks.setdefault(topic, asyncio.Lock())
        async with lock:
            count = self._counts.get(topic)
            if count is None:
                count = await retrying(
                    lambda: self._create(topic), f"creation of {topic}", self._is_closed
                )
                self._counts[topic] = count
        return count

    async def _create(self, topic: str) -> int:
        admin, producer = self.admin, self._producer
        assert producer is not None
        replication = self.options.replication_factor or min(3, admin.broker_count())
        await admin.create_topic(topic, self.options.partitions, replication)
        count = len(await producer.partitions_for(topic))
        if count != self.options.partitions:
            log.warning(
                "kafka topic %s has %d partitions, the bus URL says %d: keys map to partitions "
                "differently than on other backends",
                topic,
                count,
                self.options.partitions,
            )
        return count

    # --- publishing --------------------------------------------------------------------------

    async def publish(
        self, topic: str, event: Event, key: str = "", headers: dict[str, str] | None = None
    ) -> None:
        await self._publish_one(topic, encode(event), key, headers)

    async def publish_raw(
        self, topic: str, payload: bytes, key: str = "", headers: dict[str, str] | None = None
    ) -> None:
        await self._publish_one(topic, payload, key, headers)

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        """One batch: every message is queued, then the batch is awaited once."""
        if not messages:
            return
        for topic in {m.topic for m in messages}:
            await self.ensure_topic(self.full_topic(topic))
        await self.publisher.send(
            [self._out(m.topic, encode(m.event), m.key, m.headers) for m in messages]
        )

    async def _publish_one(
        self, topic: str, payload: bytes, key: str, headers: dict[str, str] | None
    ) -> None:
        await self.ensure_topic(self.full_topic(topic))
        await self.publisher.send([self._out(topic, payload, key, headers)])

    def _out(self, topic: str, payload: bytes, key: str, headers: dict[str, str] | None) -> Out:
        full = self.full_topic(topic)
        return self.publisher.out(full, self._counts[full], payload, key, headers)

    async def dead_letter(
        self, group: str, topic: str, record: Record, error: str, attempts: int
    ) -> None:
        key = record.key.decode() if record.key else ""
        letter = dead_letter(
            topic=topic,
            partition=record.partition,
            position=record.offset,
            group=group,
            key=key,
            payload=record.value or b"",
            error=error,
            attempts=attempts,
        )
        await self.publish(self.dlq_topic, letter, key)

    # --- consuming ---------------------------------------------------------------------------

    def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        consumer: str,
        options: SubscribeOptions | None = None,
    ) -> Subscription:
        """Join ``group`` (the join runs in the background; the first fetch waits for it)."""
        if self._closed:
            raise BusClosedError("bus is closed")
        if not topics:
            raise ValueError("subscribe needs at least one topic")
        full = tuple(sorted({self.full_topic(t) for t in topics}))
        member = self._groups.get((group, full))
        if member is None or member.closed:
            opts = options or SubscribeOptions()
            member = GroupMember(self, group, self.full_group(group), full, opts, self._now(full))
            self._groups[group, full] = member
            self._group_ids.add(member.group_id)
        member.add(consumer)
        return KafkaSubscription(member, consumer)

    def _now(self, topics: tuple[str, ...]) -> Since:
        """This moment, for a ``latest`` start (see :mod:`.positions`)."""
        written = self._publisher.written if self._publisher is not None else {}
        floors = {
            TopicPartition(topic, partition): end
            for (topic, partition), end in written.items()
            if topic in topics
        }
        return Since(int(time.time() * 1000), floors)

    def new_consumer(self, group_id: str, start: StartFrom) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=list(self.options.bootstrap_servers),
            client_id=self._client_id,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset=start,
            session_timeout_ms=self.options.session_timeout_ms,
            heartbeat_interval_ms=self.options.heartbeat_interval_ms,
            max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )

    def forget(self, member: GroupMember) -> None:
        key = (member.group, member.topics)
        if self._groups.get(key) is member:
            del self._groups[key]

    async def lag(self, group: str, topic: str) -> int:
        """End offsets minus the group's committed offsets (after committing this process's
        settled messages). Where the group never committed, its start counts: the log start
        for ``earliest``, the subscribe time for ``latest``."""
        await self.start()
        for member in list(self._groups.values()):
            if member.group == group:
                await member.flush()
        full = self.full_topic(topic)
        count = self._counts.get(full) or await self.admin.partition_count(full)
        if not count:
            return 0
        partitions = [TopicPartition(full, p) for p in range(count)]
        ends = await self.positions.ends(partitions)
        committed = await self.admin.committed(self.full_group(group), partitions)
        bases = await self._bases(group, committed)
        return sum(max(0, ends[tp] - bases[tp]) for tp in partitions)

    async def _bases(self, group: str, committed: Committed) -> dict[TopicPartition, int]:
        bases = {tp: offset for tp, (offset, _) in committed.items() if offset >= 0}
        missing = [tp for tp in committed if tp not in bases]
        if missing:
            member = next((m for m in self._groups.values() if m.group == group), None)
            if member is not None and member.options.start == "latest":
                bases.update(await self.positions.floor(missing, member.assignment.since))
            else:
                bases.update(await self.positions.beginnings(missing))
        return bases


async def _stop_all(
    admin: KafkaAdmin | None, producer: AIOKafkaProducer | None, reader: AIOKafkaConsumer | None
) -> None:
    for resource in (reader, producer):
        if resource is not None:
            await resource.stop()
    if admin is not None:
        await admin.close()
