"""Riding out broker trouble, the same way for every backend: exponential backoff, a deadline,
and a stop when the bus closes. Each backend says which of its client's errors are transient."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tickmesh.core.errors import BusClosedError, RetryableError

T = TypeVar("T")


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
    deadline: float | None,
    *,
    transient: Callable[[BaseException], bool],
    log: logging.Logger,
    backend: str,
) -> T:
    """Run ``op`` until it gets through transient failures (``transient(exc)``); anything else
    propagates at once.

    Stops with :class:`BusClosedError` once ``closed()`` says so, and with
    :class:`RetryableError` once the event-loop time passes ``deadline`` (None: no deadline).
    """
    backoff = Backoff()
    loop = asyncio.get_running_loop()
    while True:
        try:
            return await op()
        except Exception as exc:
            if not transient(exc):
                raise
            if closed():
                raise BusClosedError(f"bus closed while retrying {what}") from exc
            delay = backoff.next_delay()
            if deadline is not None:
                delay = min(delay, deadline - loop.time())
                if delay <= 0:
                    raise RetryableError(f"{backend} {what} failed: {exc!r}") from exc
            log.warning("%s %s failed (%r); retrying in %.2fs", backend, what, exc, delay)
            await asyncio.sleep(delay)
