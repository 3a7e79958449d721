"""``tickmesh mirror``: copy topics from one bus to another (the seeds' Redis -> Kafka mirror).

At-least-once on the way in, exactly-once on the way out:
- the source is read by a durable consumer group, and a message is acked only after its copy was
  published to the destination, so a crash or restart never leaves a gap;
- on start, the mirror reads what the destination already holds on those topics and skips any
  redelivered message whose event id is already there, so a restart never leaves a duplicate.
  The scan covers the destination's retained log (``scan_limit`` newest ids per run are kept).

Payloads travel as they are (no decode/re-encode), headers included; an undecodable payload is
copied too and recognised by a hash of its bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from tickmesh.bus.base import Bus, Delivery, SubscribeOptions
from tickmesh.core.errors import DecodeError
from tickmesh.services.runtime import DedupWindow

log = logging.getLogger(__name__)


@dataclass
class MirrorStats:
    copied: int = 0
    skipped_duplicates: int = 0
    already_in_destination: int = 0


def identity(delivery: Delivery) -> str:
    """What makes a message the same message on both buses."""
    try:
        return delivery.event.event_id
    except DecodeError:
        return "sha256:" + hashlib.sha256(delivery.payload).hexdigest()


class Mirror:
    def __init__(
        self,
        source: Bus,
        destination: Bus,
        topics: Sequence[str],
        group: str = "mirror",
        *,
        scan_limit: int = 1_000_000,
        idle_s: float = 1.0,
    ) -> None:
        if not topics:
            raise ValueError("mirror needs at least one topic")
        self.source = source
        self.destination = destination
        self.topics = list(topics)
        self.group = group
        self.scan_limit = scan_limit
        self.idle_s = idle_s
        self.stats = MirrorStats()
        self._present = DedupWindow(scan_limit)

    async def scan_destination(self) -> int:
        """Remember the ids the destination already holds; returns how many were found."""
        group = f"{self.group}-scan-{uuid.uuid4().hex[:8]}"
        sub = self.destination.subscribe(self.topics, group, "scan", SubscribeOptions())
        found = 0
        try:
            while batch := await sub.fetch(512, timeout=self.idle_s):
                for delivery in batch:
                    self._present.seen(identity(delivery))
                    await delivery.ack()
                found += len(batch)
        finally:
            await sub.close()
            await self._forget(group)
        self.stats.already_in_destination = found
        return found

    async def _forget(self, group: str) -> None:
        try:
            await self.destination.delete_group(group, self.topics)
        except Exception:  # best effort: a leftover scan group only costs broker memory
            log.warning("could not delete scan group %s", group, exc_info=True)

    async def run(self, stop: asyncio.Event | None = None, limit: int | None = None) -> MirrorStats:
        """Copy until ``stop`` is set (or ``limit`` messages were handled)."""
        await self.scan_destination()
        stop = stop or asyncio.Event()
        sub = self.source.subscribe(self.topics, self.group, f"{self.group}-1", SubscribeOptions())
        handled = 0
        try:
            while not stop.is_set() and (limit is None or handled < limit):
                batch = await sub.fetch(256, timeout=0.5)
                for delivery in batch:
                    await self._copy(delivery)
                handled += len(batch)
        finally:
            await sub.close()
        return self.stats

    async def _copy(self, delivery: Delivery) -> None:
        if self._present.seen(identity(delivery)):
            self.stats.skipped_duplicates += 1
        else:
            await self.destination.publish_raw(
                delivery.topic, delivery.payload, delivery.key, dict(delivery.headers)
            )
            self.stats.copied += 1
        await delivery.ack()
