"""One assigned partition's consumption state, and the delivery counts kept in Kafka.

Offsets are committed only up to the first message not yet settled (acked, or dead-lettered),
so an ack of offset 7 while 5 is in flight commits nothing past 5. Kafka offsets may have gaps
(compaction, transaction markers), so settled offsets are tracked in taken order rather than by
arithmetic.

Kafka keeps no delivery counter, and a new owner of a partition must know that a message was
already handed out (its attempt number goes up, and a message that keeps killing its consumers
ends in the DLQ). The count travels in the metadata string of the committed offset, which the
group commits before a fetch returns: ``tm1;d=<n>[;r=<i>:<k>,...]`` means "the n offsets from
the committed one on were delivered at least once, offset committed+i exactly k times". Being
written before the consumer sees the messages, it survives a crashed process. Metadata rather
than an attempts side topic: the counts go in the same request as the acks of the previous
batch (one commit per fetch, as a plain consumer does), they are read together with the
offset they describe so the two never disagree, and there is no second topic to create,
compact and purge.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from aiokafka.structs import TopicPartition

MARKS_VERSION = "tm1"
MAX_METADATA_CHARS = 3000  # brokers refuse more than offset.metadata.max.bytes (4096 by default)

Record = Any  # aiokafka.structs.ConsumerRecord (untyped)


class PartitionState:
    """What this process knows about one partition while it owns it.

    ``fresh`` holds fetched records not yet handed out, ``retry`` nacked or expired ones (served
    first), ``taken``/``settled`` the offsets handed out and which of them are settled.
    ``revoked`` is set when the partition goes to another process: outcomes of its deliveries
    are then ignored.
    """

    __slots__ = (
        "committed",
        "extra",
        "fresh",
        "position",
        "retry",
        "revoked",
        "settled",
        "skip_before_ms",
        "taken",
        "through",
        "topic",
        "tp",
    )

    def __init__(
        self,
        tp: TopicPartition,
        topic: str,
        offset: int,
        metadata: str = "",
        skip_before_ms: int | None = None,
    ) -> None:
        self.tp = tp
        self.topic = topic
        self.position = offset
        self.skip_before_ms = skip_before_ms
        self.through, self.extra = decode_marks(offset, metadata)
        self.fresh: deque[Record] = deque()
        self.retry: deque[tuple[Record, int]] = deque()
        self.taken: deque[int] = deque()
        self.settled: set[int] = set()
        self.committed = (offset, metadata)
        self.revoked = False

    def add_fresh(self, records: Iterable[Record]) -> None:
        """Queue fetched records, dropping any this state has already seen (a fetch that
        raced a seek)."""
        for record in records:
            if record.offset >= self.position:
                self.fresh.append(record)
                self.position = record.offset + 1

    def skips(self, record: Record) -> bool:
        """True (and the record settles) while scanning for the first record of a ``latest``
        start; the scan ends at the first record at or after the subscribe time."""
        if self.skip_before_ms is None:
            return False
        if record.timestamp >= self.skip_before_ms:
            self.skip_before_ms = None
            return False
        self.taken.append(record.offset)
        self.settle(record.offset)
        return True

    def take(self, record: Record) -> int:
        """Hand out a fetched record: its attempt number, counting deliveries made before this
        process owned the partition."""
        offset = record.offset
        self.taken.append(offset)
        attempt = (self.extra.get(offset) or (1 if offset < self.through else 0)) + 1
        self.mark(offset, attempt)
        return attempt

    def mark(self, offset: int, attempt: int) -> None:
        """Record that ``offset`` is being delivered for the ``attempt``-th time."""
        if attempt > 1:
            self.extra[offset] = attempt
        if offset >= self.through:
            self.through = offset + 1

    def settle(self, offset: int) -> None:
        """``offset`` needs no further delivery; the committable position moves past it once
        every offset taken before it is settled too."""
        taken, settled = self.taken, self.settled
        if taken and taken[0] == offset:
            taken.popleft()
            while taken and taken[0] in settled:
                settled.discard(taken.popleft())
        else:
            settled.add(offset)
        if self.extra:
            self.extra.pop(offset, None)

    def commit_offset(self) -> int:
        """The first offset not yet settled: what the group commits."""
        if self.taken:
            return self.taken[0]
        return int(self.fresh[0].offset) if self.fresh else self.position

    def pending_commit(self) -> tuple[int, str] | None:
        """``(offset, metadata)`` to commit, or None when Kafka already has it."""
        offset = self.commit_offset()
        current = (offset, encode_marks(offset, self.through, self.extra))
        return None if current == self.committed else current


def encode_marks(offset: int, through: int, extra: dict[int, int]) -> str:
    if through <= offset:
        return ""
    text = f"{MARKS_VERSION};d={through - offset}"
    counts = [f"{o - offset}:{k}" for o, k in sorted(extra.items()) if o >= offset]
    if counts:
        text += ";r=" + ",".join(counts)
    if len(text) > MAX_METADATA_CHARS:  # keep the counts nearest the committed offset
        text = text[: text.rfind(",", 0, MAX_METADATA_CHARS)]
    return text


def decode_marks(offset: int, text: str) -> tuple[int, dict[int, int]]:
    """``(through, {offset: deliveries})`` from a committed offset's metadata; anything not
    written by :func:`encode_marks` (another client's commit) means no marks."""
    fields = dict(part.partition("=")[::2] for part in text.split(";")[1:])
    if not text.startswith(MARKS_VERSION + ";") or not fields.get("d", "").isdigit():
        return offset, {}
    extra: dict[int, int] = {}
    for item in filter(None, fields.get("r", "").split(",")):
        rel, _, count = item.partition(":")
        if rel.isdigit() and count.isdigit():
            extra[offset + int(rel)] = int(count)
    return offset + int(fields["d"]), extra
