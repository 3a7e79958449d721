"""Appending to topic streams: each stream is created on first use, every message carries a
``Nats-Msg-Id`` so the broker keeps one copy of a retried publish, and transient failures (a
broker restart, a reconnect, a slow ack) are retried with backoff for up to ``retry`` seconds.

A batch is published asynchronously (in chunks of up to 1024) and its acks awaited together;
after a failure it resumes at the first message not acknowledged, in order (messages stored
already are dropped as duplicates).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from nats.errors import (
    ConnectionClosedError,
    NoRespondersError,
    OutboundBufferLimitError,
    StaleConnectionError,
)
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, PubAck, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NoStreamResponseError, TooManyStalledMsgsError

from tickmesh.bus.backends.nats.names import KEY_HEADER, MSG_ID_HEADER, Names, check_key
from tickmesh.bus.backends.nats.options import NatsOptions
from tickmesh.core.errors import BusClosedError, OperatorError, RetryableError

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_IN_FLIGHT = 1024  # messages of one batch awaiting acks at once (the client allows 4000)
_FIRST_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 2.0
_STREAM_CONFIG_DIFFERS = 10058
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TRANSIENT = (
    TimeoutError,
    NoRespondersError,
    NoStreamResponseError,
    OutboundBufferLimitError,
    StaleConnectionError,
    TooManyStalledMsgsError,
)


@dataclass(slots=True)
class Prepared:
    """One message ready for the wire."""

    topic: str
    subject: str
    payload: bytes
    headers: dict[str, str]


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the broker is unreachable, restarting or slow, not refusing."""
    if isinstance(exc, APIError):
        return exc.code == 503
    return isinstance(exc, _TRANSIENT)


