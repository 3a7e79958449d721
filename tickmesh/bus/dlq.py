"""The dead letter every backend writes: one shape, one id scheme.

The id names the message's place (topic, partition, position) and the group that gave up on it,
so a dead letter written twice (a retried publish, a second member reaching the same verdict)
is the same event and deduplicates like any other.
"""

from __future__ import annotations

import time

from tickmesh.model.events import DeadLetter


def dead_letter(
    *,
    topic: str,
    partition: int,
    position: int | str,
    group: str,
    key: str,
    payload: bytes,
    error: str,
    attempts: int,
) -> DeadLetter:
    now = time.time_ns()
    return DeadLetter(
        event_id=f"dlq-{topic}-{partition}-{position}-{group}",
        ts_event=now,
        ts_init=now,
        source="bus",
        topic=topic,
        key=key,
        group=group,
        payload=payload,
        error=error,
        attempts=attempts,
    )
