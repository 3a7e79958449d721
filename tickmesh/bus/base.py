"""The bus contract every backend implements (memory is the reference).

- ``publish(topic, event, key)``; ``subscribe(topics, group, consumer)`` returns a
  :class:`Subscription` of :class:`Delivery` objects that must be acked or nacked.
- Consumer groups: members of one group share the work (partitions are spread over members);
  every group sees every message.
- Per-key order: one key always lands in one partition, and a partition is consumed by one
  member at a time, in offset order.
- At-least-once: a nacked message, or one whose consumer died (no ack within ``ack_wait``), is
  delivered again. After ``max_deliver`` attempts it goes to ``system.dlq`` as a
  :class:`~tickmesh.model.DeadLetter` with the error and attempt count; later messages keep flowing.
- Bounded buffers: ``publish`` waits while a group is too far behind (backpressure);
  ``lag`` tells how far behind a group is.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tickmesh.model.events import Event

StartFrom = Literal["earliest", "latest"]


@dataclass(frozen=True, slots=True)
class SubscribeOptions:
    """How a consumer group reads: where a new group starts, and the redelivery policy."""

    start: StartFrom = "earliest"
    max_deliver: int = 5
    ack_wait_s: float = 30.0
    prefetch: int = 256

    def __post_init__(self) -> None:
        if self.max_deliver < 1:
            raise ValueError(f"max_deliver must be >= 1, got {self.max_deliver}")
        if self.ack_wait_s <= 0:
            raise ValueError(f"ack_wait_s must be > 0, got {self.ack_wait_s}")
        if self.prefetch < 1:
            raise ValueError(f"prefetch must be >= 1, got {self.prefetch}")


@dataclass(slots=True)
class Outgoing:
    """One message to publish."""

    topic: str
    event: Event
    key: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Delivery(abc.ABC):
    """One delivery of one message to one consumer. Exactly one of ack/nack should be called."""

    topic: str
    key: str
    attempt: int
    headers: dict[str, str]

    @property
    @abc.abstractmethod
    def event(self) -> Event:
        """The decoded event; raises :class:`~tickmesh.core.errors.DecodeError` if malformed."""

    @property
    @abc.abstractmethod
    def payload(self) -> bytes:
        """The encoded message as it travels on the wire."""

    @abc.abstractmethod
    async def ack(self) -> None: ...

    @abc.abstractmethod
    async def nack(self, error: str, *, terminal: bool = False) -> None:
        """Hand the message back for redelivery; ``terminal`` sends it to the DLQ at once
        (for messages that can never succeed, such as undecodable payloads)."""


class Subscription(abc.ABC):
    """A consumer's view of its group's share of some topics."""

    @abc.abstractmethod
    async def fetch(self, max_messages: int = 256, timeout: float = 1.0) -> list[Delivery]:
        """Up to ``max_messages`` deliveries; waits at most ``timeout`` seconds for the first."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Leave the group gracefully: unacked deliveries go back to the group at once."""

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        while True:
            for delivery in await self.fetch():
                yield delivery


class Bus(abc.ABC):
    """A message bus backend."""

    dlq_topic: str = "system.dlq"

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; idempotent."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def purge(self) -> None:  # noqa: B027 - optional hook
        """Delete every stream, subject, topic and group this bus created under its prefix
        (test teardown, ``tickmesh admin``); a no-op where nothing outlives the process."""

    async def delete_group(self, group: str, topics: Sequence[str]) -> bool:
        """Forget a consumer group's position on ``topics`` (throwaway groups of tools such as
        ``tickmesh mirror``); False where the broker cannot (the group stays as it was)."""
        return True

    @abc.abstractmethod
    async def publish(
        self, topic: str, event: Event, key: str = "", headers: dict[str, str] | None = None
    ) -> None:
        """Append one event; may wait for space (backpressure)."""

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        """Publish in order; backends override this with a batched round trip."""
        for message in messages:
            await self.publish(message.topic, message.event, message.key, message.headers)

    @abc.abstractmethod
    async def publish_raw(
        self, topic: str, payload: bytes, key: str = "", headers: dict[str, str] | None = None
    ) -> None:
        """Append an already-encoded payload (mirrors, tests of poison messages)."""

    @abc.abstractmethod
    def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        consumer: str,
        options: SubscribeOptions | None = None,
    ) -> Subscription: ...

    @abc.abstractmethod
    async def lag(self, group: str, topic: str) -> int:
        """Messages the group has not yet acknowledged on ``topic``."""
