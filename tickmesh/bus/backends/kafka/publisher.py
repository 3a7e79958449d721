"""Turning messages into Kafka record batches, and getting them acknowledged.

A message's partition is ``crc32(key) % partitions`` (round robin per topic for an empty key),
computed here and passed explicitly so every backend maps keys alike. Messages are appended to
record batches per partition (aiokafka's batch interface: no per-message future), each batch
is queued on the idempotent producer, and the call returns once every batch is acknowledged by
all in-sync replicas (``acks=all``).

A batch that a transient error held back is sent again with backoff until it gets through;
the idempotent producer drops its own duplicates, and a resend after a lost acknowledgement may
duplicate, which consumers' ``event_id`` dedup absorbs.
"""

from __future__ import annotations

import asyncio
import itertools
import zlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tickmesh.bus.backends.kafka.reconnect import is_transient, log
from tickmesh.bus.retry import Backoff
from tickmesh.core.errors import BusClosedError

Headers = list[tuple[str, bytes]]
Sent = tuple["asyncio.Future[Any] | None", list["Out"]]


class Out(NamedTuple):
    """One message ready for the wire (full topic name)."""

    topic: str
    partition: int
    key: bytes | None
    payload: bytes
    headers: Headers


class Publisher:
    """See the module docstring. ``written`` keeps, per (topic, partition) this process wrote
    to, the offset after its last acknowledged message."""

    def __init__(self, producer: AIOKafkaProducer, closed: Callable[[], bool]) -> None:
        self._producer = producer
        self._closed = closed
        self._round_robin: dict[str, Iterator[int]] = {}
        self.written: dict[tuple[str, int], int] = {}

    def out(
        self, topic: str, partitions: int, payload: bytes, key: str, headers: dict[str, str] | None
    ) -> Out:
        raw_key = key.encode() if key else None
        if raw_key:
            partition = zlib.crc32(raw_key) % partitions
        else:
            partition = next(self._round_robin.setdefault(topic, itertools.count())) % partitions
        wire_headers = [(k, v.encode()) for k, v in headers.items()] if headers else []
        return Out(topic, partition, raw_key, payload, wire_headers)

    async def send(self, outs: list[Out]) -> None:
        backoff = Backoff()
        while outs:
            if self._closed():
                raise BusClosedError("bus is closed")
            outs = await self._attempt(outs)
            if outs:
                delay = backoff.next_delay()
                log.warning(
                    "kafka publish: %d message(s) not sent; retry in %.2fs", len(outs), delay
                )
                await asyncio.sleep(delay)

    async def _attempt(self, outs: list[Out]) -> list[Out]:
        """One try; what a transient error held back, in order."""
        failed: list[Out] = []
        for future, batch in await self._enqueue(outs):
            if future is None or not await self._acknowledged(future, batch):
                failed.extend(batch)
        return failed

    async def _acknowledged(self, future: asyncio.Future[Any], batch: list[Out]) -> bool:
        try:
            sent = await future
        except KafkaError as exc:
            if not is_transient(exc):
                raise
            return False
        self.written[batch[0].topic, batch[0].partition] = sent.offset + len(batch)
        return True

    async def _enqueue(self, outs: list[Out]) -> list[Sent]:
        by_partition: dict[tuple[str, int], list[Out]] = {}
        for out in outs:
            by_partition.setdefault((out.topic, out.partition), []).append(out)
        queued: list[Sent] = []
        for (topic, partition), items in by_partition.items():
            refused = False  # after a refused batch the partition's later ones wait: order
            for builder, batch in self._record_batches(items):
                future = None if refused else await self._queue(builder, topic, partition)
                refused = future is None
                queued.append((future, batch))
        return queued

    async def _queue(self, builder: Any, topic: str, partition: int) -> asyncio.Future[Any] | None:
        try:
            future: asyncio.Future[Any] = await self._producer.send_batch(
                builder, topic, partition=partition
            )
        except KafkaError as exc:
            if not is_transient(exc):
                raise
            return None
        return future

    def _record_batches(self, items: list[Out]) -> Iterator[tuple[Any, list[Out]]]:
        """Fill record batches up to the producer's batch size; a message bigger than that
        gets a batch of its own (the broker's ``message.max.bytes`` still applies)."""
        builder, batch = self._producer.create_batch(), []
        for out in items:
            if _append(builder, out):
                batch.append(out)
                continue
            if batch:
                yield builder, batch
            builder, batch = self._producer.create_batch(), [out]
            if not _append(builder, out):
                raise ValueError(f"message of {len(out.payload)} bytes cannot be batched")
        builder.close()
        yield builder, batch


def _append(builder: Any, out: Out) -> bool:
    """False when the batch is full (it is then closed)."""
    added = builder.append(key=out.key, value=out.payload, timestamp=None, headers=out.headers)
    return added is not None
