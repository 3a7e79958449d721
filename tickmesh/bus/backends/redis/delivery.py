"""One stream entry handed to a consumer, and how messages are laid out as stream fields.

An entry has the encoded event under ``p``, the partition key under ``k`` (left out when empty)
and each header ``name`` under ``h:name``. Decoding is lazy: a consumer that only forwards
payloads (a mirror) never pays for it, and a malformed payload raises only when asked for.
"""

from __future__ import annotations

from typing import Protocol

from tickmesh.bus.backends.redis.keys import StreamRef
from tickmesh.bus.base import Delivery
from tickmesh.model.codec import decode
from tickmesh.model.events import Event

PAYLOAD = b"p"
KEY = b"k"
HEADER = b"h:"

Fields = dict[bytes, bytes]


def entry_fields(payload: bytes, key: str, headers: dict[str, str] | None) -> list[bytes | str]:
    """The field/value list of XADD for one message."""
    fields: list[bytes | str] = [PAYLOAD, payload]
    if key:
        fields += [KEY, key]
    if headers:
        for name, value in headers.items():
            fields += [HEADER + name.encode(), value]
    return fields


def _headers(fields: Fields) -> dict[str, str]:
    return {
        name[len(HEADER) :].decode(): value.decode()
        for name, value in fields.items()
        if name.startswith(HEADER)
    }


class Settler(Protocol):
    """What a delivery reports its outcome to (the subscription that handed it out)."""

    def settle_ack(self, delivery: RedisDelivery) -> None: ...

    async def settle_nack(self, delivery: RedisDelivery, error: str, terminal: bool) -> None: ...


class RedisDelivery(Delivery):
    """A delivery of entry ``entry_id`` of ``stream``; ``done`` once acked, nacked, handed back
    or superseded by a redelivery (later ack/nack calls are then ignored, as in memory)."""

    __slots__ = (
        "_event",
        "_owner",
        "_payload",
        "attempt",
        "done",
        "entry_id",
        "headers",
        "key",
        "stream",
        "topic",
    )

    def __init__(
        self, owner: Settler, stream: StreamRef, entry_id: bytes, fields: Fields, attempt: int
    ) -> None:
        self._owner = owner
        self.stream = stream
        self.entry_id = entry_id
        self.attempt = attempt
        self.done = False
        self.topic = stream.topic
        self._payload = fields.get(PAYLOAD, b"")
        self._event: Event | None = None
        key = fields.get(KEY)
        self.key = key.decode() if key is not None else ""
        expected = 1 if key is None else 2
        self.headers = _headers(fields) if len(fields) > expected else {}

    @property
    def event(self) -> Event:
        if self._event is None:
            self._event = decode(self._payload)
        return self._event

    @property
    def payload(self) -> bytes:
        return self._payload

    async def ack(self) -> None:
        if not self.done:
            self._owner.settle_ack(self)

    async def nack(self, error: str, *, terminal: bool = False) -> None:
        if not self.done:
            await self._owner.settle_nack(self, error, terminal)

    def __repr__(self) -> str:
        return f"RedisDelivery({self.stream.key} {self.entry_id!r} attempt={self.attempt})"
