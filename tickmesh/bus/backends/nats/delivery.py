"""One JetStream message handed to one consumer, and how it is settled."""

from __future__ import annotations

from typing import Protocol

from nats.aio.msg import Msg

from tickmesh.bus.backends.nats.groups import GroupPartition
from tickmesh.bus.backends.nats.names import KEY_HEADER, RESERVED_HEADERS
from tickmesh.bus.base import Delivery
from tickmesh.model.codec import decode
from tickmesh.model.events import Event

ACK = b"+ACK"
NAK = b"-NAK"
TERM = b"+TERM"


class Settler(Protocol):
    """What a delivery calls back into: its subscription."""

    async def settle(self, delivery: NatsDelivery, verb: bytes) -> None: ...

    async def dead_letter(self, delivery: NatsDelivery, error: str) -> None: ...


def ack_fields(reply: str) -> tuple[str, str, int, int]:
    """(stream, consumer, delivery count, stream sequence) from a ``$JS.ACK`` reply subject:
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...`` (9 tokens), or with a domain and an
    account hash after ``ACK`` (11 or 12 tokens, newer servers). ValueError otherwise."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        return tokens[2], tokens[3], int(tokens[4]), int(tokens[5])
    if len(tokens) >= 11:
        return tokens[4], tokens[5], int(tokens[6]), int(tokens[7])
    raise ValueError(f"not a JetStream ack subject: {reply!r}")


class NatsDelivery(Delivery):
    """``attempt`` is the broker's delivery count; ``headers`` are the publisher's own (the
    dedup id and the key travel as headers too, and are taken out)."""

    __slots__ = (
        "_event",
        "_msg",
        "_settled",
        "_settler",
        "attempt",
        "headers",
        "key",
        "part",
        "seq",
        "topic",
    )

    def __init__(
        self, msg: Msg, settler: Settler, part: GroupPartition, attempt: int, seq: int
    ) -> None:
        self._msg = msg
        self._settler = settler
        self._event: Event | None = None
        self._settled = False
        self.part = part
        self.attempt = attempt
        self.seq = seq
        self.topic = part.group.topic
        headers = msg.headers
        if headers:
            self.key = headers.get(KEY_HEADER, "")
            self.headers = {k: v for k, v in headers.items() if k not in RESERVED_HEADERS}
        else:
            self.key = ""
            self.headers = {}

    @property
    def event(self) -> Event:
        if self._event is None:
            self._event = decode(self._msg.data)
        return self._event

    @property
    def payload(self) -> bytes:
        return self._msg.data

    @property
    def reply(self) -> str:
        """The ``$JS.ACK`` subject that settles this delivery."""
        return self._msg.reply

    @property
    def settled(self) -> bool:
        return self._settled

    def mark_settled(self) -> bool:
        """Claim the one settlement this delivery gets; False if it was already settled."""
        if self._settled:
            return False
        self._settled = True
        return True

    async def ack(self) -> None:
        if self.mark_settled():
            await self._settler.settle(self, ACK)

    async def nack(self, error: str, *, terminal: bool = False) -> None:
        if self._settled:
            return
        if terminal or self.attempt >= self.part.group.options.max_deliver:
            await self._settler.dead_letter(self, error)
            verb = TERM
        else:
            verb = NAK
        if self.mark_settled():
            await self._settler.settle(self, verb)
