"""Redis bus throughput through one consumer group, against the bare redis-py client doing the
same work in the same run.

Both sides move the same ~200-byte ``Tick`` events through one Redis stream (``partitions=1``)
from a producer task to a consumer task on one event loop, batched:

- producer: encode each event (msgpack) and append batches of 256 in one pipelined round trip;
  the bus through ``publish_many`` of ``Outgoing`` built in the timed loop, the raw client with a
  pipeline of ``XADD MAXLEN ~`` carrying the same fields (payload and key);
- consumer: take up to 256 entries, decode each event, check it is the next one expected (order,
  no loss) and acknowledge it; the bus through ``fetch(256)`` + ``ack()`` each, the raw client with
  ``XREADGROUP COUNT 256 BLOCK`` and one ``XACK`` of the batch's ids.

Every run uses fresh keys (deleted afterwards) and a fresh event loop; the scenarios are
interleaved so drift on a shared machine hits both alike. Needs a Redis server (default: the
test server, ``redis://127.0.0.1:6379/15``).

Run: ``.venv/bin/python bench/bus_redis.py [--messages 50k] [--runs 3] [--url URL] [--profile]``
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from bus_throughput import make_ticks, out_of_order
from machine import Sample, Series, Stopwatch, describe_machine, memory_line, parse_count, profile

from tickmesh.bus.backends.redis import RedisBus
from tickmesh.bus.base import Outgoing, SubscribeOptions
from tickmesh.model.codec import decode, encode
from tickmesh.model.events import Tick

TOPIC = "bench.ticks"
KEY = "BTCUSDT"
GROUP = "bench"
CONSUMER = "consumer-1"
MAXLEN = 1_000_000
BUS = "RedisBus publish_many/fetch(256)+ack"
RAW = "redis-py pipelined XADD / XREADGROUP+XACK"


@dataclass(frozen=True)
class Params:
    url: str
    events: list[Tick]
    batch: int


Scenario = Callable[[Params], Coroutine[Any, Any, Sample]]


def check(event_id: str, events: list[Tick], n: int) -> None:
    if event_id != events[n].event_id:
        raise out_of_order(n)


# --- raw redis-py ------------------------------------------------------------------------------


async def raw_batched(p: Params) -> Sample:
    events, total, size = p.events, len(p.events), p.batch
    client = aioredis.from_url(p.url)
    stream = f"bench-raw-{uuid.uuid4().hex[:10]}"
    await client.xgroup_create(stream, GROUP, "0", mkstream=True)

    async def produce() -> None:
        for start in range(0, total, size):
            pipe = client.pipeline(transaction=False)
            for event in events[start : start + size]:
                fields = {b"p": encode(event), b"k": KEY}
                pipe.xadd(stream, fields, maxlen=MAXLEN, approximate=True)
            await pipe.execute()

    async def consume() -> None:
        n = 0
        while n < total:
            reply = await client.xreadgroup(GROUP, CONSUMER, {stream: ">"}, size, 1000)
            ids = []
            for _, entries in reply or ():
                for entry_id, fields in entries:
                    check(decode(fields[b"p"]).event_id, events, n)
                    ids.append(entry_id)
                    n += 1
            if ids:
                await client.xack(stream, GROUP, *ids)

    try:
        with Stopwatch() as sw:
            await asyncio.gather(produce(), consume())
    finally:
        await client.delete(stream)
        await client.aclose()
    return Sample(sw.seconds, sw.gc_seconds)


# --- tickmesh RedisBus -------------------------------------------------------------------------


async def bus_batched(p: Params) -> Sample:
    events, total, size = p.events, len(p.events), p.batch
    separator = "&" if "?" in p.url else "?"
    url = f"{p.url}{separator}partitions=1&maxlen={MAXLEN}"
    bus = RedisBus.from_url(url, prefix=f"bench-{uuid.uuid4().hex[:10]}")
    await bus.start()
    sub = bus.subscribe([TOPIC], GROUP, CONSUMER, SubscribeOptions(prefetch=size))

    async def produce() -> None:
        for start in range(0, total, size):
            chunk = events[start : start + size]
            await bus.publish_many([Outgoing(TOPIC, event, KEY) for event in chunk])

    async def consume() -> None:
        n = 0
        while n < total:
            for delivery in await sub.fetch(size, timeout=1.0):
                check(delivery.event.event_id, events, n)
                await delivery.ack()
                n += 1

    try:
        with Stopwatch() as sw:
            await asyncio.gather(produce(), consume())
        await sub.close()
    finally:
        await bus.purge()
        await bus.close()
    return Sample(sw.seconds, sw.gc_seconds)


# --- driver ------------------------------------------------------------------------------------

SCENARIOS: list[tuple[str, Scenario]] = [(RAW, raw_batched), (BUS, bus_batched)]


def measure(p: Params, runs: int) -> dict[str, Series]:
    series = {label: Series(label) for label, _ in SCENARIOS}
    for _ in range(runs):
        for label, scenario in SCENARIOS:
            series[label].samples.append(asyncio.run(scenario(p)))
    return series


def print_table(series: dict[str, Series], total: int) -> None:
    print(f"{'side':<44} {'msgs/s':>11} {'median s':>9} {'gc s':>6}  runs s")
    for label, _ in SCENARIOS:
        s = series[label]
        runs = " ".join(f"{x.seconds:.3f}" for x in s.samples)
        rate = total / s.median
        print(f"{label:<44} {rate:>11,.0f} {s.median:>9.3f} {s.median_gc:>6.3f}  {runs}")
    ratio = series[BUS].median / series[RAW].median
    verdict = "MET" if ratio <= 1.5 else "NOT MET"
    print(
        f"\noverhead ratio batched (bus time / raw redis-py time): {ratio:.2f}x  goal <= 1.5x: "
        f"{verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=parse_count, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--profile", action="store_true", help="cProfile one bus run")
    args = parser.parse_args()

    events = make_ticks(args.messages)
    p = Params(args.url, events, args.batch)
    print("tickmesh bench: Redis bus vs bare redis-py, one producer, one consumer group")
    print(describe_machine())
    print(
        f"messages={args.messages:,}  event=Tick ({len(encode(events[0]))} bytes msgpack)  "
        f"batch={args.batch}  partitions=1  url={args.url}  median of {args.runs} runs\n"
    )
    series = measure(p, args.runs)
    print_table(series, args.messages)
    print(memory_line("after all runs"))
    if args.profile:
        print(profile(lambda: bus_batched(p), "one batched RedisBus run"))


if __name__ == "__main__":
    main()
