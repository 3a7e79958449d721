"""The bridge between the deterministic in-process bus and a shared one."""

from __future__ import annotations

from tickmesh import topics
from tickmesh.bus import MemoryBus, SubscribeOptions
from tickmesh.model import Command, CommandType, Heartbeat
from tickmesh.services.bridge import BusBridge


def beat(n: int) -> Heartbeat:
    return Heartbeat(event_id=f"h{n}", ts_event=n, ts_init=n, service="svc")


def halt() -> Command:
    return Command(event_id="c1", ts_event=1, ts_init=1, command=CommandType.HALT, issued_by="op")


async def test_everything_the_pipeline_publishes_reaches_the_shared_bus_in_order() -> None:
    inside, outside = MemoryBus(partitions=1), MemoryBus()
    bridge = BusBridge(outside, "paper")
    bridge.attach(inside, ["1m"])
    watcher = outside.subscribe([topics.SYSTEM_HEARTBEATS], "w", "w")
    for n in range(5):
        inside.publish_nowait(topics.SYSTEM_HEARTBEATS, beat(n), "svc")
    inside.run_until_idle()

    await bridge.flush()

    got = [d.event.ts_event for d in await watcher.fetch(10, timeout=1)]
    assert got == [0, 1, 2, 3, 4]
    assert (bridge.forwarded, bridge.backlog) == (5, 0)


async def test_commands_published_outside_come_in_and_are_not_sent_back_out() -> None:
    inside, outside = MemoryBus(partitions=1), MemoryBus()
    bridge = BusBridge(outside, "paper")
    bridge.attach(inside, ["1m"])
    await outside.publish(topics.OPS_COMMANDS, halt())

    commands = await bridge.commands()
    inside.publish_nowait(topics.OPS_COMMANDS, commands[0])
    inside.run_until_idle()
    await bridge.flush()

    assert [c.command for c in commands] == [CommandType.HALT]
    assert bridge.forwarded == 0
    assert await bridge.commands() == []


async def test_a_malformed_command_is_dead_lettered_and_others_still_come_in() -> None:
    inside, outside = MemoryBus(partitions=1), MemoryBus()
    bridge = BusBridge(outside, "paper")
    bridge.attach(inside, ["1m"])
    dlq = outside.subscribe([outside.dlq_topic], "d", "d", SubscribeOptions(start="earliest"))
    await outside.publish_raw(topics.OPS_COMMANDS, b"\xc1junk")
    await outside.publish(topics.OPS_COMMANDS, halt())

    commands = await bridge.commands()

    assert [c.event_id for c in commands] == ["c1"]
    assert len(await dlq.fetch(5, timeout=1)) == 1
