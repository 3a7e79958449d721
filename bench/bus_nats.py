"""NATS bus throughput, batched, against the raw nats-py client doing the same work in the same run.

Both sides move the same ~200-byte ``Tick`` events (built like ``bus_throughput.py``) through a
JetStream server: one producer task and one consumer task on one event loop and one connection.

- NatsBus: ``publish_many`` of 256 ``Outgoing`` (built and encoded in the timed loop), the
  consumer ``fetch(256)`` + ``ack`` each, checking every event arrives in order (decoded).
- raw nats-py: the same events encoded in the timed loop and published with
  ``js.publish_async`` (with the same ``Nats-Msg-Id`` header, so the broker does the same dedup
  work), 256 at a time, awaiting the 256 acks together; the consumer ``pull_subscribe`` +
  ``fetch(256)`` + ``msg.ack()`` each, decoding and checking every event in order.
- raw nats-py without the header is printed too, to show what the dedup id costs the broker.

Each scenario gets a fresh event loop, stream and consumer; scenarios are interleaved per run.

Run: ``.venv/bin/python bench/bus_nats.py [--url nats://127.0.0.1:4222] [--messages 50k]
[--runs 3] [--partitions 1] [--profile]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import nats
from bus_throughput import make_ticks
from machine import Sample, Series, Stopwatch, describe_machine, parse_count, profile
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from tickmesh.bus.backends.nats import NatsBus
from tickmesh.bus.base import Outgoing, SubscribeOptions
from tickmesh.model.codec import decode, encode
from tickmesh.model.events import Tick

TOPIC = "bench.ticks"
KEY = "BTCUSDT"
GROUP = "bench"


@dataclass(frozen=True)
class Params:
    url: str
    events: list[Tick]
    batch: int
    partitions: int


Scenario = Callable[[Params], Coroutine[Any, Any, Sample]]


def out_of_order(n: int, got: str) -> AssertionError:
    return AssertionError(f"message {n} arrived out of order or was lost (got {got})")


# --- NatsBus ---------------------------------------------------------------------------------


async def bus_batched(p: Params) -> Sample:
    events, total, size = p.events, len(p.events), p.batch
    bus = NatsBus.from_url(f"{p.url}?partitions={p.partitions}", prefix=_unique("bench"))
    await bus.start()
    sub = bus.subscribe([TOPIC], GROUP, "consumer-1", SubscribeOptions(prefetch=size))
    await sub.fetch(1, timeout=0.01)  # joined: the consumers exist before the clock starts

    async def produce() -> None:
        for start in range(0, total, size):
            chunk = events[start : start + size]
            await bus.publish_many([Outgoing(TOPIC, event, KEY) for event in chunk])

    async def consume() -> None:
        n = 0
        while n < total:
            for delivery in await sub.fetch(size, timeout=1.0):
                event_id = delivery.event.event_id
                if event_id != events[n].event_id:
                    raise out_of_order(n, event_id)
                await delivery.ack()
                n += 1

    try:
        with Stopwatch() as sw:
            await asyncio.gather(produce(), consume())
    finally:
        await sub.close()
        await bus.purge()
        await bus.close()
    return Sample(sw.seconds, sw.gc_seconds)


# --- raw nats-py -----------------------------------------------------------------------------


async def raw_batched(p: Params, dedup_header: bool = True) -> Sample:
    events, total, size = p.events, len(p.events), p.batch
    nc = await nats.connect(p.url)
    js = nc.jetstream()
    name = _unique("bench-raw")
    subject = f"{name}.ticks"
    await js.add_stream(StreamConfig(name=name, subjects=[subject]))
    config = ConsumerConfig(durable_name="c", ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    psub = await js.pull_subscribe(subject, durable="c", stream=name, config=config)

    async def produce() -> None:
        for start in range(0, total, size):
            futures = []
            for event in events[start : start + size]:
                headers = {"Nats-Msg-Id": event.event_id} if dedup_header else None
                futures.append(await js.publish_async(subject, encode(event), headers=headers))
            await asyncio.gather(*futures)

    async def consume() -> None:
        n = 0
        while n < total:
            try:
                msgs = await psub.fetch(size, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                event_id = decode(msg.data).event_id
                if event_id != events[n].event_id:
                    raise out_of_order(n, event_id)
                await msg.ack()
                n += 1

    try:
        with Stopwatch() as sw:
            await asyncio.gather(produce(), consume())
    finally:
        await js.delete_stream(name)
        await nc.close()
    return Sample(sw.seconds, sw.gc_seconds)


async def raw_batched_no_header(p: Params) -> Sample:
    return await raw_batched(p, dedup_header=False)


def _unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


# --- driver ----------------------------------------------------------------------------------

RAW = "raw nats-py publish_async/fetch(256)+ack"
BUS = "NatsBus publish_many/fetch(256)+ack"
SCENARIOS: list[tuple[str, Scenario]] = [
    (RAW, raw_batched),
    (BUS, bus_batched),
    ("raw nats-py, no Nats-Msg-Id header", raw_batched_no_header),
]


def measure(p: Params, runs: int) -> dict[str, Series]:
    series = {label: Series(label) for label, _ in SCENARIOS}
    for _ in range(runs):
        for label, scenario in SCENARIOS:
            series[label].samples.append(asyncio.run(scenario(p)))
    return series


def print_table(series: dict[str, Series], total: int) -> None:
    print(f"{'side':<44} {'msgs/s':>10} {'median s':>9} {'gc s':>6}  runs s")
    for label, _ in SCENARIOS:
        s = series[label]
        runs = " ".join(f"{x.seconds:.3f}" for x in s.samples)
        gc_s = s.median_gc
        print(f"{label:<44} {total / s.median:>10,.0f} {s.median:>9.3f} {gc_s:>6.3f}  {runs}")
    ratio = series[BUS].median / series[RAW].median
    verdict = "MET" if ratio <= 1.5 else "NOT MET"
    print(f"\nNatsBus time / raw nats-py time (batched): {ratio:.2f}x  goal <= 1.5x: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_url = os.environ.get("TICKMESH_TEST_NATS_URL", "nats://127.0.0.1:4222")
    parser.add_argument("--url", default=default_url, help="a NATS server with JetStream")
    parser.add_argument("--messages", type=parse_count, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--partitions", type=int, default=1, help="NatsBus partitions")
    parser.add_argument("--profile", action="store_true", help="cProfile one NatsBus run")
    args = parser.parse_args()

    events = make_ticks(args.messages)
    p = Params(args.url, events, args.batch, args.partitions)
    print("tickmesh bench: NATS bus vs raw nats-py, one producer, one consumer, one connection")
    print(describe_machine())
    print(
        f"server={args.url}  messages={args.messages:,}  event=Tick "
        f"({len(encode(events[0]))} bytes msgpack)  batch={args.batch}  "
        f"partitions={args.partitions}  median of {args.runs} runs\n"
    )
    series = measure(p, args.runs)
    print_table(series, args.messages)
    if args.profile:
        print(profile(lambda: bus_batched(p), "one batched NatsBus run"))


if __name__ == "__main__":
    main()
