"""Acknowledgements batched into one XACK per stream.

``ack()`` only records the entry id: the batch rides along with the next fetch's round trip, or
goes out on its own after ``delay`` if no fetch comes (so a consumer that stops fetching does
not hold acks until ``ack_wait`` hands its messages to someone else). ``lag`` and ``close``
flush first. Losing the buffer in a crash means those messages are delivered again, which
at-least-once allows and ``event_id`` dedup absorbs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tickmesh.bus.backends.redis.reconnect import TRANSIENT, log

AckBatch = dict[str, list[bytes]]  # stream key -> entry ids


class AckBuffer:
    """Entry ids acknowledged but not yet sent; ``send`` delivers one batch to Redis."""

    def __init__(self, send: Callable[[AckBatch], Awaitable[None]], delay: float) -> None:
        self._send = send
        self._delay = delay
        self._batch: AckBatch = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._batch.values())

    def add(self, stream: str, entry_id: bytes) -> None:
        ids = self._batch.get(stream)
        if ids is None:
            ids = self._batch[stream] = []
            self._arm()
        ids.append(entry_id)

    def take(self) -> AckBatch:
        """Everything buffered, to be sent by the caller (who must :meth:`restore` it if the
        send fails)."""
        batch, self._batch = self._batch, {}
        self.cancel_timer()
        return batch

    def restore(self, batch: AckBatch) -> None:
        """Put back a batch whose send failed; it goes out with the next fetch or flush."""
        for stream, ids in batch.items():
            self._batch.setdefault(stream, []).extend(ids)

    async def flush(self) -> None:
        """Send now; on failure the ids stay buffered and the error propagates."""
        batch = self.take()
        if not batch:
            return
        try:
            await self._send(batch)
        except BaseException:
            self.restore(batch)
            raise

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def drain(self) -> None:
        """Wait for a timer-started flush still in the air."""
        if self._flushing:
            await asyncio.wait(list(self._flushing))

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush_quietly())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except TRANSIENT as exc:
            log.warning("redis XACK failed (%s); retrying with the next fetch", exc)
        except Exception:
            log.exception("redis XACK failed; retrying with the next fetch")