class Publisher:
    """Publishes through one JetStream context (bound once the bus is connected)."""

    def __init__(self, names: Names, options: NatsOptions, is_closed: Callable[[], bool]) -> None:
        self._names = names
        self._options = options
        self._is_closed = is_closed
        self._js: JetStreamContext | None = None
        self._streams: set[str] = set()
        self._stream_lock = asyncio.Lock()

    def bind(self, js: JetStreamContext) -> None:
        self._js = js

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise BusClosedError("the NATS bus is not started")
        return self._js

    def prepare(
        self, topic: str, key: str, payload: bytes, msg_id: str, extra: dict[str, str] | None
    ) -> Prepared:
        """Route by key and attach the dedup id, the key and the caller's headers."""
        subject = self._names.subject_for(topic, key)
        headers = _user_headers(extra) if extra else {}
        headers[MSG_ID_HEADER] = msg_id
        if key:
            check_key(key)
            headers[KEY_HEADER] = key
        return Prepared(topic, subject, payload, headers)

    # --- streams ---------------------------------------------------------------------------

    async def ensure_stream(self, topic: str) -> None:
        """Create the stream of ``topic`` unless this bus already did (or found it)."""
        if topic in self._streams:
            return
        async with self._stream_lock:
            if topic not in self._streams:
                await self._create_stream(topic)
                self._streams.add(topic)

    async def _create_stream(self, topic: str) -> None:
        o = self._options
        config = StreamConfig(
            name=self._names.stream(topic),
            subjects=[self._names.stream_filter(topic)],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE if o.storage == "file" else StorageType.MEMORY,
            max_msgs=o.max_msgs,
            max_bytes=o.max_bytes,
            max_age=o.max_age_s,
            num_replicas=o.replicas,
            duplicate_window=o.duplicate_window_s,
            discard=DiscardPolicy.OLD,
        )
        try:
            await self.js.add_stream(config)
        except APIError as exc:
            if exc.err_code != _STREAM_CONFIG_DIFFERS:
                raise
            log.info("stream %s exists with other limits; using it as it is", config.name)

    def forget_streams(self) -> None:
        """Streams may have been deleted (purge): create them again on next use."""
        self._streams.clear()

    # --- publishing ------------------------------------------------------------------------

    async def publish(self, message: Prepared) -> None:
        async def attempt() -> PubAck:
            await self.ensure_stream(message.topic)
            return await self.js.publish(
                message.subject,
                message.payload,
                timeout=self._options.timeout_s,
                headers=message.headers,
            )

        await self.retrying(f"publish to {message.topic}", attempt)

    async def publish_batch(self, batch: Sequence[Prepared]) -> None:
        for start in range(0, len(batch), _MAX_IN_FLIGHT):
            await self._publish_chunk(batch[start : start + _MAX_IN_FLIGHT])

    async def _publish_chunk(self, chunk: Sequence[Prepared]) -> None:
        topics = dict.fromkeys(m.topic for m in chunk)
        done = 0

        async def attempt() -> None:
            nonlocal done
            for topic in topics:
                await self.ensure_stream(topic)
            confirmed, error = await self._send_async(chunk[done:])
            done += confirmed
            if error is not None:
                raise error

        if chunk:
            await self.retrying(f"publish of {len(chunk)} messages", attempt)

    async def _send_async(self, chunk: Sequence[Prepared]) -> tuple[int, BaseException | None]:
        """Publish without waiting, then await every ack; returns how many messages from the
        front were acknowledged, and the first error. (No ``wait_stall``: with it every publish
        would yield to the event loop; chunks stay far below the client's in-flight limit.)"""
        js, timeout = self.js, self._options.timeout_s
        futures: list[asyncio.Future[PubAck]] = []
        error: BaseException | None = None
        try:
            for m in chunk:
                future = await js.publish_async(m.subject, m.payload, headers=m.headers)
                futures.append(future)
        except NatsError as exc:
            error = exc
        confirmed, failure = await _confirmed_prefix(futures, timeout)
        if confirmed < len(chunk) and error is None:
            error = failure or TimeoutError(f"no publish ack within {timeout}s")
        return confirmed, error

    async def retrying(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` until it succeeds, retrying transient broker failures with backoff."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._options.retry_s
        delay = _FIRST_BACKOFF_S
        while True:
            if self._is_closed():
                raise BusClosedError("bus is closed")
            try:
                return await attempt()
            except (NatsError, TimeoutError) as exc:
                self._check_retry(what, exc, loop.time() + delay > give_up)
                log.warning("%s failed (%r), retrying in %.2fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)

    def _check_retry(self, what: str, exc: BaseException, out_of_time: bool) -> None:
        if isinstance(exc, ConnectionClosedError) or self._is_closed():
            raise BusClosedError(f"{what}: the NATS connection is closed") from exc
        if not is_transient(exc):
            raise OperatorError(f"{what}: the broker refused it: {exc!r}") from exc
        if isinstance(exc, NoStreamResponseError):
            self.forget_streams()
        if out_of_time:
            raise RetryableError(
                f"{what}: still failing after {self._options.retry_s}s: {exc!r}"
            ) from exc


async def _confirmed_prefix(
    futures: list[asyncio.Future[PubAck]], timeout: float
) -> tuple[int, BaseException | None]:
    """Wait for the acks (the last one first: acks come back in order), then count the
    acknowledged prefix; cancels whatever is still pending."""
    if futures:
        await asyncio.wait(futures[-1:], timeout=timeout)
        pending = [f for f in futures if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
    confirmed, failure = 0, None
    for future in futures:
        error = _outcome(future)
        if failure is None and error is not None:
            failure = error
        if failure is None:
            confirmed += 1
    return confirmed, failure


def _outcome(future: asyncio.Future[PubAck]) -> BaseException | None:
    """The error of a publish ack (retrieved, so asyncio never warns about it); a pending one is
    cancelled and counts as timed out."""
    if not future.done():
        future.cancel()
    if future.cancelled():
        return TimeoutError("publish ack not received")
    return future.exception()


def _user_headers(extra: dict[str, str]) -> dict[str, str]:
    for name, value in extra.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"header name {name!r} is not a valid NATS header name")
        if value != value.strip() or "\n" in value or "\r" in value:
            raise ValueError(f"header {name!r}: value has surrounding whitespace or a line break")
    return dict(extra)
