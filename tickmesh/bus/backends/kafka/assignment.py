"""The partitions Kafka assigned to this process for one group: their state and their commits.

On assignment each partition starts at the group's committed offset, with the delivery counts
kept in that commit's metadata (see :mod:`.partition`); where the group never committed, at the
subscription's ``start`` (see :mod:`.positions`), which is then committed so every later owner
agrees. On revocation what is settled is committed (a broker may refuse mid-rebalance; the next
owner then redelivers from the previous commit, with the counts) and the partition's deliveries
lose their say: acking them does nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import TopicPartition

from tickmesh.bus.backends.kafka.admin import KafkaAdmin
from tickmesh.bus.backends.kafka.partition import PartitionState
from tickmesh.bus.backends.kafka.positions import Positions, Since
from tickmesh.bus.backends.kafka.reconnect import is_recoverable, log, retrying
from tickmesh.bus.base import StartFrom
from tickmesh.core.errors import BusClosedError

Offsets = dict[TopicPartition, tuple[int, str]]


class AssignmentHost(Protocol):
    """What an assignment needs from its bus."""

    @property
    def admin(self) -> KafkaAdmin: ...

    @property
    def positions(self) -> Positions: ...

    def short_topic(self, topic: str) -> str: ...


class Assignment(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """See the module docstring; it is the aiokafka consumer's rebalance listener.

    ``ready`` is set while partitions are assigned and loaded (and when loading failed for good:
    ``failure`` then says why). ``changed`` is called whenever the partitions change.
    """

    def __init__(
        self,
        host: AssignmentHost,
        group_id: str,
        start: StartFrom,
        since: Since,
        closed: Callable[[], bool],
        changed: Callable[[], None],
    ) -> None:
        self.host = host
        self.group_id = group_id
        self.start = start
        self.since = since
        self.consumer: AIOKafkaConsumer | None = None
        self.parts: dict[TopicPartition, PartitionState] = {}
        self.order: list[TopicPartition] = []
        self.dirty: set[PartitionState] = set()
        self.ready = asyncio.Event()
        self.failure: BaseException | None = None
        self._closed = closed
        self._changed = changed
        self._commit_lock = asyncio.Lock()

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        self.ready.clear()
        if revoked:
            await self.flush()
        self.drop(revoked)

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        try:
            states = await retrying(
                lambda: self._load(sorted(assigned)), "read of committed offsets", self._closed
            )
        except BusClosedError:
            return
        except Exception as exc:  # surfaced by the next fetch
            log.exception("kafka group %s: cannot start the assigned partitions", self.group_id)
            self.fail(exc)
            return
        self.parts.update(states)
        self.order = sorted(self.parts)
        self.ready.set()
        self._changed()

    def fail(self, exc: BaseException) -> None:
        self.failure = exc
        self.ready.set()

    async def _load(self, partitions: list[TopicPartition]) -> dict[TopicPartition, PartitionState]:
        committed = await self.host.admin.committed(self.group_id, partitions)
        missing = [tp for tp in partitions if committed[tp][0] < 0]
        starts = await self.host.positions.starts(missing, self.start, self.since)
        states: dict[TopicPartition, PartitionState] = {}
        for tp in partitions:
            topic = self.host.short_topic(tp.topic)
            if tp in starts:
                state = PartitionState(tp, topic, starts[tp].offset, "", starts[tp].skip_before_ms)
                if state.skip_before_ms is None:  # a scan commits as it goes
                    state.committed = (-1, "")
                    self.dirty.add(state)
            else:
                state = PartitionState(tp, topic, *committed[tp])
            assert self.consumer is not None
            self.consumer.seek(tp, state.position)
            states[tp] = state
        return states

    def drop(self, partitions: Collection[TopicPartition]) -> None:
        for tp in partitions:
            state = self.parts.pop(tp, None)
            if state is not None:
                state.revoked = True  # outcomes of its deliveries are ignored from now on
                self.dirty.discard(state)
        self.order = sorted(self.parts)
        self._changed()

    async def release(self) -> None:
        """Commit what is settled and let go of every partition."""
        self.ready.clear()
        await self.flush()
        self.drop(list(self.parts))

    async def flush(self) -> None:
        """Commit what is committable, with the delivery counts."""
        if not self.dirty or self.consumer is None:
            return
        async with self._commit_lock:
            states = [state for state in self.dirty if not state.revoked]
            self.dirty.clear()
            offsets: Offsets = {}
            for state in states:
                pending = state.pending_commit()
                if pending is not None:
                    offsets[state.tp] = pending
            if offsets:
                await self._commit(offsets, states)

    async def _commit(self, offsets: Offsets, states: list[PartitionState]) -> None:
        assert self.consumer is not None
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # Mid-rebalance: whoever owns these partitions next redelivers from the last commit.
            log.info("kafka group %s: commit skipped (%r)", self.group_id, exc)
            return
        except KafkaError as exc:
            if not is_recoverable(exc):
                raise
            log.warning("kafka group %s: commit failed (%r); will retry", self.group_id, exc)
            self.dirty.update(state for state in states if state.tp in offsets)
            return
        for state in states:
            if state.tp in offsets:
                state.committed = offsets[state.tp]
