"""Where a new consumer group starts reading a partition it has never committed on.

``earliest`` is the start of the retained log. ``latest`` means "what is published from the
moment of ``subscribe()``", not "the end of the log when the group finally joins": joining takes
seconds, and a message published in between must not be lost. So ``latest`` is resolved by
time: the first offset whose timestamp (set by the producer's clock) is at or after the
subscribe time (a ListOffsets by timestamp). Brokers that cannot look offsets up by time (the
librdkafka mock cluster) get a scan instead: the group starts at the beginning and skips
records older than that time.

Timestamps have millisecond resolution, and on a fast network a message published just before
``subscribe()`` carries the same millisecond. So the moment also records the ends of the
partitions this process had itself written to (:class:`Since`): the start never falls before
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from tickmesh.bus.base import StartFrom


class Start(NamedTuple):
    """Where to start a partition; records before ``skip_before_ms`` (a timestamp) are skipped."""

    offset: int
    skip_before_ms: int | None = None


class Since(NamedTuple):
    """The moment a subscription was made: wall time (ms) and, per partition this process
    published to, the offset after its last acknowledged message."""

    ms: int
    offsets: dict[TopicPartition, int]

    def floor(self, tp: TopicPartition, start: Start) -> Start:
        offset = self.offsets.get(tp, 0)
        return start if offset <= start.offset else start._replace(offset=offset)


class Positions:
    """Offset lookups on a group-less consumer (ListOffsets only, it never fetches)."""

    def __init__(self, reader: AIOKafkaConsumer) -> None:
        self._reader = reader
        self._lookup_by_time: bool | None = None

    async def starts(
        self, partitions: Sequence[TopicPartition], start: StartFrom, since: Since
    ) -> dict[TopicPartition, Start]:
        if not partitions:
            return {}
        if start == "earliest":
            first = await self.beginnings(partitions)
            return {tp: Start(first[tp]) for tp in partitions}
        return await self._since(partitions, since)

    async def beginnings(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return _offsets(await self._reader.beginning_offsets(list(partitions)))

    async def ends(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return _offsets(await self._reader.end_offsets(list(partitions)))

    async def floor(
        self, partitions: Sequence[TopicPartition], since: Since
    ) -> dict[TopicPartition, int]:
        """For lag: the first offset published since ``since``; where only a scan could tell,
        the end of the log."""
        starts = await self._since(partitions, since)
        ends = await self.ends([tp for tp, s in starts.items() if s.skip_before_ms is not None])
        return {tp: ends.get(tp, s.offset) for tp, s in starts.items()}

    async def _since(
        self, partitions: Sequence[TopicPartition], since: Since
    ) -> dict[TopicPartition, Start]:
        # The ends are read first: a record appended after this cannot be before them.
        ends = await self.ends(partitions)
        found = await self._reader.offsets_for_times(dict.fromkeys(partitions, since.ms))
        starts: dict[TopicPartition, Start] = {}
        for tp in partitions:
            hit = found.get(tp)
            if hit is not None:
                start = Start(hit.offset)
            else:
                start = await self._no_hit(tp, ends[tp], since.ms)
            starts[tp] = since.floor(tp, start)
        return starts

    async def _no_hit(self, tp: TopicPartition, end: int, since_ms: int) -> Start:
        """No record at or after the time: true on a broker that looks offsets up by time (start
        at the end read before the lookup), unknown on one that cannot (scan)."""
        first = (await self.beginnings([tp]))[tp]
        if first >= end or await self._can_look_up_by_time(tp):
            return Start(end)
        return Start(first, skip_before_ms=since_ms)

    async def _can_look_up_by_time(self, tp: TopicPartition) -> bool:
        """Asked once, on a non-empty partition: every record is at or after time 0."""
        if self._lookup_by_time is None:
            found = await self._reader.offsets_for_times({tp: 0})
            self._lookup_by_time = found.get(tp) is not None
        return self._lookup_by_time


def _offsets(found: dict[Any, Any]) -> dict[TopicPartition, int]:
    return {tp: int(offset) for tp, offset in found.items()}
