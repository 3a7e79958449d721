"""Mirror: copies topics between buses; a restart mid-copy leaves no gap and no duplicate."""

from __future__ import annotations

import asyncio

import pytest

from tickmesh.bus import Bus, Delivery, MemoryBus, SubscribeOptions
from tickmesh.model import Heartbeat
from tickmesh.services.mirror import Mirror

TOPICS = ["market.ticks", "paper.orders.events"]


def beat(n: int) -> Heartbeat:
    return Heartbeat(event_id=f"e{n:05d}", ts_event=n, ts_init=n, service="src")


class CrashAfter(Mirror):
    """Publishes the copy of message ``n`` and dies before acking it: the worst moment."""

    def __init__(self, *args: object, crash_at: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.crash_at = crash_at

    async def _copy(self, delivery: Delivery) -> None:
        if self.stats.copied + 1 == self.crash_at:
            await self.destination.publish_raw(delivery.topic, delivery.payload, delivery.key)
            raise RuntimeError("killed")
        await super()._copy(delivery)


async def contents(bus: Bus, topic: str) -> list[str]:
    sub = bus.subscribe([topic], "check", "c", SubscribeOptions())
    got = []
    while batch := await sub.fetch(512, timeout=0.2):
        got += [d.event.event_id for d in batch]
    await sub.close()
    return got


async def publish(bus: Bus, n: int) -> None:
    for i in range(n):
        await bus.publish(TOPICS[i % 2], beat(i), key=f"k{i % 3}")


async def test_mirror_copies_every_message_with_key_and_headers() -> None:
    source, dest = MemoryBus(), MemoryBus()
    await source.publish(TOPICS[0], beat(1), key="BTC", headers={"trace": "abc"})
    mirror = Mirror(source, dest, TOPICS, idle_s=0.1)

    stats = await mirror.run(limit=1)
    copy = (await dest.subscribe([TOPICS[0]], "g", "c").fetch(1, timeout=1))[0]

    assert stats.copied == 1
    assert (copy.key, copy.headers, copy.event) == ("BTC", {"trace": "abc"}, beat(1))


async def test_restart_after_a_crash_mid_copy_leaves_no_gap_and_no_duplicate() -> None:
    source, dest = MemoryBus(), MemoryBus()
    await publish(source, 100)
    crashing = CrashAfter(source, dest, TOPICS, crash_at=41, idle_s=0.1)
    with pytest.raises(RuntimeError, match="killed"):
        await crashing.run()

    resumed = Mirror(source, dest, TOPICS, idle_s=0.1)
    stats = await resumed.run(limit=60)

    copied = sorted(await contents(dest, TOPICS[0]) + await contents(dest, TOPICS[1]))
    assert copied == [f"e{i:05d}" for i in range(100)]
    assert stats.skipped_duplicates == 1
    assert stats.already_in_destination == 41
    assert await source.lag("mirror", TOPICS[0]) == 0


async def test_mirror_stops_when_asked_and_resumes_where_it_left_off() -> None:
    source, dest = MemoryBus(), MemoryBus()
    await publish(source, 10)
    stop = asyncio.Event()
    first = Mirror(source, dest, TOPICS, idle_s=0.1)
    task = asyncio.create_task(first.run(stop))
    await asyncio.sleep(0.3)
    stop.set()
    await task
    for i in range(10, 15):
        await source.publish(TOPICS[0], beat(i), key="k")

    await Mirror(source, dest, TOPICS, idle_s=0.1).run(limit=5)

    copied = sorted(await contents(dest, TOPICS[0]) + await contents(dest, TOPICS[1]))
    assert copied == [f"e{i:05d}" for i in range(15)]


def test_mirror_without_topics_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one topic"):
        Mirror(MemoryBus(), MemoryBus(), [])
