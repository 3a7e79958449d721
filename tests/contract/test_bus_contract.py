"""Behaviour every bus backend must show (see tickmesh/bus/base.py)."""

from __future__ import annotations

import asyncio

import pytest

from tickmesh.bus import Bus, Delivery, Outgoing, SubscribeOptions, Subscription
from tickmesh.model import DeadLetter, Heartbeat

FAST_REDELIVERY = SubscribeOptions(ack_wait_s=0.3, max_deliver=3)


def beat(n: int, key: str = "") -> Heartbeat:
    return Heartbeat(event_id=f"e{n:06d}", ts_event=n, ts_init=n, service=key or "svc")


def seq(delivery: Delivery) -> int:
    return delivery.event.ts_event


async def drain(sub: Subscription, want: int, timeout: float = 5.0) -> list[Delivery]:
    got: list[Delivery] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < want and loop.time() < deadline:
        batch = await sub.fetch(max_messages=want - len(got), timeout=0.2)
        for d in batch:
            await d.ack()
        got.extend(batch)
    return got


async def test_single_consumer_receives_every_message_in_key_order(
    bus: Bus, topic: str, group: str
) -> None:
    sub = bus.subscribe([topic], group, "c1")
    for n in range(50):
        await bus.publish(topic, beat(n), key="k")

    got = await drain(sub, 50)

    assert [seq(d) for d in got] == list(range(50))
    await sub.close()


async def test_every_group_sees_every_message(bus: Bus, topic: str) -> None:
    subs = [bus.subscribe([topic], f"{topic}-g{i}", "c") for i in range(2)]
    for n in range(20):
        await bus.publish(topic, beat(n), key=f"k{n % 3}")

    results = [sorted(seq(d) for d in await drain(s, 20)) for s in subs]

    assert results == [list(range(20)), list(range(20))]


async def test_group_members_share_work_without_duplicates(
    bus: Bus, topic: str, group: str
) -> None:
    a = bus.subscribe([topic], group, "a")
    b = bus.subscribe([topic], group, "b")
    for n in range(200):
        await bus.publish(topic, beat(n), key=f"k{n % 16}")

    got_a, got_b = await asyncio.gather(drain_until_idle(a), drain_until_idle(b))

    seen = sorted([seq(d) for d in got_a] + [seq(d) for d in got_b])
    assert seen == list(range(200))
    assert got_a
    assert got_b


async def drain_until_idle(sub: Subscription, idle: float = 0.5) -> list[Delivery]:
    got: list[Delivery] = []
    while batch := await sub.fetch(max_messages=64, timeout=idle):
        for d in batch:
            await d.ack()
        got.extend(batch)
    return got


async def test_group_members_preserve_order_per_key(bus: Bus, topic: str, group: str) -> None:
    a = bus.subscribe([topic], group, "a")
    b = bus.subscribe([topic], group, "b")
    for n in range(300):
        await bus.publish(topic, beat(n, key=f"k{n % 7}"), key=f"k{n % 7}")

    got = await asyncio.gather(drain_until_idle(a), drain_until_idle(b))

    for deliveries in got:
        per_key: dict[str, list[int]] = {}
        for d in deliveries:
            per_key.setdefault(d.key, []).append(seq(d))
        assert all(v == sorted(v) for v in per_key.values())
    keys_a = {d.key for d in got[0]}
    keys_b = {d.key for d in got[1]}
    assert not keys_a & keys_b


async def test_nacked_message_is_redelivered_with_next_attempt(
    bus: Bus, topic: str, group: str
) -> None:
    sub = bus.subscribe([topic], group, "c", FAST_REDELIVERY)
    await bus.publish(topic, beat(1), key="k")
    first = (await sub.fetch(1, timeout=2))[0]

    await first.nack("try again")
    second = (await sub.fetch(1, timeout=2))[0]

    assert (seq(second), first.attempt, second.attempt) == (1, 1, 2)
    await second.ack()
    assert await bus.lag(group, topic) == 0


async def test_messages_of_a_dead_consumer_go_to_another_member(
    bus: Bus, topic: str, group: str
) -> None:
    dead = bus.subscribe([topic], group, "dead", FAST_REDELIVERY)
    for n in range(10):
        await bus.publish(topic, beat(n), key=f"k{n}")
    held = await dead.fetch(10, timeout=2)
    assert held  # the dead consumer took messages and will never ack them
    alive = bus.subscribe([topic], group, "alive", FAST_REDELIVERY)

    got = await drain(alive, 10, timeout=5)

    assert sorted(seq(d) for d in got) == list(range(10))
    assert {d.attempt for d in got if seq(d) in {seq(h) for h in held}} == {2}


async def test_closed_consumer_hands_back_unacked_messages(
    bus: Bus, topic: str, group: str
) -> None:
    first = bus.subscribe([topic], group, "first")
    await bus.publish(topic, beat(7), key="k")
    assert len(await first.fetch(1, timeout=2)) == 1

    await first.close()
    second = bus.subscribe([topic], group, "second")
    got = await drain(second, 1)

    assert [seq(d) for d in got] == [7]


