"""One Kafka record handed to one consumer.

The record's key is the message key (UTF-8), its value the encoded event, its headers the
message headers (UTF-8 values). Decoding is lazy: a consumer that only forwards payloads (a
mirror) never pays for it, and a malformed payload raises only when asked for.
"""

from __future__ import annotations

from typing import Protocol

from tickmesh.bus.backends.kafka.partition import PartitionState, Record
from tickmesh.bus.base import Delivery
from tickmesh.model.codec import decode
from tickmesh.model.events import Event


class Settler(Protocol):
    """What a delivery reports its outcome to (the group member that handed it out)."""

    def settle_ack(self, delivery: KafkaDelivery) -> None: ...

    async def settle_nack(self, delivery: KafkaDelivery, error: str, terminal: bool) -> None: ...


class KafkaDelivery(Delivery):
    """A delivery of ``record``; ``done`` once acked, nacked, handed back, expired or revoked
    (later ack/nack calls are then ignored, as in memory)."""

    __slots__ = (
        "_event",
        "_owner",
        "attempt",
        "consumer",
        "deadline",
        "done",
        "headers",
        "key",
        "offset",
        "record",
        "state",
        "topic",
    )

    def __init__(
        self,
        owner: Settler,
        state: PartitionState,
        record: Record,
        attempt: int,
        consumer: str,
        deadline: float,
    ) -> None:
        self._owner = owner
        self.state = state
        self.record = record
        self.offset: int = record.offset
        self.attempt = attempt
        self.consumer = consumer
        self.deadline = deadline
        self.done = False
        self.topic = state.topic
        key = record.key
        self.key = key.decode() if key else ""
        headers = record.headers
        self.headers = {name: value.decode() for name, value in headers} if headers else {}
        self._event: Event | None = None

    @property
    def event(self) -> Event:
        if self._event is None:
            self._event = decode(self.payload)
        return self._event

    @property
    def payload(self) -> bytes:
        value: bytes | None = self.record.value
        return value if value is not None else b""

    async def ack(self) -> None:
        if not self.done:
            self._owner.settle_ack(self)

    async def nack(self, error: str, *, terminal: bool = False) -> None:
        if not self.done:
            await self._owner.settle_nack(self, error, terminal)

    def __repr__(self) -> str:
        tp = self.state.tp
        return f"KafkaDelivery({tp.topic}[{tp.partition}]@{self.offset} attempt={self.attempt})"
