"""Memory bus throughput through one consumer group, against a bare ``asyncio.Queue`` doing the
same work in the same run.

Both sides move the same pre-built ~200-byte ``Tick`` objects from a producer task to a consumer
task on one event loop; the consumer checks each message is the expected one (order and no loss)
and acknowledges it (``await delivery.ack()`` on the bus, ``queue.task_done()`` on the queue).
The queue is bounded like the bus (``maxsize`` = bus ``retention``), so both apply backpressure.

Modes:
- per-message: ``await bus.publish`` one at a time, ``fetch(1)`` + ack;
  queue: ``await put`` / ``await get`` one at a time.
- batched: ``publish_many`` of 256 ``Outgoing`` (built in the timed loop, as a real publisher
  must), ``fetch(256)`` + ack each; queue: ``put_nowait`` each item of a 256 batch (awaiting only
  when full), consumer takes one ``await get`` then up to 255 ``get_nowait``: the same per-message
  bookkeeping with the same batch-granular task switches. A queue of 256-item lists is printed
  too, as the floor (one queue operation per batch).

Run: ``.venv/bin/python bench/bus_throughput.py [--messages 200k] [--runs 3] [--profile]``
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from machine import Sample, Series, Stopwatch, describe_machine, parse_count, profile

from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.bus.base import Outgoing, SubscribeOptions
from tickmesh.core.stamp import Stamper
from tickmesh.model.codec import encode
from tickmesh.model.enums import Side
from tickmesh.model.events import Tick

TOPIC = "bench.ticks"
KEY = "BTCUSDT"
GROUP = "bench"
START_NS = 1_704_067_200_000_000_000


@dataclass(frozen=True)
class Params:
    events: list[Tick]
    batch: int
    retention: int


Scenario = Callable[[Params], Coroutine[Any, Any, Sample]]


def make_ticks(n: int) -> list[Tick]:
    stamper = Stamper.deterministic("bench.feed")
    return [
        Tick(
            **stamper(START_NS + i * 1_000_000),
            symbol=KEY,
            price=100.0 + (i % 1000) * 0.01,
            size=0.5,
            aggressor=Side.BUY if i % 2 else Side.SELL,
            trade_id=str(i + 1),
            venue="synthetic",
        )
        for i in range(n)
    ]


def out_of_order(n: int) -> AssertionError:
    return AssertionError(f"message {n} arrived out of order or was lost")


# --- bare asyncio.Queue ----------------------------------------------------------------------


async def queue_per_message(p: Params) -> Sample:
    events, total = p.events, len(p.events)
    queue: asyncio.Queue[Tick] = asyncio.Queue(maxsize=p.retention)

    async def produce() -> None:
        for event in events:
            await queue.put(event)

    async def consume() -> None:
        for n in range(total):
            if await queue.get() is not events[n]:
                raise out_of_order(n)
            queue.task_done()

    with Stopwatch() as sw:
        await asyncio.gather(produce(), consume())
    return Sample(sw.seconds, sw.gc_seconds)


async def queue_batched_items(p: Params) -> Sample:
    events, total, size = p.events, len(p.events), p.batch
    queue: asyncio.Queue[Tick] = asyncio.Queue(maxsize=p.retention)

    async def produce() -> None:
        for start in range(0, total, size):
            for event in events[start : start + size]:
                if queue.full():
                    await queue.put(event)
                else:
                    queue.put_nowait(event)

    async def consume() -> None:
        n = 0
        while n < total:
            got = [await queue.get()]
            while len(got) < size and not queue.empty():
                got.append(queue.get_nowait())
            for event in got:
                if event is not events[n]:
                    raise out_of_order(n)
                queue.task_done()
                n += 1

    with Stopwatch() as sw:
        await asyncio.gather(produce(), consume())
    return Sample(sw.seconds, sw.gc_seconds)


async def queue_of_lists(p: Params) -> Sample:
    events, total, size = p.events, len(p.events), p.batch
    queue: asyncio.Queue[list[Tick]] = asyncio.Queue(maxsize=max(1, p.retention // size))

    async def produce() -> None:
        for start in range(0, total, size):
            await queue.put(events[start : start + size])

    async def consume() -> None:
        n = 0
        while n < total:
            for event in await queue.get():
                if event is not events[n]:
                    raise out_of_order(n)
                n += 1
            queue.task_done()

    with Stopwatch() as sw:
        await asyncio.gather(produce(), consume())
    return Sample(sw.seconds, sw.gc_seconds)


# --- memory bus ------------------------------------------------------------------------------


def timeline_note(bus: MemoryBus) -> str:
    """How many delivery records the group still keeps after everything was acked (diagnostic:
    reads a private field of the memory backend)."""
    group = bus._topics[TOPIC].groups[GROUP]
    return f"{len(group.timeline)} timeline entries kept after all acks"


async def bus_per_message(p: Params) -> Sample:
    events, total = p.events, len(p.events)
    bus = MemoryBus(partitions=1, retention=p.retention)
    sub = bus.subscribe([TOPIC], GROUP, "consumer-1", SubscribeOptions(prefetch=1))

    async def produce() -> None:
        for event in events:
            await bus.publish(TOPIC, event, KEY)

    async def consume() -> None:
        n = 0
        while n < total:
            for delivery in await sub.fetch(1, timeout=1.0):
                if delivery.event is not events[n]:
                    raise out_of_order(n)
                await delivery.ack()
                n += 1

    with Stopwatch() as sw:
        await asyncio.gather(produce(), consume())
    note = timeline_note(bus)
    await sub.close()
    await bus.close()
    return Sample(sw.seconds, sw.gc_seconds, note)


async def bus_batched(p: Params) -> Sample:
    events, total, size = p.events, len(p.events), p.batch
    bus = MemoryBus(partitions=1, retention=p.retention)
    sub = bus.subscribe([TOPIC], GROUP, "consumer-1", SubscribeOptions(prefetch=size))

    async def produce() -> None:
        for start in range(0, total, size):
            chunk = events[start : start + size]
            await bus.publish_many([Outgoing(TOPIC, event, KEY) for event in chunk])

    async def consume() -> None:
        n = 0
        while n < total:
            for delivery in await sub.fetch(size, timeout=1.0):
                if delivery.event is not events[n]:
                    raise out_of_order(n)
                await delivery.ack()
                n += 1

    with Stopwatch() as sw:
        await asyncio.gather(produce(), consume())
    note = timeline_note(bus)
    await sub.close()
    await bus.close()
    return Sample(sw.seconds, sw.gc_seconds, note)


# --- driver ----------------------------------------------------------------------------------

SCENARIOS: list[tuple[str, str, Scenario]] = [
    ("per-message", "asyncio.Queue put/get", queue_per_message),
    ("per-message", "MemoryBus publish/fetch(1)+ack", bus_per_message),
    ("batched", "asyncio.Queue items (put_nowait/get_nowait)", queue_batched_items),
    ("batched", "asyncio.Queue of lists (floor)", queue_of_lists),
    ("batched", "MemoryBus publish_many/fetch(256)+ack", bus_batched),
]


def measure(p: Params, runs: int) -> dict[str, Series]:
    """Every scenario ``runs`` times, interleaved so drift on a shared machine hits all alike;
    each run gets a fresh event loop."""
    series = {label: Series(label) for _, label, _ in SCENARIOS}
    for _ in range(runs):
        for _, label, scenario in SCENARIOS:
            series[label].samples.append(asyncio.run(scenario(p)))
    return series


def print_table(series: dict[str, Series], total: int) -> None:
    print(f"{'mode':<12} {'side':<46} {'msgs/s':>11} {'median s':>9} {'gc s':>6}  runs s")
    for mode, label, _ in SCENARIOS:
        s = series[label]
        runs = " ".join(f"{x.seconds:.3f}" for x in s.samples)
        rate = total / s.median
        print(f"{mode:<12} {label:<46} {rate:>11,.0f} {s.median:>9.3f} {s.median_gc:>6.3f}  {runs}")


def print_ratios(series: dict[str, Series]) -> None:
    def ratio(bus: str, queue: str) -> float:
        return series[bus].median / series[queue].median

    per = ratio("MemoryBus publish/fetch(1)+ack", "asyncio.Queue put/get")
    bus = "MemoryBus publish_many/fetch(256)+ack"
    batched = ratio(bus, "asyncio.Queue items (put_nowait/get_nowait)")
    floor = ratio(bus, "asyncio.Queue of lists (floor)")
    verdict = "MET" if batched <= 3.0 else "NOT MET"
    print()
    print(f"overhead ratio per-message (bus time / queue time): {per:.1f}x")
    print(f"overhead ratio batched     (bus time / queue items): {batched:.1f}x", end="  ")
    print(f"goal <= 3x: {verdict}")
    print(f"overhead ratio batched     (bus time / queue of lists floor): {floor:.1f}x")
    for label in ("MemoryBus publish/fetch(1)+ack", bus):
        gc_share = series[label].median_gc / series[label].median
        notes = {x.note for x in series[label].samples}
        print(f"{label}: GC {gc_share:.0%} of the time; {'; '.join(sorted(notes))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=parse_count, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--retention", type=int, default=4096, help="bus retention = queue size")
    parser.add_argument("--profile", action="store_true", help="cProfile one batched bus run")
    args = parser.parse_args()

    events = make_ticks(args.messages)
    p = Params(events, args.batch, args.retention)
    print("tickmesh bench: memory bus vs bare asyncio.Queue, one producer, one consumer group")
    print(describe_machine())
    print(
        f"messages={args.messages:,}  event=Tick ({len(encode(events[0]))} bytes msgpack)  "
        f"batch={args.batch}  retention=maxsize={args.retention}  median of {args.runs} runs\n"
    )
    series = measure(p, args.runs)
    print_table(series, args.messages)
    print_ratios(series)
    if args.profile:
        print(profile(lambda: bus_batched(p), "one batched MemoryBus run (GC time lands on "
              "whichever call was allocating when a collection started)", top=18))


if __name__ == "__main__":
    main()
