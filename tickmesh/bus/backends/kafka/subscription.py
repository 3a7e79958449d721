"""A local consumer's handle on its group member (see :mod:`.group`)."""

from __future__ import annotations

from tickmesh.bus.backends.kafka.group import GroupMember
from tickmesh.bus.base import Delivery, Subscription
from tickmesh.core.errors import BusClosedError


class KafkaSubscription(Subscription):
    """Consumer ``consumer`` of the group ``member`` stands for in this process."""

    def __init__(self, member: GroupMember, consumer: str) -> None:
        self._member = member
        self._consumer = consumer
        self._closed = False

    async def fetch(self, max_messages: int = 256, timeout: float = 1.0) -> list[Delivery]:
        if self._closed:
            raise BusClosedError("subscription is closed")
        if self._member.closed:
            raise BusClosedError("the bus (or its group member) is closed")
        if max_messages < 1:
            raise ValueError(f"max_messages must be >= 1, got {max_messages}")
        return await self._member.fetch(self._consumer, max_messages, timeout)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._member.remove(self._consumer)
