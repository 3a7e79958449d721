"""Every Redis key the bus touches, and which partition a message key lands in.

Keys live under ``tm:{prefix}:`` so one server can hold several deployments (or test runs):
``tm:{prefix}:s:{topic}:{p}`` is partition ``p`` of ``topic`` (a stream),
``tm:{prefix}:m:{topic}:{group}`` the live members of a consumer group (a sorted set) and
``tm:{prefix}:partitions`` the partition count the deployment was started with. The prefix may
not contain ``:`` or glob characters, so ``tm:{prefix}:*`` matches this prefix's keys only.
"""

from __future__ import annotations

import itertools
import re
import zlib
from dataclasses import dataclass

_PREFIX = re.compile(r"[A-Za-z0-9_.\-]*")


@dataclass(frozen=True, slots=True)
class StreamRef:
    """One partition stream of one topic."""

    topic: str
    partition: int
    key: str


class Keyspace:
    """Names the keys of one bus prefix."""

    def __init__(self, prefix: str, partitions: int) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"prefix {prefix!r} may only use letters, digits, '_', '.' and '-'")
        self.prefix = prefix
        self.partitions = partitions
        self.root = f"tm:{prefix}:"

    def stream(self, topic: str, partition: int) -> StreamRef:
        return StreamRef(topic, partition, f"{self.root}s:{topic}:{partition}")

    def streams(self, topic: str) -> list[StreamRef]:
        return [self.stream(topic, p) for p in range(self.partitions)]

    def members(self, topic: str, group: str) -> str:
        return f"{self.root}m:{topic}:{group}"

    @property
    def partitions_key(self) -> str:
        return f"{self.root}partitions"

    @property
    def pattern(self) -> str:
        """A SCAN pattern matching every key of this prefix and nothing else."""
        return f"{self.root}*"


class Partitioner:
    """Key -> partition, the same function as the memory bus: ``crc32(key) % n``; messages
    without a key go round robin per topic."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._round_robin: dict[str, itertools.count[int]] = {}

    def __call__(self, topic: str, key: str) -> int:
        n = self.partitions
        if n == 1:
            return 0
        if not key:
            counter = self._round_robin.setdefault(topic, itertools.count())
            return next(counter) % n
        return zlib.crc32(key.encode()) % n
