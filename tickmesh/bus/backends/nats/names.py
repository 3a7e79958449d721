"""Every subject, stream, consumer and KV name the NATS bus uses, and key -> partition.

A bus prefix ``p`` gives the root token ``tm-p`` (``tm`` for the empty prefix). Partition ``i`` of
``topic`` is the subject ``{root}.{topic}.{i}``, stored in one stream per topic whose name is
the topic made safe for stream names plus a CRC of the exact topic (stream names may not contain
dots, and two topics must never share a stream). A consumer group has one durable pull consumer
per partition, and its members' liveness lives in the KV bucket ``{root}_members``. Purging a
prefix deletes the streams whose subjects sit under ``{root}.`` and that bucket, nothing else.
"""

from __future__ import annotations

import itertools
import re
import zlib

_PREFIX = re.compile(r"[A-Za-z0-9_-]{0,64}")
_TOPIC = re.compile(r"[^\s.*>]+(?:\.[^\s.*>]+)*")
_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")
_MAX_READABLE = 40

KEY_HEADER = "Tickmesh-Key"
MSG_ID_HEADER = "Nats-Msg-Id"
RESERVED_HEADERS = frozenset({KEY_HEADER, MSG_ID_HEADER})


def safe_name(text: str) -> str:
    """A readable name valid for streams, consumers and KV keys; the CRC-32 of the exact
    ``text`` keeps apart texts that read alike once made safe ("a.b", "a_b")."""
    readable = _UNSAFE.sub("_", text)[:_MAX_READABLE].strip("_") or "x"
    return f"{readable}_{zlib.crc32(text.encode()):08x}"


class Names:
    """Names of one bus prefix, and the partition a key maps to."""

    def __init__(self, prefix: str, partitions: int) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(
                f"prefix {prefix!r} may only use up to 64 letters, digits, '_' and '-'"
            )
        self.root = f"tm-{prefix}" if prefix else "tm"
        self.partitions = partitions
        self.members_bucket = f"{self.root}_members"
        self._subjects: dict[str, tuple[str, ...]] = {}
        self._round_robin: dict[str, itertools.count[int]] = {}

    def subjects(self, topic: str) -> tuple[str, ...]:
        """The partition subjects of ``topic``; raises ValueError for a name NATS cannot carry."""
        subjects = self._subjects.get(topic)
        if subjects is None:
            if not _TOPIC.fullmatch(topic):
                raise ValueError(
                    f"invalid topic {topic!r}: use dot-separated non-empty tokens without "
                    "whitespace, '*' or '>'"
                )
            subjects = tuple(f"{self.root}.{topic}.{p}" for p in range(self.partitions))
            self._subjects[topic] = subjects
        return subjects

    def subject_for(self, topic: str, key: str) -> str:
        """The subject a message with ``key`` goes to: the memory bus's partition function."""
        return self.subjects(topic)[self.partition(topic, key)]

    def partition(self, topic: str, key: str) -> int:
        n = self.partitions
        if n == 1:
            return 0
        if key:
            return zlib.crc32(key.encode()) % n
        counter = self._round_robin.get(topic)
        if counter is None:
            counter = self._round_robin[topic] = itertools.count()
        return next(counter) % n

    def stream(self, topic: str) -> str:
        return f"{self.root}_{safe_name(topic)}"

    def stream_filter(self, topic: str) -> str:
        self.subjects(topic)
        return f"{self.root}.{topic}.*"

    def owns_stream(self, subjects: list[str]) -> bool:
        """True for a stream this prefix created (judged by its subjects, never its name)."""
        return bool(subjects) and all(s.startswith(f"{self.root}.") for s in subjects)

    def consumer(self, group: str, partition: int) -> str:
        return f"{safe_name(group)}_{partition}"

    def members_key(self, group: str, topic: str) -> str:
        return f"{safe_name(topic)}.{safe_name(group)}"


def check_key(key: str) -> None:
    """A key travels in a header: it must survive the header encoding unchanged."""
    if key != key.strip() or "\n" in key or "\r" in key:
        raise ValueError(f"message key {key!r} has leading/trailing whitespace or a line break")
