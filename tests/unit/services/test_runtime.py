"""The service runtime: dedup, error policy, counters, and the async and sync hosts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from tickmesh import topics
from tickmesh.bus import MemoryBus, Outgoing, SubscribeOptions
from tickmesh.bus.backends.memory import log_digest
from tickmesh.model import DeadLetter, Event, Heartbeat
from tickmesh.services.runtime import AsyncRunner, Service, SyncHost


def beat(n: int) -> Heartbeat:
    return Heartbeat(event_id=f"e{n}", ts_event=n, ts_init=n, service="src")


class Echo(Service):
    """Republishes ``ts_event`` doubled; raises on the events it is told to."""

    name = "echo"

    def __init__(self, poison: set[int] | None = None) -> None:
        super().__init__()
        self.poison = poison or set()
        self.seen: list[int] = []

    def inputs(self) -> list[str]:
        return ["in"]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        if event.ts_event in self.poison:
            raise ValueError(f"cannot handle {event.ts_event}")
        self.seen.append(event.ts_event)
        return [Outgoing("out", beat(event.ts_event * 2), "k")]


def test_redelivered_event_is_handled_once() -> None:
    svc = Echo()

    first = svc.process("in", beat(1))
    again = svc.process("in", beat(1))

    assert len(first) == 1
    assert again == ()
    assert (svc.stats.events_in, svc.stats.duplicates, svc.seen) == (1, 1, [1])


def test_failed_attempt_does_not_make_the_retry_a_duplicate() -> None:
    svc = Echo(poison={1})
    with contextlib.suppress(ValueError):
        svc.process("in", beat(1))
    svc.poison.clear()

    out = svc.process("in", beat(1))

    assert len(out) == 1
    assert svc.stats.errors == 1


async def test_async_runner_dead_letters_poison_and_keeps_serving() -> None:
    bus = MemoryBus()
    svc = Echo(poison={2})
    runner = AsyncRunner(bus, svc, options=SubscribeOptions(max_deliver=2, ack_wait_s=1))
    dlq = bus.subscribe(["system.dlq"], "watch", "w", SubscribeOptions(start="latest"))
    task = asyncio.create_task(runner.run())
    await bus.publish_many([Outgoing("in", beat(n), f"k{n}") for n in range(1, 5)])

    for _ in range(100):
        if len(svc.seen) == 3:
            break
        await asyncio.sleep(0.02)
    letters = [d.event for d in await dlq.fetch(10, timeout=2)]
    runner.stop()
    await asyncio.wait_for(task, 5)

    assert sorted(svc.seen) == [1, 3, 4]
    dead = [x for x in letters if isinstance(x, DeadLetter)]
    assert [(d.attempts, d.group) for d in dead] == [(2, "echo")]
    assert "cannot handle 2" in dead[0].error
    assert sorted(e.ts_event for e in bus.retained("out")) == [2, 6, 8]
    assert await bus.lag("echo", "in") == 0


async def test_async_runner_dead_letters_undecodable_payload_at_once() -> None:
    bus = MemoryBus()
    svc = Echo()
    runner = AsyncRunner(bus, svc)
    task = asyncio.create_task(runner.run())
    await bus.publish_raw("in", b"\x93garbage", "k")
    await bus.publish("in", beat(5), "k")

    for _ in range(100):
        if svc.seen:
            break
        await asyncio.sleep(0.02)
    runner.stop()
    await asyncio.wait_for(task, 5)

    letters = [e for e in bus.retained("system.dlq") if isinstance(e, DeadLetter)]
    assert svc.seen == [5]
    assert svc.stats.dead_lettered == 1
    assert letters[0].payload == b"\x93garbage"


def test_sync_host_runs_a_chain_deterministically() -> None:
    def run_once() -> str:
        sink, digest = log_digest()
        bus = MemoryBus(log_sink=sink)
        host = SyncHost(bus)
        host.add(Echo())
        host.start()
        for n in range(50):
            host.publish(beat(n), "in")
            host.run_until_idle()
        return digest()

    assert run_once() == run_once()


def test_sync_host_counts_dead_letters_and_keeps_going() -> None:
    bus = MemoryBus()
    host = SyncHost(bus, max_deliver=2)
    svc = Echo(poison={3})
    host.add(svc)
    for n in range(1, 6):
        host.publish(beat(n), "in")
    host.run_until_idle()

    assert svc.seen == [1, 2, 4, 5]
    assert svc.stats.dead_lettered == 1
    assert svc.heartbeat(10).counters["errors"] == 2


class Stateful(Echo):
    name = "stateful"

    def status(self) -> dict[str, object]:
        return {"state": "HALTED", "late_dropped": 4, "flag": True, "note": "text"}


def test_heartbeat_carries_numeric_status_as_counters_and_state_as_status() -> None:
    svc = Stateful()

    hb = svc.heartbeat(10)

    assert hb.status == "HALTED"
    assert hb.counters["late_dropped"] == 4.0
    assert "flag" not in hb.counters
    assert "note" not in hb.counters
    assert hb.counters["events_in"] == 0


def test_sync_host_publishes_one_heartbeat_per_service() -> None:
    bus = MemoryBus()
    host = SyncHost(bus)
    host.add(Echo())
    host.add(Stateful())

    host.heartbeats(1_000)

    beats = bus.retained(topics.SYSTEM_HEARTBEATS)
    assert sorted((b.service, b.status) for b in beats if isinstance(b, Heartbeat)) == [
        ("echo", "running"),
        ("stateful", "HALTED"),
    ]
