"""This process's member of one Kafka consumer group, shared by the bus's local subscriptions.

Kafka spreads a group's partitions over processes (one aiokafka consumer per process, group and
topic set); inside the process the member spreads its partitions over the live local consumers
exactly as the memory bus does (partition i of the sorted assignment goes to live consumer
``i % n``). A consumer is live while it fetches at least every ``ack_wait``. So a local consumer
that stops fetching loses its partitions at once to its siblings, its unacked deliveries expire
after ``ack_wait`` and are redelivered with the next attempt number, all without a Kafka
rebalance; and a process whose consumers all went silent leaves the group, so that Kafka hands
its partitions to the other processes. One member per process also keeps rebalances (the slow
part of Kafka groups) to processes coming and going.

Outcomes settle per partition (see :mod:`.partition`); what is committable is committed before
a fetch returns (with the delivery counts), every ``COMMIT_INTERVAL_S`` otherwise, and when
partitions are revoked or the member leaves (see :mod:`.assignment`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Protocol

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import ConsumerStoppedError, KafkaError

from tickmesh.bus.backends.kafka.assignment import Assignment, AssignmentHost
from tickmesh.bus.backends.kafka.delivery import KafkaDelivery
from tickmesh.bus.backends.kafka.partition import PartitionState, Record
from tickmesh.bus.backends.kafka.positions import Since
from tickmesh.bus.backends.kafka.reconnect import is_recoverable, log, retrying
from tickmesh.bus.base import Delivery, StartFrom, SubscribeOptions
from tickmesh.bus.retry import Backoff
from tickmesh.core.errors import BusClosedError

JOIN_WAIT_S = 30.0  # the first fetch waits this long for the group to hand out partitions
POLL_SLICE_S = 0.5  # a waiting fetch looks at expiries, hand-backs and liveness this often
COMMIT_INTERVAL_S = 1.0


class GroupHost(AssignmentHost, Protocol):
    """What a group member needs from its bus."""

    @property
    def closed(self) -> bool: ...

    def new_consumer(self, group_id: str, start: StartFrom) -> AIOKafkaConsumer: ...

    async def ensure_topic(self, topic: str) -> int: ...

    async def dead_letter(
        self, group: str, topic: str, record: Record, error: str, attempts: int
    ) -> None: ...

    def forget(self, member: GroupMember) -> None: ...


class GroupMember:
    """See the module docstring. ``options`` are those of the first local subscription."""

    def __init__(
        self,
        host: GroupHost,
        group: str,
        group_id: str,
        topics: tuple[str, ...],
        options: SubscribeOptions,
        since: Since,
    ) -> None:
        self.host = host
        self.group = group
        self.group_id = group_id
        self.topics = topics
        self.options = options
        self.members: dict[str, float] = {}
        self.timeline: deque[KafkaDelivery] = deque()
        self.closed = False
        self.consumer: AIOKafkaConsumer | None = None
        self._wakeup = asyncio.Event()
        self.assignment = Assignment(
            host, group_id, options.start, since, self._is_closed, self._wakeup.set
        )
        self._subscribed = False
        self._overdue: list[tuple[PartitionState, Record, int]] = []
        self._backoff = Backoff()
        self._wake_s = min(options.ack_wait_s / 2, POLL_SLICE_S)
        self._task = asyncio.get_running_loop().create_task(self._run())

    # --- local consumers ---------------------------------------------------------------------

    def add(self, consumer: str) -> None:
        self.members[consumer] = time.monotonic()

    async def remove(self, consumer: str) -> None:
        """A local consumer closed: its unacked deliveries go back to the group now; the last
        one to close takes the process out of the Kafka group."""
        self.members.pop(consumer, None)
        self._hand_back(consumer)
        if not self.members:
            await self.stop()
        self._wakeup.set()

    def _touch(self, consumer: str) -> float:
        now = time.monotonic()
        self.members[consumer] = now
        return now

    def _owned(self, consumer: str, now: float) -> list[PartitionState]:
        horizon = now - self.options.ack_wait_s
        live = [m for m, seen in self.members.items() if seen >= horizon] or [consumer]
        if consumer not in live:
            return []
        index, count = live.index(consumer), len(live)
        parts = self.assignment.parts
        return [parts[tp] for tp in self.assignment.order[index::count]]

    def _anyone_live(self, now: float) -> bool:
        horizon = now - self.options.ack_wait_s
        return any(seen >= horizon for seen in self.members.values())

    def _hand_back(self, consumer: str) -> None:
        """Put ``consumer``'s unsettled deliveries back in front of their partitions' retries,
        in offset order (the timeline holds every delivery not yet settled or expired)."""
        mine: dict[PartitionState, list[KafkaDelivery]] = {}
        for delivery in self.timeline:
            if not delivery.done and delivery.consumer == consumer:
                delivery.done = True
                mine.setdefault(delivery.state, []).append(delivery)
        for state, deliveries in mine.items():
            deliveries.sort(key=lambda d: d.offset)
            state.retry.extendleft((d.record, d.attempt) for d in reversed(deliveries))

    # --- fetching ----------------------------------------------------------------------------

    async def fetch(self, consumer: str, budget: int, timeout: float) -> list[Delivery]:
        """Up to ``budget`` deliveries for ``consumer``. The first fetch waits for the group to
        hand out partitions (up to ``JOIN_WAIT_S``) before its ``timeout`` starts."""
        loop = asyncio.get_running_loop()
        await self._until_assigned(consumer, timeout)
        deadline = loop.time() + timeout
        while True:
            out = await self._collect(consumer, budget)
            if out:
                await self.assignment.flush()
                return out
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closed:
                return out
            await self._wait(consumer, budget, min(remaining, self._wake_s))

    async def _until_assigned(self, consumer: str, timeout: float) -> None:
        ready = self.assignment.ready
        if not ready.is_set():
            self._resubscribe()
            loop = asyncio.get_running_loop()
            end = loop.time() + max(timeout, JOIN_WAIT_S)
            while not ready.is_set() and not self.closed and loop.time() < end:
                self._touch(consumer)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), min(end - loop.time(), self._wake_s))
        if self.assignment.failure is not None:
            raise self.assignment.failure

    async def _collect(self, consumer: str, budget: int) -> list[Delivery]:
        now = self._touch(consumer)
        await self._expire(now)
        owned = self._owned(consumer, now)
        out = self._take(owned, consumer, budget, now)
        if len(out) < budget and owned:
            await self._poll(owned, budget - len(out), 0.0)
            owned = [state for state in owned if not state.revoked]  # a rebalance ran meanwhile
            out += self._take(owned, consumer, budget - len(out), now)
        if self._overdue:
            await self._dead_letter_overdue()
        return out

    def _take(
        self, owned: list[PartitionState], consumer: str, budget: int, now: float
    ) -> list[Delivery]:
        out: list[Delivery] = []
        deadline = now + self.options.ack_wait_s
        for state in owned:
            if len(out) >= budget:
                break
            if state.retry or state.fresh:
                self._take_from(state, out, consumer, budget, deadline)
                self.assignment.dirty.add(state)
        return out

    def _take_from(
        self,
        state: PartitionState,
        out: list[Delivery],
        consumer: str,
        budget: int,
        deadline: float,
    ) -> None:
        """Retries first (they are older), then fresh records in offset order. (The hot loop of
        the consumer side: one pass per message, so names are bound locally.)"""
        while state.retry and len(out) < budget:
            record, attempt = state.retry.popleft()
            state.mark(record.offset, attempt + 1)
            out.append(self._track(state, record, attempt + 1, consumer, deadline))
        fresh, max_deliver, track = state.fresh, self.options.max_deliver, self.timeline.append
        for _ in range(min(budget - len(out), len(fresh))):
            record = fresh.popleft()
            if state.skip_before_ms is not None and state.skips(record):
                continue
            attempt = state.take(record)
            if attempt > max_deliver:  # its earlier consumers died holding it, max_deliver times
                self._overdue.append((state, record, attempt - 1))
                continue
            delivery = KafkaDelivery(self, state, record, attempt, consumer, deadline)
            track(delivery)
            out.append(delivery)

    def _track(
        self, state: PartitionState, record: Record, attempt: int, consumer: str, deadline: float
    ) -> KafkaDelivery:
        delivery = KafkaDelivery(self, state, record, attempt, consumer, deadline)
        self.timeline.append(delivery)
        return delivery

    async def _poll(self, owned: list[PartitionState], budget: int, timeout: float) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        try:
            batches = await consumer.getmany(
                *(state.tp for state in owned), timeout_ms=int(timeout * 1000), max_records=budget
            )
        except ConsumerStoppedError:
            return
        except KafkaError as exc:
            await self._recover(exc, "fetch")
            return
        self._backoff.reset()
        parts = self.assignment.parts
        for tp, records in batches.items():
            state = parts.get(tp)
            if state is not None:
                state.add_fresh(records)

    async def _wait(self, consumer: str, budget: int, timeout: float) -> None:
        owned = self._owned(consumer, time.monotonic())
        if any(state.fresh or state.retry for state in owned):
            return  # more to take (a scan skipped a whole batch)
        if owned:
            await self._poll(owned, budget, timeout)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        self._wakeup.clear()

    async def _recover(self, exc: KafkaError, what: str) -> None:
        """aiokafka reports group trouble through the fetch and then rejoins by itself: wait a
        little and go on; only authorization and protocol errors propagate."""
        if not is_recoverable(exc):
            raise exc
        delay = self._backoff.next_delay()
        log.warning(
            "kafka group %s: %s failed (%r); retrying in %.2fs", self.group_id, what, exc, delay
        )
        await asyncio.sleep(delay)

    # --- outcomes ----------------------------------------------------------------------------

    def settle_ack(self, delivery: KafkaDelivery) -> None:
        delivery.done = True
        state = delivery.state
        if not state.revoked:
            state.settle(delivery.offset)
            self.assignment.dirty.add(state)

    async def settle_nack(self, delivery: KafkaDelivery, error: str, terminal: bool) -> None:
        delivery.done = True
        state = delivery.state
        if state.revoked:
            return
        if terminal or delivery.attempt >= self.options.max_deliver:
            await self._dead_letter(state, delivery.record, error, delivery.attempt)
        else:
            state.retry.append((delivery.record, delivery.attempt))
            self._wakeup.set()

    async def _dead_letter(
        self, state: PartitionState, record: Record, error: str, attempts: int
    ) -> None:
        """The message goes to the DLQ and then counts as settled: the ones behind it flow."""
        await self.host.dead_letter(self.group, state.topic, record, error, attempts)
        state.settle(record.offset)
        self.assignment.dirty.add(state)

    async def _dead_letter_overdue(self) -> None:
        overdue, self._overdue = self._overdue, []
        for state, record, deliveries in overdue:
            await self._dead_letter(state, record, "ack wait expired", deliveries)

    async def _expire(self, now: float) -> None:
        """Deliveries whose consumer went silent past ``ack_wait`` go back to the group."""
        timeline = self.timeline
        while timeline and (timeline[0].done or timeline[0].deadline <= now):
            delivery = timeline.popleft()
            if not delivery.done:
                await self.settle_nack(delivery, "ack wait expired", terminal=False)

    async def flush(self) -> None:
        """Commit what this process's consumers settled (``lag`` wants it current)."""
        await self.assignment.flush()

    # --- membership in the Kafka group -------------------------------------------------------

    async def _run(self) -> None:
        try:
            await retrying(self._connect, f"join of group {self.group_id}", self._is_closed)
            while not self.closed:
                await asyncio.sleep(COMMIT_INTERVAL_S)
                await self._housekeep()
        except BusClosedError:
            return
        except Exception as exc:  # surfaced by the next fetch
            log.exception("kafka group %s: background task failed", self.group_id)
            self.assignment.fail(exc)

    def _is_closed(self) -> bool:
        return self.closed or self.host.closed

    async def _connect(self) -> None:
        for topic in self.topics:
            await self.host.ensure_topic(topic)
        consumer = self.host.new_consumer(self.group_id, self.options.start)
        try:
            await consumer.start()
            if self._is_closed():
                raise BusClosedError("bus closed while joining")
            consumer.subscribe(list(self.topics), listener=self.assignment)
        except BaseException:
            await consumer.stop()
            raise
        self.consumer = self.assignment.consumer = consumer
        self._subscribed = True

    def _resubscribe(self) -> None:
        """Rejoin after the member left for lack of live consumers."""
        if self.consumer is not None and not self._subscribed and not self.closed:
            self.consumer.subscribe(list(self.topics), listener=self.assignment)
            self._subscribed = True

    async def _housekeep(self) -> None:
        """Commit acks that no fetch carried; leave the group when no local consumer is live,
        so that Kafka hands the partitions to live processes."""
        await self.assignment.flush()
        idle = not self._anyone_live(time.monotonic())
        if self._subscribed and self.assignment.ready.is_set() and idle:
            log.info("kafka group %s: no live consumer; leaving the group", self.group_id)
            await self.assignment.release()
            assert self.consumer is not None
            self.consumer.unsubscribe()
            self._subscribed = False

    async def stop(self) -> None:
        """Commit what is settled and leave the Kafka group (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._wakeup.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self.consumer is not None:
            await self.assignment.release()
            await self.consumer.stop()
        self.assignment.ready.set()
        self.host.forget(self)
