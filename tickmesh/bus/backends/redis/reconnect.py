"""Riding out a Redis restart: which errors mean "try again", and the retry loop with backoff.

redis-py's own retries are switched off (see :func:`client_retry_policy`) so this loop is the one
place that decides how long to wait and what gets logged. A failed command drops its connection;
the pool opens a new one on the next attempt, so retrying is reconnecting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tickmesh.core.errors import BusClosedError, RetryableError

log = logging.getLogger("tickmesh.bus.redis")

T = TypeVar("T")

# BusyLoadingError (the server is loading its AOF after a restart) is a ConnectionError;
# ReadOnlyError shows up while a replica is being promoted.
TRANSIENT: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)


def client_retry_policy() -> Retry:
    """No retries inside redis-py: a failed command surfaces at once to :func:`retrying`."""
    return Retry(NoBackoff(), 0)


def is_missing_group(exc: BaseException) -> bool:
    """The server no longer has the stream or group (lost in a restart, or deleted)."""
    return isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP")


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
    """Run ``op`` until it gets through a transient failure.

    Stops with :class:`BusClosedError` once ``closed()`` says so, and with
    :class:`RetryableError` once the event-loop time passes ``deadline`` (None: no deadline).
    """
    backoff = Backoff()
    loop = asyncio.get_running_loop()
    while True:
        try:
            return await op()
        except TRANSIENT as exc:
            if closed():
                raise BusClosedError(f"bus closed while retrying {what}") from exc
            delay = backoff.next_delay()
            if deadline is not None:
                delay = min(delay, deadline - loop.time())
                if delay <= 0:
                    raise RetryableError(f"redis {what} failed: {exc}") from exc
            log.warning("redis %s failed (%s); retrying in %.2fs", what, exc, delay)
            await asyncio.sleep(delay)
