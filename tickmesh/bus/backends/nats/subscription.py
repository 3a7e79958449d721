"""One member of a consumer group: pulls its share of the partitions into one inbox.

A fetch first sweeps the assigned partition consumers with ``no_wait`` pull requests whose batch
sizes add up to what the caller asked for, so the broker never hands this member more than it
will return (a message held unreturned would still run down its ack wait). Partitions that filled
their share are swept again with what is left. When nothing is waiting, one lingering request of
one message per partition waits for the first arrival, then the sweep collects the rest.

Only one pull request per partition consumer is open at a time, so every message that arrives
belongs to the open request of its consumer (read from the ``$JS.ACK`` reply subject); status
replies (404 no messages, 408 request expired, 409) arrive on the request's own reply subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSub
from nats.errors import ConnectionClosedError
from nats.errors import Error as NatsError
from nats.js.errors import NoStreamResponseError

from tickmesh.bus.backends.nats.delivery import NAK, NatsDelivery, ack_fields
from tickmesh.bus.backends.nats.groups import GroupPartition, GroupTopic
from tickmesh.bus.backends.nats.membership import MembershipError
from tickmesh.bus.base import Delivery, SubscribeOptions, Subscription
from tickmesh.core.errors import BusClosedError

log = logging.getLogger(__name__)

_REPLY_GUARD_S = 1.0  # an answer to a pull request later than this is no longer waited for
_MIN_LINGER_S = 0.01
_BACKOFF_S = 0.2


class SubscriptionHost(Protocol):
    """What a subscription needs from its bus."""

    @property
    def closed(self) -> bool: ...

    async def connection(self) -> NatsClient: ...

    async def join_group(self, group: str, topic: str, options: SubscribeOptions) -> GroupTopic: ...

    async def dead_letter(self, delivery: NatsDelivery, error: str, attempts: int) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...

    def discard(self, subscription: NatsSubscription) -> None: ...


class _Pull:
    """One open pull request."""

    __slots__ = ("batch", "deadline", "done", "part", "remaining", "token")

    def __init__(self, part: GroupPartition, token: str, batch: int, deadline: float) -> None:
        self.part = part
        self.token = token
        self.batch = batch
        self.remaining = batch
        self.deadline = deadline
        self.done = False


class NatsSubscription(Subscription):
    def __init__(
        self,
        host: SubscriptionHost,
        topics: Sequence[str],
        group: str,
        consumer: str,
        options: SubscribeOptions,
    ) -> None:
        self._host = host
        self._topics = list(topics)
        self._group = group
        self._consumer = consumer
        self._options = options
        self._groups: list[GroupTopic] = []
        self._by_consumer: dict[tuple[str, str], GroupPartition] = {}
        self._open: dict[GroupPartition, _Pull] = {}
        self._pulls: dict[str, _Pull] = {}
        self._tokens = itertools.count()
        self._turns = itertools.count()
        self._buffer: deque[NatsDelivery] = deque()
        self._unsettled: dict[tuple[GroupPartition, int], NatsDelivery] = {}
        self._wake = asyncio.Event()
        self._nc: NatsClient | None = None
        self._inbox_sub: NatsSub | None = None
        self._inbox = ""
        self._closed = False
        self._joining = self._start_join()

    # --- joining ---------------------------------------------------------------------------

    def _start_join(self) -> asyncio.Task[None]:
        """Join at subscribe time, so members subscribed together know each other before the
        first fetch; fetch awaits it (and joins again if it failed)."""
        task = asyncio.get_running_loop().create_task(self._join())
        task.add_done_callback(_log_join_failure)
        return task

    async def _join(self) -> None:
        nc = await self._host.connection()
        if self._inbox_sub is None:
            self._inbox = nc.new_inbox()
            self._inbox_sub = await nc.subscribe(f"{self._inbox}.*", cb=self._on_message)
            self._nc = nc
        for topic in self._topics[len(self._groups) :]:
            found = await self._host.join_group(self._group, topic, self._options)
            for part in found.partitions:
                self._by_consumer[(found.stream, part.consumer)] = part
            await found.roster.join(self._consumer)
            self._groups.append(found)

    async def joined(self) -> None:
        """Wait until this member is registered in every group it subscribed to."""
        task = self._joining
        if task.done() and (task.cancelled() or task.exception() is not None):
            self._joining = self._start_join()
        await asyncio.shield(self._joining)

    # --- fetching --------------------------------------------------------------------------

    async def fetch(self, max_messages: int = 256, timeout: float = 1.0) -> list[Delivery]:
        if max_messages < 1:
            raise ValueError(f"max_messages must be >= 1, got {max_messages}")
        self._check_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await self.joined()
        except NatsError as exc:
            await self._pause_after(exc, deadline)
            return []
        return await self._fetch_until(max_messages, deadline)

    async def _fetch_until(self, max_messages: int, deadline: float) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        out: list[Delivery] = list(self._take(max_messages))
        while not self._closed:
            try:
                parts = self._assigned()
                if len(out) < max_messages:
                    await self._sweep(parts, max_messages - len(out))
                    out.extend(self._take(max_messages - len(out)))
                remaining = deadline - loop.time()
                if out or remaining < _MIN_LINGER_S:
                    return out
                await self._linger(parts, min(remaining, self._slice()))
                out.extend(self._take(max_messages - len(out)))
            except NatsError as exc:
                await self._pause_after(exc, deadline)
                return out
        return out

    def _assigned(self) -> list[GroupPartition]:
        """Stamp this member as live and return the partitions it owns now."""
        self._expire_stale()
        parts: list[GroupPartition] = []
        for found in self._groups:
            found.roster.touch(self._consumer)
            owned = found.roster.assigned(self._consumer, len(found.partitions))
            parts.extend(found.partitions[p] for p in owned)
        return parts

    def _slice(self) -> float:
        """How long one lingering request may wait: short enough to stamp liveness and follow
        rebalances in time."""
        return min(found.roster.interval_s for found in self._groups)

    async def _sweep(self, parts: list[GroupPartition], budget: int) -> None:
        candidates = [part for part in self._rotated(parts) if part not in self._open]
        while candidates and budget > 0:
            pulls = [
                await self._request(part, batch, expires_s=None)
                for part, batch in _shares(candidates, budget)
            ]
            await self._until_done(pulls)
            budget -= sum(p.batch - p.remaining for p in pulls)
            candidates = [p.part for p in pulls if p.remaining == 0]

    def _rotated(self, parts: list[GroupPartition]) -> list[GroupPartition]:
        """Start each sweep at another partition, so a small budget reaches every one in turn."""
        if len(parts) < 2:
            return parts
        turn = next(self._turns) % len(parts)
        return parts[turn:] + parts[:turn]

    async def _linger(self, parts: list[GroupPartition], wait_s: float) -> None:
        for part in parts:
            if part not in self._open:
                await self._request(part, 1, expires_s=wait_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while not self._buffer and not self._closed and (left := deadline - loop.time()) > 0:
            await self._wait_wake(left)

    async def _request(self, part: GroupPartition, batch: int, expires_s: float | None) -> _Pull:
        loop = asyncio.get_running_loop()
        token = str(next(self._tokens))
        pull = _Pull(part, token, batch, loop.time() + (expires_s or 0.0) + _REPLY_GUARD_S)
        if expires_s is None:
            body = b'{"batch":%d,"no_wait":true}' % batch
        else:
            body = b'{"batch":%d,"expires":%d}' % (batch, int(expires_s * 1e9))
        self._open[part] = pull
        self._pulls[token] = pull
        assert self._nc is not None
        try:
            await self._nc.publish(part.next_subject, body, reply=f"{self._inbox}.{token}")
        except BaseException:
            self._finish(pull)
            raise
        return pull

    async def _until_done(self, pulls: list[_Pull]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _REPLY_GUARD_S
        while not all(p.done for p in pulls) and not self._closed:
            left = deadline - loop.time()
            if left <= 0:
                for pull in pulls:
                    self._finish(pull)
                return
            await self._wait_wake(left)

    async def _wait_wake(self, timeout: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    def _take(self, n: int) -> list[NatsDelivery]:
        buffer = self._buffer
        if len(buffer) <= n:
            taken = list(buffer)
            buffer.clear()
            return taken
        return [buffer.popleft() for _ in range(n)]

    def _finish(self, pull: _Pull) -> None:
        pull.done = True
        self._pulls.pop(pull.token, None)
        if self._open.get(pull.part) is pull:
            del self._open[pull.part]
        self._wake.set()

    def _expire_stale(self) -> None:
        """Forget requests the broker never answered (it restarted, or the link dropped)."""
        now = asyncio.get_running_loop().time()
        for pull in [p for p in self._pulls.values() if p.deadline < now]:
            self._finish(pull)

    async def _pause_after(self, exc: NatsError, deadline: float) -> None:
        if isinstance(exc, ConnectionClosedError) or self._host.closed:
            raise BusClosedError("the NATS connection is closed") from exc
        log.warning("fetch by %s/%s failed, retrying: %r", self._group, self._consumer, exc)
        left = deadline - asyncio.get_running_loop().time()
        await asyncio.sleep(max(0.0, min(_BACKOFF_S, left)))

    # --- the inbox -------------------------------------------------------------------------

    async def _on_message(self, msg: Msg) -> None:
        if msg.reply.startswith("$JS.ACK."):
            await self._on_delivery(msg)
        elif not msg.reply:
            self._on_status(msg)

    async def _on_delivery(self, msg: Msg) -> None:
        try:
            stream, consumer, attempt, seq = ack_fields(msg.reply)
        except ValueError:
            log.warning("ignoring a message with an unreadable ack subject %r", msg.reply)
            return
        part = self._by_consumer.get((stream, consumer))
        if part is None:
            return
        pull = self._open.get(part)
        if pull is not None:
            pull.remaining -= 1
            if pull.remaining == 0:
                self._finish(pull)
        if self._closed:
            await self._publish_quietly(msg.reply, NAK)
            return
        delivery = NatsDelivery(msg, self, part, attempt, seq)
        self._unsettled[(part, seq)] = delivery  # a redelivery replaces the stale one
        self._buffer.append(delivery)
        self._wake.set()

    def _on_status(self, msg: Msg) -> None:
        token = msg.subject.rpartition(".")[2]
        pull = self._pulls.get(token)
        if pull is None:
            return
        headers = msg.headers or {}
        status = headers.get("Status", "")
        if status == "409" and headers.get("Description") == "Consumer Deleted":
            log.info("consumer %s was deleted (purged?)", pull.part.consumer)
        elif status not in ("404", "408"):
            log.warning(
                "pull request on %s answered %s %s", pull.part.consumer, status, msg.headers
            )
        self._finish(pull)

    # --- settling --------------------------------------------------------------------------

    async def settle(self, delivery: NatsDelivery, verb: bytes) -> None:
        key = (delivery.part, delivery.seq)
        if self._unsettled.get(key) is delivery:
            del self._unsettled[key]
        if verb != NAK:
            delivery.part.barrier = delivery.reply
        if self._nc is None:
            return
        try:
            await self._nc.publish(delivery.reply, verb)
        except ConnectionClosedError as exc:
            raise BusClosedError("the NATS connection is closed") from exc
        except NatsError as exc:
            log.warning(
                "could not send %s for %s (it will be redelivered): %r", verb, delivery.topic, exc
            )

    async def dead_letter(self, delivery: NatsDelivery, error: str) -> None:
        await self._host.dead_letter(delivery, error, delivery.attempt)

    async def _publish_quietly(self, subject: str, verb: bytes) -> None:
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(NatsError):
                await self._nc.publish(subject, verb)

    # --- leaving ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosedError("subscription is closed")
        if self._host.closed:
            raise BusClosedError("bus is closed")

    async def close(self) -> None:
        """Hand every unacked delivery back at once, leave the groups, and keep the inbox only
        until the requests still open expire (whatever they bring is handed back too)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._joining.cancel()
        await asyncio.gather(self._joining, return_exceptions=True)
        self._host.discard(self)
        if self._host.closed:
            return
        await self._hand_back()
        for found in self._groups:
            await self._leave(found)
        self._host.spawn(self._drop_inbox())

    async def _leave(self, found: GroupTopic) -> None:
        try:
            await found.roster.leave(self._consumer)
        except NoStreamResponseError:
            log.info("membership bucket of %s is gone (purged?)", found.group)
        except (NatsError, MembershipError, TimeoutError) as exc:
            log.warning("%s could not leave %s cleanly: %r", self._consumer, found.group, exc)

    async def _hand_back(self) -> None:
        self._buffer.clear()
        unsettled, self._unsettled = self._unsettled, {}
        for delivery in unsettled.values():
            if delivery.mark_settled():
                await self._publish_quietly(delivery.reply, NAK)

    async def _drop_inbox(self) -> None:
        if self._pulls:
            last = max(p.deadline for p in self._pulls.values()) - _REPLY_GUARD_S
            await asyncio.sleep(max(0.0, last - asyncio.get_running_loop().time()))
        if self._inbox_sub is not None and self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(NatsError):
                await self._inbox_sub.unsubscribe()


def _shares(parts: list[GroupPartition], budget: int) -> list[tuple[GroupPartition, int]]:
    """``budget`` split as evenly as possible over the first ``budget`` parts."""
    n = min(len(parts), budget)
    base, extra = divmod(budget, n)
    return [(part, base + (i < extra)) for i, part in enumerate(parts[:n])]


def _log_join_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("joining the consumer group failed (fetch retries): %r", task.exception())
