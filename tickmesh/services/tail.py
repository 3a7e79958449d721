"""``tickmesh tail``: watch topics as readable JSON lines (the seeds' overseer).

The watcher joins its own consumer group (a throwaway one unless ``--group`` names one), so it
never takes messages away from the services; it acks what it printed. Undecodable messages are
printed with their error instead of being dead-lettered: a watcher must not change the system.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

from tickmesh.bus.base import Bus, Delivery, SubscribeOptions
from tickmesh.core.errors import DecodeError
from tickmesh.model.codec import to_builtins


def render(delivery: Delivery) -> str:
    """One delivery as one JSON line: topic, key, attempt, event type and the event."""
    line: dict[str, Any] = {"topic": delivery.topic, "key": delivery.key}
    if delivery.attempt > 1:
        line["attempt"] = delivery.attempt
    try:
        event = delivery.event
    except DecodeError as exc:
        line["error"] = str(exc)
        line["payload_b64"] = base64.b64encode(delivery.payload).decode()
    else:
        line["type"] = type(event).__name__
        line["event"] = to_builtins(event)
    return json.dumps(line, sort_keys=True, default=str)


async def tail(
    bus: Bus,
    topic_names: Sequence[str],
    group: str,
    emit: Callable[[str], None],
    *,
    start: str = "latest",
    limit: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Print messages until ``limit`` were printed or ``stop`` is set; returns the count."""
    options = SubscribeOptions(start="earliest" if start == "earliest" else "latest")
    sub = bus.subscribe(list(topic_names), group, f"{group}-1", options)
    stop = stop or asyncio.Event()
    printed = 0
    try:
        while not stop.is_set() and (limit is None or printed < limit):
            wanted = 256 if limit is None else min(256, limit - printed)
            for delivery in await sub.fetch(wanted, timeout=0.5):
                emit(render(delivery))
                await delivery.ack()
                printed += 1
    finally:
        await sub.close()
    return printed
