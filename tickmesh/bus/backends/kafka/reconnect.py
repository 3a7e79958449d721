"""Riding out broker trouble: which aiokafka errors mean "try again", and the retry loop.

aiokafka already retries inside a request (metadata refresh, leader moves); what reaches this
module is a request that gave up, and a service loop must keep going once the broker is back.
Authorization failures and protocol mismatches are not retried: a person has to fix them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IncompatibleBrokerVersion,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    NodeNotReadyError,
    TopicAuthorizationFailedError,
    UnsupportedVersionError,
)

from tickmesh.core.errors import BusClosedError, RetryableError

log = logging.getLogger("tickmesh.bus.kafka")

T = TypeVar("T")

_TRANSIENT = (KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable, NodeNotReadyError)
_FATAL = (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IncompatibleBrokerVersion,
    TopicAuthorizationFailedError,
    UnsupportedVersionError,
)


def is_transient(exc: BaseException) -> bool:
    """A failure that the same request may get past later (broker down, leader moving)."""
    return isinstance(exc, _TRANSIENT) or bool(getattr(exc, "retriable", False))


def is_recoverable(exc: BaseException) -> bool:
    """A consumer-side error aiokafka reports and then recovers from by itself (it rejoins the
    group): everything but authorization and protocol-version failures."""
    return isinstance(exc, KafkaError) and not isinstance(exc, _FATAL)


class Backoff:
    """Exponentially growing delays between attempts, reset by a success."""

    def __init__(self, first: float = 0.05, cap: float = 2.0) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first


async def retrying(
    op: Callable[[], Awaitable[T]],
    what: str,
    closed: Callable[[], bool],
    deadline: float | None = None,
) -> T:
    """Run ``op`` until it gets through transient failures.

    Stops with :class:`BusClosedError` once ``closed()`` says so, and with
    :class:`RetryableError` once the event-loop time passes ``deadline`` (None: no deadline).
    """
    backoff = Backoff()
    loop = asyncio.get_running_loop()
    while True:
        try:
            return await op()
        except KafkaError as exc:
            if not is_transient(exc):
                raise
            delay = _next_delay(backoff, exc, what, closed, deadline, loop.time())
            log.warning("kafka %s failed (%r); retrying in %.2fs", what, exc, delay)
            await asyncio.sleep(delay)


def _next_delay(
    backoff: Backoff,
    exc: KafkaError,
    what: str,
    closed: Callable[[], bool],
    deadline: float | None,
    now: float,
) -> float:
    if closed():
        raise BusClosedError(f"bus closed while retrying {what}") from exc
    delay = backoff.next_delay()
    if deadline is not None:
        delay = min(delay, deadline - now)
        if delay <= 0:
            raise RetryableError(f"kafka {what} failed: {exc!r}") from exc
    return delay
