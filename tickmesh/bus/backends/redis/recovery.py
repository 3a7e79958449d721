"""Taking back pending entries: the redelivery half of at-least-once.

Three kinds of entries are claimed (XCLAIM, which also bumps Redis' delivery counter, so
``attempt`` stays equal to the number of deliveries across processes):

- **retries**: entries this consumer nacked, redelivered on its next fetch;
- **own**: entries Redis still has pending for this consumer name that this process does not
  hold (a restart, or a reply lost to a dropped connection), re-read first on start;
- **idle**: entries of this consumer's partitions nobody acknowledged within ``ack_wait``
  (their consumer died, stalled, or closed and handed them back).

Candidates are found with XPENDING, whose rows carry the delivery count; XCLAIM with a minimum
idle time then lets exactly one member win an entry that several race for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio.client import Pipeline
from redis.typing import StreamIdT

from tickmesh.bus.backends.redis.keys import StreamRef

START = "-"


@dataclass(frozen=True, slots=True)
class Claim:
    """Take ``entry_id`` of ``stream`` if idle for ``min_idle_ms``; deliver it as ``attempt``."""

    stream: StreamRef
    entry_id: bytes
    attempt: int
    min_idle_ms: int


@dataclass(frozen=True, slots=True)
class Scan:
    """One XPENDING query: this consumer's own entries from ``start`` on, or anyone's entries
    idle at least ``min_idle_ms``."""

    stream: StreamRef
    own: bool
    start: str
    min_idle_ms: int


def queue_scan(pipe: Pipeline, scan: Scan, group: str, consumer: str, count: int) -> None:
    if scan.own:
        pipe.xpending_range(scan.stream.key, group, scan.start, "+", count, consumername=consumer)
    else:
        pipe.xpending_range(scan.stream.key, group, START, "+", count, idle=scan.min_idle_ms)


def claims_from(scan: Scan, rows: Iterable[dict[str, Any]]) -> list[Claim]:
    """XPENDING rows -> claims; the next delivery is one more than Redis has counted."""
    return [
        Claim(scan.stream, row["message_id"], row["times_delivered"] + 1, scan.min_idle_ms)
        for row in rows
    ]


def next_start(rows: list[dict[str, Any]], count: int) -> str | None:
    """Where the next page of an own-entries scan starts; None when this page was the last."""
    if len(rows) < count:
        return None
    last: bytes = rows[-1]["message_id"]
    return "(" + last.decode()


def grouped(claims: Iterable[Claim]) -> dict[tuple[StreamRef, int], list[Claim]]:
    """One XCLAIM per (stream, min idle)."""
    by_call: dict[tuple[StreamRef, int], list[Claim]] = {}
    for claim in claims:
        by_call.setdefault((claim.stream, claim.min_idle_ms), []).append(claim)
    return by_call


def queue_claims(
    pipe: Pipeline, calls: dict[tuple[StreamRef, int], list[Claim]], group: str, consumer: str
) -> None:
    for (stream, min_idle_ms), claims in calls.items():
        ids: list[StreamIdT] = [claim.entry_id for claim in claims]
        pipe.xclaim(stream.key, group, consumer, min_idle_ms, ids)