async def test_poison_message_goes_to_dlq_after_max_deliver_and_others_flow(
    bus: Bus, topic: str, group: str
) -> None:
    dlq = bus.subscribe([bus.dlq_topic], f"{group}-dlq", "watch", SubscribeOptions(start="latest"))
    sub = bus.subscribe([topic], group, "c", FAST_REDELIVERY)
    for n in range(5):
        await bus.publish(topic, beat(n), key=f"k{n}")
    attempts, healthy = 0, []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (len(healthy) < 4 or attempts < 3) and loop.time() < deadline:
        for d in await sub.fetch(10, timeout=0.2):
            if seq(d) == 2:
                attempts += 1
                await d.nack("boom: cannot handle")
            else:
                healthy.append(seq(d))
                await d.ack()

    letters = [d.event for d in await drain(dlq, 1)]

    assert sorted(healthy) == [0, 1, 3, 4]
    assert attempts == 3
    letter = next(x for x in letters if isinstance(x, DeadLetter) and x.group == group)
    assert (letter.topic, letter.attempts, letter.error) == (topic, 3, "boom: cannot handle")
    assert letter.payload
    assert await bus.lag(group, topic) == 0


async def test_malformed_payload_is_dead_lettered_at_once(bus: Bus, topic: str, group: str) -> None:
    dlq = bus.subscribe([bus.dlq_topic], f"{group}-dlq", "w", SubscribeOptions(start="latest"))
    sub = bus.subscribe([topic], group, "c")
    await bus.publish_raw(topic, b"\xc1not msgpack", key="bad")
    await bus.publish(topic, beat(1), key="good")
    ok = []
    for d in await drain_until_idle_raw(sub):
        try:
            ok.append(seq(d))
        except Exception as exc:
            await d.nack(str(exc), terminal=True)
            continue
        await d.ack()

    letters = [d.event for d in await drain(dlq, 1)]

    assert ok == [1]
    letter = next(x for x in letters if isinstance(x, DeadLetter) and x.group == group)
    assert letter.payload == b"\xc1not msgpack"
    assert "malformed" in letter.error
    assert letter.attempts == 1


async def drain_until_idle_raw(sub: Subscription) -> list[Delivery]:
    got: list[Delivery] = []
    while batch := await sub.fetch(max_messages=64, timeout=0.5):
        got.extend(batch)
    return got


async def test_lag_counts_unacknowledged_messages_per_group(
    bus: Bus, topic: str, group: str
) -> None:
    sub = bus.subscribe([topic], group, "c")
    await bus.publish_many([Outgoing(topic, beat(n), f"k{n}") for n in range(12)])
    assert await bus.lag(group, topic) == 12

    batch = await sub.fetch(5, timeout=2)
    for d in batch:
        await d.ack()

    assert await bus.lag(group, topic) == 12 - len(batch)


async def test_new_group_replays_from_start_of_retained_log(bus: Bus, topic: str) -> None:
    for n in range(10):
        await bus.publish(topic, beat(n), key="k")
    late = bus.subscribe([topic], f"{topic}-replay", "c", SubscribeOptions(start="earliest"))
    tail = bus.subscribe([topic], f"{topic}-tail", "c", SubscribeOptions(start="latest"))
    await bus.publish(topic, beat(10), key="k")

    replayed = [seq(d) for d in await drain(late, 11)]
    tailed = [seq(d) for d in await drain(tail, 1)]

    assert replayed == list(range(11))
    assert tailed == [10]


@pytest.mark.parametrize("batched", [False, True])
async def test_publisher_waits_when_a_group_falls_behind(
    bus: Bus, topic: str, group: str, batched: bool
) -> None:
    sub = bus.subscribe([topic], group, "c")
    retention = getattr(bus, "retention", None)
    if retention is None:
        pytest.skip("backend has no bounded in-process buffer")
    total = retention * bus.partitions * 2  # type: ignore[attr-defined]

    async def produce() -> None:
        if batched:
            await bus.publish_many([Outgoing(topic, beat(n), f"k{n}") for n in range(total)])
        else:
            for n in range(total):
                await bus.publish(topic, beat(n), key=f"k{n}")

    producer = asyncio.create_task(produce())
    await asyncio.sleep(0.3)
    blocked = not producer.done()
    lag_while_blocked = await bus.lag(group, topic)
    got = await drain(sub, total, timeout=20)
    await asyncio.wait_for(producer, 5)

    assert blocked
    assert lag_while_blocked <= retention * bus.partitions  # type: ignore[attr-defined]
    assert len(got) == total


async def test_a_deleted_group_starts_again_from_the_earliest_message(
    bus: Bus, topic: str, group: str
) -> None:
    for n in range(6):
        await bus.publish(topic, beat(n), key="k")
    first = bus.subscribe([topic], group, "c", SubscribeOptions(start="earliest"))
    assert [seq(d) for d in await drain(first, 6)] == list(range(6))
    await first.close()

    if not await bus.delete_group(group, [topic]):
        pytest.skip("this broker cannot delete consumer groups (the librdkafka mock cannot)")
    again = bus.subscribe([topic], group, "c", SubscribeOptions(start="earliest"))

    assert [seq(d) for d in await drain(again, 6)] == list(range(6))
    await again.close()
