"""One consumer's subscription: membership, reading, acks and redelivery on Redis Streams.

A fetch does, in order: hand out entries read ahead by an earlier fetch; refresh membership
when due (see :mod:`.membership`); redeliver what :mod:`.recovery` finds (nacked, own pending
after a restart, idle past ``ack_wait``); otherwise read new entries of the partitions this
member serves with one XREADGROUP, pipelined with the buffered XACKs. A connection error makes
a fetch return empty (and log); the next fetch reconnects and first re-reads this consumer's own
pending entries, since the reply that carried them may have been lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError
from redis.typing import KeyT, StreamIdT

from tickmesh.bus.backends.redis import recovery
from tickmesh.bus.backends.redis.acks import AckBatch, AckBuffer
from tickmesh.bus.backends.redis.delivery import Fields, RedisDelivery
from tickmesh.bus.backends.redis.keys import StreamRef
from tickmesh.bus.backends.redis.membership import assigned_partitions, key_ttl_ms
from tickmesh.bus.backends.redis.reconnect import (
    TRANSIENT,
    is_missing_group,
    log,
    retrying,
)
from tickmesh.bus.base import Delivery, SubscribeOptions, Subscription
from tickmesh.bus.retry import Backoff
from tickmesh.core.errors import BusClosedError

if TYPE_CHECKING:
    from tickmesh.bus.backends.redis.bus import RedisBus

HANDBACK_IDLE_MS = 10**12  # "idle forever": any member may claim a handed-back entry at once
MAX_REFRESH_S = 1.0
MAX_ACK_DELAY_S = 0.1

LEAVE_ERRORS: tuple[type[Exception], ...] = (*TRANSIENT, ResponseError)
EntryKey = tuple[str, bytes]  # (stream key, entry id)


def queue_acks(pipe: Pipeline, batch: AckBatch, group: str) -> None:
    for stream, ids in batch.items():
        pipe.xack(stream, group, *ids)


class RedisSubscription(Subscription):
    """``consumer``'s share of ``group`` on ``topics``."""

    def __init__(
        self,
        bus: RedisBus,
        topics: Sequence[str],
        group: str,
        consumer: str,
        options: SubscribeOptions,
    ) -> None:
        self._bus = bus
        self._group = group
        self._consumer = consumer
        self._options = options
        self._topics = list(dict.fromkeys(topics))
        self._refs = {
            ref.key.encode(): ref for topic in self._topics for ref in bus.keys.streams(topic)
        }
        self._member_keys = [bus.keys.members(topic, group) for topic in self._topics]
        self._ack_wait_ms = max(1, int(options.ack_wait_s * 1000))
        self._refresh_s = min(options.ack_wait_s / 4, MAX_REFRESH_S)
        self._acks = AckBuffer(self._send_acks, min(self._refresh_s, MAX_ACK_DELAY_S))
        self._assigned: list[StreamRef] = []
        self._inflight: dict[EntryKey, RedisDelivery] = {}
        self._overflow: deque[RedisDelivery] = deque()
        self._retries: list[RedisDelivery] = []
        self._reread: dict[StreamRef, str] = {}
        self._reread_own = True  # on start and after reconnecting, see recovery
        self._reclaim_due = True
        self._refresh_at = 0.0
        self._backoff = Backoff()
        self._failing = False
        self._lock = asyncio.Lock()
        self._join: asyncio.Task[None] | None = None
        self._joined = False
        self._closed = False

    # --- joining ---------------------------------------------------------------------------

    def begin_join(self) -> asyncio.Task[None] | None:
        """Create the groups and register this member now, so members subscribed one after
        the other know about each other before their first fetch. Without a running loop the
        join happens on the first fetch."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        self._join = loop.create_task(self._join_group())
        return self._join

    async def _join_group(self) -> None:
        await self._bus.create_groups(self._topics, self._group, self._options.start)
        await retrying(self._refresh, "join", lambda: self._bus.closed)
        self._refresh_at = 0.0  # others may have joined meanwhile: look again on first fetch

    async def _ensure_joined(self) -> None:
        if self._joined:
            return
        if self._join is None:
            self.begin_join()
        assert self._join is not None
        try:
            await asyncio.shield(self._join)
        except Exception:
            self._join = None
            raise
        self._joined = True

    async def _refresh(self) -> None:
        """Say we are alive and learn which partitions are ours."""
        live = await self._bus.refresh_script(
            keys=self._member_keys,
            args=[self._consumer, self._ack_wait_ms, key_ttl_ms(self._ack_wait_ms)],
        )
        n = self._bus.keys.partitions
        self._assigned = [
            self._bus.keys.stream(topic, p)
            for topic, members in zip(self._topics, live, strict=True)
            for p in assigned_partitions(members, self._consumer, n)
        ]
        self._reclaim_due = True
        self._refresh_at = asyncio.get_running_loop().time() + self._refresh_s

    # --- fetching --------------------------------------------------------------------------

    async def fetch(self, max_messages: int = 256, timeout: float = 1.0) -> list[Delivery]:
        if self._closed:
            raise BusClosedError("subscription is closed")
        if max_messages < 1:
            raise ValueError(f"max_messages must be >= 1, got {max_messages}")
        await self._ensure_joined()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._lock:
            while True:
                out = await self._attempt(max_messages, deadline)
                if out or loop.time() >= deadline or self._closed or self._bus.closed:
                    return list(out)

    async def _attempt(self, budget: int, deadline: float) -> list[RedisDelivery]:
        try:
            out = await self._step(budget, deadline)
        except TRANSIENT as exc:
            await self._pause(exc, deadline)
            return []
        except asyncio.CancelledError:
            self._reread_own = True  # a reply carrying entries may have been cut off
            self._refresh_at = 0.0
            raise
        except ResponseError as exc:
            if not is_missing_group(exc):
                raise
            await self._regroup(exc)
            return []
        if self._failing:
            self._failing = False
            log.info("redis is back; %s/%s resumes", self._group, self._consumer)
        self._backoff.reset()
        return out

    async def _step(self, budget: int, deadline: float) -> list[RedisDelivery]:
        if self._overflow:
            return self._from_overflow(budget)
        loop = asyncio.get_running_loop()
        if loop.time() >= self._refresh_at:
            await self._refresh()
            if self._reread_own:
                self._reread_own = False
                self._reread = dict.fromkeys(self._assigned, recovery.START)
        out = await self._recover(budget)
        if out:
            return out
        return await self._read_new(budget, self._block_ms(deadline))

    def _block_ms(self, deadline: float) -> int:
        """How long XREADGROUP may block: not past the fetch timeout, nor past the next
        membership refresh (a member blocked in Redis still has to show it is alive)."""
        now = asyncio.get_running_loop().time()
        wait = min(deadline, self._refresh_at) - now
        return max(1, int(wait * 1000)) if deadline > now else 0

    async def _read_new(self, budget: int, block_ms: int) -> list[RedisDelivery]:
        if not self._assigned:
            await asyncio.sleep(block_ms / 1000)
            return []
        streams: dict[KeyT, StreamIdT] = {ref.key: ">" for ref in self._assigned}

        def queue(pipe: Pipeline) -> None:
            pipe.xreadgroup(self._group, self._consumer, streams, budget, block_ms or None)

        replies = await self._behind_acks(queue)
        return self._hand_out(self._track_read(replies[0]), budget)

    async def _behind_acks(self, queue: Callable[[Pipeline], None]) -> list[Any]:
        """Run the commands ``queue`` adds in one round trip after the buffered XACKs; their
        replies. The acks stay buffered if the round trip fails."""
        pipe = self._bus.client.pipeline(transaction=False)
        acks = self._acks.take()
        queue_acks(pipe, acks, self._group)
        queue(pipe)
        try:
            replies = await pipe.execute()
        except BaseException:
            self._acks.restore(acks)
            raise
        return replies[len(acks) :]

    def _track_read(self, reply: Any) -> list[RedisDelivery]:
        out: list[RedisDelivery] = []
        for name, entries in reply or ():
            ref = self._refs[name]
            out.extend(self._track(ref, entry_id, fields, 1) for entry_id, fields in entries)
        return out

    def _track(
        self, ref: StreamRef, entry_id: bytes, fields: Fields, attempt: int
    ) -> RedisDelivery:
        delivery = RedisDelivery(self, ref, entry_id, fields, attempt)
        superseded = self._inflight.get((ref.key, entry_id))
        if superseded is not None:
            superseded.done = True
        self._inflight[ref.key, entry_id] = delivery
        return delivery

    def _hand_out(self, deliveries: list[RedisDelivery], budget: int) -> list[RedisDelivery]:
        """At most ``budget`` now; the rest (XREADGROUP's COUNT is per stream) next fetch."""
        if len(deliveries) > budget:
            self._overflow.extend(deliveries[budget:])
            del deliveries[budget:]
        return deliveries

    def _from_overflow(self, budget: int) -> list[RedisDelivery]:
        out: list[RedisDelivery] = []
        while self._overflow and len(out) < budget:
            delivery = self._overflow.popleft()
            if not delivery.done:
                out.append(delivery)
        return out

    # --- redelivery ------------------------------------------------------------------------

    async def _recover(self, budget: int) -> list[RedisDelivery]:
        retries, self._retries = self._retries, []
        try:
            claims = {
                (d.stream.key, d.entry_id): recovery.Claim(d.stream, d.entry_id, d.attempt + 1, 0)
                for d in retries
                if self._inflight.get((d.stream.key, d.entry_id)) is d
            }
            for claim in await self._scan_pending(budget):
                claims.setdefault((claim.stream.key, claim.entry_id), claim)
            if not claims:
                return []
            claimed = await self._claim(claims.values())
        except BaseException:
            self._retries[:0] = retries
            raise
        return self._hand_out(await self._expire_exhausted(claimed), budget)

    def _scans(self) -> list[recovery.Scan]:
        scans = [recovery.Scan(ref, True, start, 0) for ref, start in self._reread.items()]
        if self._reclaim_due:
            idle = self._ack_wait_ms
            scans += [recovery.Scan(ref, False, recovery.START, idle) for ref in self._assigned]
        return scans

    async def _scan_pending(self, budget: int) -> list[recovery.Claim]:
        scans = self._scans()
        if not scans:
            return []

        def queue(pipe: Pipeline) -> None:
            for scan in scans:
                recovery.queue_scan(pipe, scan, self._group, self._consumer, budget)

        replies = await self._behind_acks(queue)  # acked entries are not ours to take back
        self._reclaim_due = False
        claims: dict[EntryKey, recovery.Claim] = {}
        for scan, rows in zip(scans, replies, strict=True):
            self._advance(scan, rows, budget)
            for claim in recovery.claims_from(scan, rows):
                if not (scan.own and self._holds(claim)):
                    claims[claim.stream.key, claim.entry_id] = claim
        return list(claims.values())

    def _advance(self, scan: recovery.Scan, rows: list[dict[str, Any]], budget: int) -> None:
        """Page through own entries; keep reclaiming while pages come back full."""
        if not scan.own:
            self._reclaim_due = self._reclaim_due or len(rows) >= budget
            return
        start = recovery.next_start(rows, budget)
        if start is None:
            self._reread.pop(scan.stream, None)
        else:
            self._reread[scan.stream] = start

    def _holds(self, claim: recovery.Claim) -> bool:
        delivery = self._inflight.get((claim.stream.key, claim.entry_id))
        return delivery is not None and not delivery.done

    async def _claim(self, claims: Iterable[recovery.Claim]) -> list[RedisDelivery]:
        calls = recovery.grouped(claims)
        pipe = self._bus.client.pipeline(transaction=False)
        recovery.queue_claims(pipe, calls, self._group, self._consumer)
        replies = await pipe.execute()
        out: list[RedisDelivery] = []
        for ((ref, _), wanted), entries in zip(calls.items(), replies, strict=True):
            attempts = {claim.entry_id: claim.attempt for claim in wanted}
            for entry_id, fields in entries:
                if fields is None:  # trimmed away while pending: nothing left to deliver
                    self._acks.add(ref.key, entry_id)
                else:
                    out.append(self._track(ref, entry_id, fields, attempts[entry_id]))
        return out

    async def _expire_exhausted(self, claimed: list[RedisDelivery]) -> list[RedisDelivery]:
        """A claimed entry whose consumers already had ``max_deliver`` tries goes to the DLQ
        (the memory bus does the same when an ack wait expires on the last attempt)."""
        limit = self._options.max_deliver
        for delivery in [d for d in claimed if d.attempt > limit]:
            delivery.done = True
            await self._dead_letter(delivery, "ack wait expired", delivery.attempt - 1)
        return [d for d in claimed if d.attempt <= limit]

    # --- failures --------------------------------------------------------------------------

    async def _pause(self, exc: BaseException, deadline: float) -> None:
        """After a connection error: wait a little (never past the fetch timeout), and on
        reconnecting register again and re-read what Redis still has pending for us."""
        if not self._failing:
            self._failing = True
            log.warning(
                "redis fetch for %s/%s failed (%s); reconnecting", self._group, self._consumer, exc
            )
        self._reread_own = True
        self._refresh_at = 0.0
        remaining = deadline - asyncio.get_running_loop().time()
        await asyncio.sleep(max(0.0, min(self._backoff.next_delay(), remaining)))

    async def _regroup(self, exc: ResponseError) -> None:
        log.warning(
            "redis lost consumer group %s (%s); creating it again from the start of the "
            "retained log",
            self._group,
            exc,
        )
        await self._bus.create_groups(self._topics, self._group, "earliest")
        self._refresh_at = 0.0

    # --- acks, nacks, dead letters ---------------------------------------------------------

    def settle_ack(self, delivery: RedisDelivery) -> None:
        delivery.done = True
        key = (delivery.stream.key, delivery.entry_id)
        if self._inflight.get(key) is delivery:
            del self._inflight[key]
        self._acks.add(delivery.stream.key, delivery.entry_id)

    async def settle_nack(self, delivery: RedisDelivery, error: str, terminal: bool) -> None:
        delivery.done = True
        if terminal or delivery.attempt >= self._options.max_deliver:
            await self._dead_letter(delivery, error, delivery.attempt)
        else:
            self._retries.append(delivery)

    async def _dead_letter(self, delivery: RedisDelivery, error: str, attempts: int) -> None:
        await self._bus.dead_letter(self._group, delivery, error, attempts)
        key = (delivery.stream.key, delivery.entry_id)
        if self._inflight.get(key) is delivery:
            del self._inflight[key]

    async def _send_acks(self, batch: AckBatch) -> None:
        pipe = self._bus.client.pipeline(transaction=False)
        queue_acks(pipe, batch, self._group)
        await pipe.execute()

    async def flush_acks(self) -> None:
        """Send buffered acks now (``lag`` must see them); retries through a reconnect."""
        await self._acks.drain()
        await retrying(self._acks.flush, "ack", lambda: self._bus.closed)

    # --- leaving ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Leave the group: send acks, hand every unacked entry back to the group (claimable
        at once by any member) and drop out of the member set so others take the partitions."""
        if self._closed:
            return
        self._closed = True
        self._bus.forget(self)
        if self._join is not None and not self._join.done():
            self._join.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._join
        await self._acks.drain()
        await self._leave()

    async def _leave(self) -> None:
        held = list(self._inflight.values())
        for delivery in held:
            delivery.done = True
        self._inflight.clear()
        self._overflow.clear()
        self._retries.clear()
        batch = self._acks.take()
        pipe = self._bus.client.pipeline(transaction=False)
        queue_acks(pipe, batch, self._group)
        self._queue_handback(pipe, held)
        for key in self._member_keys:
            pipe.zrem(key, self._consumer)
        try:
            await pipe.execute()
        except LEAVE_ERRORS as exc:
            log.warning(
                "redis: %s/%s could not hand back %d messages (%s); the group takes "
                "them after ack_wait",
                self._group,
                self._consumer,
                len(held),
                exc,
            )

    def _queue_handback(self, pipe: Pipeline, held: list[RedisDelivery]) -> None:
        by_stream: dict[str, list[StreamIdT]] = {}
        for delivery in held:
            by_stream.setdefault(delivery.stream.key, []).append(delivery.entry_id)
        for stream, ids in by_stream.items():
            pipe.xclaim(
                stream, self._group, self._consumer, 0, ids, idle=HANDBACK_IDLE_MS, justid=True
            )

    async def detach(self) -> None:
        """The bus is closing: send acks, but leave unacked entries pending (as a crash
        would); they are redelivered after ``ack_wait``. Later acks and nacks are ignored and
        a later fetch raises :class:`BusClosedError`."""
        self._closed = True
        for delivery in self._inflight.values():
            delivery.done = True
        self._acks.cancel_timer()
        await self._acks.drain()
        with contextlib.suppress(*TRANSIENT):
            await self._acks.flush()
