"""The Redis Streams bus: each topic partition is a stream, each group a Redis consumer group.

Publishing appends to ``tm:{prefix}:s:{topic}:{crc32(key) % partitions}`` with approximate
trimming (see :class:`~.options.RedisOptions`); ``publish_many`` is one pipelined round trip.
Consumption, membership and redelivery are in :mod:`.subscription`. Every operation rides out
a Redis restart: connection errors are retried with backoff (see :mod:`.reconnect`), so a
service loop keeps going once the server is back, and with an append-only file fsynced on every
write nothing acknowledged is lost.

Unlike the memory bus, publishing does not wait for slow groups: retention trims regardless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from tickmesh.bus.backends.redis.delivery import RedisDelivery, entry_fields
from tickmesh.bus.backends.redis.keys import Keyspace, Partitioner, StreamRef
from tickmesh.bus.backends.redis.membership import REFRESH_SCRIPT
from tickmesh.bus.backends.redis.options import RedisOptions, parse_url
from tickmesh.bus.backends.redis.reconnect import client_retry_policy, retrying
from tickmesh.bus.backends.redis.subscription import RedisSubscription
from tickmesh.bus.base import Bus, Outgoing, StartFrom, SubscribeOptions, Subscription
from tickmesh.bus.dlq import dead_letter
from tickmesh.core.errors import BusClosedError, ConfigError
from tickmesh.model.codec import encode
from tickmesh.model.events import Event

CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 15.0  # well above the longest XREADGROUP block (one membership refresh)
START_TIMEOUT_S = 10.0
SCAN_BATCH = 1000

Command = tuple[Any, ...]


class RedisBus(Bus):
    """A bus on one Redis server (``redis://host:port/db?partitions=4&maxlen=1000000``).

    ``prefix`` namespaces every key, so deployments and test runs share a server without seeing
    each other; :meth:`purge` deletes everything under it.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "",
        options: RedisOptions | None = None,
    ) -> None:
        self.options = options or RedisOptions()
        self.keys = Keyspace(prefix, self.options.partitions)
        self.partitions = self.options.partitions
        self.client = aioredis.from_url(
            url,
            retry=client_retry_policy(),
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            protocol=2,  # the reply shapes this module parses, whatever redis-py's default
        )
        self.refresh_script = self.client.register_script(REFRESH_SCRIPT)
        self._partition = Partitioner(self.options.partitions)
        self._subscriptions: set[RedisSubscription] = set()
        self._joins: set[asyncio.Task[None]] = set()
        self._started = False
        self._closed = False

    @classmethod
    def from_url(cls, url: str, prefix: str = "") -> RedisBus:
        """Parse the bus URL; a ValueError names the bad or unknown option."""
        client_url, options = parse_url(url)
        return cls(client_url, prefix, options)

    @property
    def closed(self) -> bool:
        return self._closed

    def _is_closed(self) -> bool:
        return self._closed

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the server is reachable (RetryableError after a few seconds if not) and that
        this prefix's streams were laid out with the same partition count."""
        if self._started:
            return
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        await retrying(self._check_partitions, "start", self._is_closed, deadline)
        self._started = True

    async def _check_partitions(self) -> None:
        key, mine = self.keys.partitions_key, self.options.partitions
        pipe = self.client.pipeline(transaction=False)
        pipe.set(key, mine, nx=True)
        pipe.get(key)
        _, stored = await pipe.execute()
        if stored is not None and int(stored) != mine:
            raise ConfigError(
                f"redis bus prefix {self.keys.prefix!r} was set up with partitions={int(stored)}, "
                f"this process has partitions={mine}; every process of a deployment must use "
                "the same number (set ?partitions= in the bus URL)"
            )

    async def close(self) -> None:
        """Send pending acks and disconnect. Open subscriptions are not handed back (close
        them first for that): their unacked messages are redelivered after ``ack_wait``."""
        if self._closed:
            return
        for task in list(self._joins):
            task.cancel()
        for sub in list(self._subscriptions):
            await sub.detach()
        self._subscriptions.clear()
        self._closed = True
        await self.client.aclose()

    async def purge(self) -> None:
        await self._settle_joins()
        await retrying(self._delete_prefix, "purge", self._is_closed)

    async def delete_group(self, group: str, topics: Sequence[str]) -> bool:
        """Destroy ``group`` on every partition stream of ``topics`` and forget its members."""
        await self._settle_joins()
        refs = [ref for topic in topics for ref in self.keys.streams(topic)]

        async def destroy() -> None:
            pipe = self.client.pipeline(transaction=False)
            for ref in refs:
                pipe.xgroup_destroy(ref.key, group)
            for topic in topics:
                pipe.delete(self.keys.members(topic, group))
            await pipe.execute(raise_on_error=False)

        await retrying(destroy, "delete group", self._is_closed)
        return True

    async def _delete_prefix(self) -> None:
        batch: list[bytes] = []
        async for key in self.client.scan_iter(match=self.keys.pattern, count=SCAN_BATCH):
            batch.append(key)
            if len(batch) >= SCAN_BATCH:
                await self.client.unlink(*batch)
                batch.clear()
        if batch:
            await self.client.unlink(*batch)

    # --- publishing --------------------------------------------------------------------------

    async def publish(
        self, topic: str, event: Event, key: str = "", headers: dict[str, str] | None = None
    ) -> None:
        await self.publish_raw(topic, encode(event), key, headers)

    async def publish_raw(
        self, topic: str, payload: bytes, key: str = "", headers: dict[str, str] | None = None
    ) -> None:
        await self._publish([self._xadd(topic, payload, key, headers)])

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        """All messages in one pipelined round trip, in order. A retry after a dropped
        connection resends the whole batch (at-least-once: consumers dedup by ``event_id``)."""
        if messages:
            xadd = self._xadd
            await self._publish(
                [xadd(m.topic, encode(m.event), m.key, m.headers) for m in messages]
            )

    async def _publish(self, commands: list[Command]) -> None:
        if self._closed:
            raise BusClosedError("bus is closed")
        await self._settle_joins()
        await retrying(lambda: self._pipeline(commands), "publish", self._is_closed)

    async def _pipeline(self, commands: list[Command], transaction: bool = False) -> None:
        pipe = self.client.pipeline(transaction=transaction)
        for command in commands:
            pipe.execute_command(*command)
        await pipe.execute()

    def _xadd(
        self, topic: str, payload: bytes, key: str, headers: dict[str, str] | None
    ) -> Command:
        stream = self.keys.stream(topic, self._partition(topic, key)).key
        return ("XADD", stream, *self._trim(), "*", *entry_fields(payload, key, headers))

    def _trim(self) -> tuple[str | int, ...]:
        options = self.options
        if options.min_age_s is not None:
            oldest_ms = int((time.time() - options.min_age_s) * 1000)
            return ("MINID", "~", f"{oldest_ms}-0")
        if options.maxlen:
            return ("MAXLEN", "~", options.maxlen)
        return ()

    async def dead_letter(
        self, group: str, delivery: RedisDelivery, error: str, attempts: int
    ) -> None:
        """Publish a :class:`DeadLetter` and acknowledge the original, atomically."""
        ref = delivery.stream
        letter = dead_letter(
            topic=ref.topic,
            partition=ref.partition,
            position=delivery.entry_id.decode(),
            group=group,
            key=delivery.key,
            payload=delivery.payload,
            error=error,
            attempts=attempts,
        )
        commands = [
            self._xadd(self.dlq_topic, encode(letter), delivery.key, None),
            ("XACK", ref.key, group, delivery.entry_id),
        ]
        await retrying(lambda: self._pipeline(commands, True), "dead-letter", self._is_closed)

    # --- consuming ---------------------------------------------------------------------------

    def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        consumer: str,
        options: SubscribeOptions | None = None,
    ) -> Subscription:
        """Join ``group`` as ``consumer``: the groups are created and the member registered
        right away (in the background), so publishing after ``subscribe`` never races it."""
        if self._closed:
            raise BusClosedError("bus is closed")
        if not topics or not group or not consumer:
            raise ValueError("subscribe needs at least one topic, a group and a consumer name")
        sub = RedisSubscription(self, topics, group, consumer, options or SubscribeOptions())
        self._subscriptions.add(sub)
        task = sub.begin_join()
        if task is not None:
            self._joins.add(task)
            task.add_done_callback(self._joins.discard)
        return sub

    def forget(self, sub: RedisSubscription) -> None:
        """A subscription closed."""
        self._subscriptions.discard(sub)

    async def _settle_joins(self) -> None:
        if self._joins:
            await asyncio.wait(list(self._joins))

    async def create_groups(self, topics: Sequence[str], group: str, start: StartFrom) -> None:
        """Create ``group`` on every partition stream of ``topics`` (and the streams); a group
        that already exists keeps its position."""
        first_id = "0" if start == "earliest" else "$"
        refs = [ref for topic in topics for ref in self.keys.streams(topic)]

        async def create() -> None:
            pipe = self.client.pipeline(transaction=False)
            for ref in refs:
                pipe.xgroup_create(ref.key, group, first_id, mkstream=True)
            for reply in await pipe.execute(raise_on_error=False):
                if isinstance(reply, ResponseError) and not str(reply).startswith("BUSYGROUP"):
                    raise reply

        await retrying(create, "create group", self._is_closed)

    # --- lag ---------------------------------------------------------------------------------

    async def lag(self, group: str, topic: str) -> int:
        """Entries of ``topic`` not yet delivered to ``group`` plus those delivered but not
        acknowledged (this process's buffered acks are sent first)."""
        await self._settle_joins()
        for sub in list(self._subscriptions):
            await sub.flush_acks()
        refs = self.keys.streams(topic)
        return await retrying(lambda: self._lag(group, refs), "lag", self._is_closed)

    async def _lag(self, group: str, refs: list[StreamRef]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for ref in refs:
            pipe.xinfo_groups(ref.key)
        total = 0
        for ref, reply in zip(refs, await pipe.execute(raise_on_error=False), strict=True):
            if isinstance(reply, ResponseError):
                if "no such key" in str(reply):
                    continue
                raise reply
            info = next((g for g in reply if g["name"] == group.encode()), None)
            if info is not None:
                total += info["pending"] + await self._undelivered(ref, info)
        return total

    async def _undelivered(self, ref: StreamRef, info: dict[str, Any]) -> int:
        """Redis reports ``lag`` unless trimming made it unknowable; then count the entries
        after the group's last delivered id."""
        if info.get("lag") is not None:
            return int(info["lag"])
        count, start = 0, b"(" + info["last-delivered-id"]
        while entries := await self.client.xrange(ref.key, start, "+", count=SCAN_BATCH):
            count += len(entries)
            last_id = entries[-1][0]
            if len(entries) < SCAN_BATCH or not isinstance(last_id, bytes):
                break
            start = b"(" + last_id
        return count
