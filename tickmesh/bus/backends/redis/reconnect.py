"""Riding out a Redis restart: which errors mean "try again", and the retry loop with backoff.

redis-py's own retries are switched off (see :func:`client_retry_policy`) so this loop is the one
place that decides how long to wait and what gets logged. A failed command drops its connection;
the pool opens a new one on the next attempt, so retrying is reconnecting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tickmesh.bus.retry import retrying as shared_retrying

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


async def retrying(
    op: Callable[[], Awaitable[T]],
    what: str,
    closed: Callable[[], bool],
    deadline: float | None = None,
) -> T:
    """Run ``op`` until it gets through a transient failure (see :mod:`tickmesh.bus.retry`)."""
    return await shared_retrying(
        op, what, closed, deadline, transient=_is_transient_redis, log=log, backend="redis"
    )


def _is_transient_redis(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)
