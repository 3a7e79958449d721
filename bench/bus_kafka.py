"""Kafka bus throughput through one consumer group, against bare aiokafka doing the same work in
the same run, on the same broker (by default librdkafka's mock cluster on loopback).

Both sides move the same ~200-byte ``Tick`` events, spread over 4 symbols that land in the 4
partitions of a fresh topic, from a producer task to a consumer task on one event loop; the
consumer checks every message is the expected next one of its symbol (order per key, no loss).

- KafkaBus, batched: ``publish_many`` of 256 ``Outgoing`` (built and encoded in the timed loop,
  as a real publisher must; the bus fills aiokafka record batches per partition);
  ``fetch(256)`` then ``ack`` of each delivery (the bus commits the acked prefix, with its
  delivery counts, when the next fetch returns).
- bare aiokafka, the same work (the baseline the goal is judged against): ``send`` of each of
  the same 256 payloads (pre-encoded, same key and partition) then one ``flush``;
  ``getmany(max_records=256)`` then one ``commit``.
- bare aiokafka with record batches (printed as the floor): ``create_batch`` / ``append`` /
  ``send_batch`` per partition instead of ``send``; the consumer side as above.
Same producer settings (idempotent, ``acks=all``) and consumer settings everywhere
(``fetch_max_wait_ms``: the mock answers a fetch on a caught-up partition only after that wait,
not when data comes).

Each run uses a fresh topic and group; the group join (about 3 s on the mock) and a warm-up
message are not timed. The mock keeps only about 5 MiB per partition: the default message
count stays under that even if the producer ran all the way ahead of the consumer.

Run: ``.venv/bin/python bench/bus_kafka.py [--messages 40k] [--runs 3] [--url kafka://h:p]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import uuid
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from machine import Sample, Series, Stopwatch, describe_machine, parse_count, profile

from tickmesh.bus.backends.kafka import KafkaBus
from tickmesh.bus.backends.kafka.bus import FETCH_MAX_WAIT_MS
from tickmesh.bus.base import Outgoing, SubscribeOptions, Subscription
from tickmesh.core.stamp import Stamper
from tickmesh.model.codec import encode
from tickmesh.model.enums import Side
from tickmesh.model.events import Heartbeat, Tick

PARTITIONS = 4
CANDIDATE_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "BNBUSDT")
START_NS = 1_704_067_200_000_000_000


def one_symbol_per_partition() -> list[str]:
    by_partition: dict[int, str] = {}
    for symbol in CANDIDATE_SYMBOLS:
        by_partition.setdefault(zlib.crc32(symbol.encode()) % PARTITIONS, symbol)
    if len(by_partition) < PARTITIONS:
        raise SystemExit("the candidate symbols do not cover every partition")
    return [by_partition[p] for p in range(PARTITIONS)]


SYMBOLS = one_symbol_per_partition()


@dataclass(frozen=True)
class Params:
    url: str
    events: list[Tick]
    payloads: list[bytes]
    batch: int

    def expected(self) -> dict[str, list[bytes]]:
        """Per symbol, its payloads in publish order."""
        per: dict[str, list[bytes]] = {s: [] for s in SYMBOLS}
        for event, payload in zip(self.events, self.payloads, strict=True):
            per[event.symbol].append(payload)
        return per


def make_ticks(n: int) -> list[Tick]:
    stamper = Stamper.deterministic("bench.feed")
    return [
        Tick(
            **stamper(START_NS + i * 1_000_000),
            symbol=SYMBOLS[i % PARTITIONS],
            price=100.0 + (i % 1000) * 0.01,
            size=0.5,
            aggressor=Side.BUY if i % 2 else Side.SELL,
            trade_id=str(i + 1),
            venue="synthetic",
        )
        for i in range(n)
    ]


class OrderCheck:
    """Each symbol's payloads must arrive in publish order, each exactly once."""

    def __init__(self, p: Params) -> None:
        self.expected = p.expected()
        self.next = dict.fromkeys(SYMBOLS, 0)
        self.total = 0

    def see(self, symbol: str, payload: bytes) -> None:
        n = self.next[symbol]
        if payload != self.expected[symbol][n]:
            raise AssertionError(f"message {n} of {symbol} arrived out of order or was lost")
        self.next[symbol] = n + 1
        self.total += 1


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


# --- KafkaBus ----------------------------------------------------------------------------------


async def bus_batched(p: Params) -> Sample:
    bus = KafkaBus.from_url(p.url, prefix=unique("bench"))
    await bus.start()
    topic = "bench.ticks"
    sub = bus.subscribe([topic], "bench", "consumer-1", SubscribeOptions(prefetch=p.batch))
    await warm_up_bus(bus, sub, topic)
    check, total, size = OrderCheck(p), len(p.events), p.batch

    async def produce() -> None:
        for start in range(0, total, size):
            chunk = p.events[start : start + size]
            await bus.publish_many([Outgoing(topic, event, event.symbol) for event in chunk])

    async def consume() -> None:
        while check.total < total:
            for delivery in await sub.fetch(size, timeout=1.0):
                check.see(delivery.key, delivery.payload)
                await delivery.ack()

    with Stopwatch() as sw:
        await asyncio.gather(produce(), consume())
    await sub.close()
    await bus.close()
    return Sample(sw.seconds, sw.gc_seconds)


async def warm_up_bus(bus: KafkaBus, sub: Subscription, topic: str) -> None:
    """Join the group and move one message end to end before the clock starts."""
    marker = Heartbeat(event_id="warm-up", ts_event=0, ts_init=0, service="bench")
    await bus.publish(topic, marker, key="warm-up")
    while not (got := await sub.fetch(1, timeout=1.0)):
        pass
    await got[0].ack()


# --- bare aiokafka -----------------------------------------------------------------------------


async def raw_batched(p: Params) -> Sample:
    return await raw_run(p, produce_with_send)


async def raw_record_batches(p: Params) -> Sample:
    return await raw_run(p, produce_with_record_batches)


Producing = Callable[[AIOKafkaProducer, str, Params], Coroutine[Any, Any, None]]


async def produce_with_send(producer: AIOKafkaProducer, topic: str, p: Params) -> None:
    total, size, plan = len(p.payloads), p.batch, routing(len(p.payloads))
    for start in range(0, total, size):
        for i in range(start, min(start + size, total)):
            key, partition = plan[i]
            await producer.send(topic, p.payloads[i], key=key, partition=partition)
        await producer.flush()


async def produce_with_record_batches(producer: AIOKafkaProducer, topic: str, p: Params) -> None:
    total, size, plan = len(p.payloads), p.batch, routing(len(p.payloads))
    for start in range(0, total, size):
        batches: dict[int, list[Any]] = {}
        for i in range(start, min(start + size, total)):
            key, partition = plan[i]
            builders = batches.setdefault(partition, [producer.create_batch()])
            value = p.payloads[i]
            if builders[-1].append(key=key, value=value, timestamp=None) is None:
                builders.append(producer.create_batch())
                builders[-1].append(key=key, value=value, timestamp=None)
        futures = [
            await producer.send_batch(builder, topic, partition=partition)
            for partition, builders in batches.items()
            for builder in builders
        ]
        await asyncio.gather(*futures)


def routing(total: int) -> list[tuple[bytes, int]]:
    keys = [(s.encode(), zlib.crc32(s.encode()) % PARTITIONS) for s in SYMBOLS]
    return [keys[i % PARTITIONS] for i in range(total)]


async def raw_run(p: Params, produce_with: Producing) -> Sample:
    servers = p.url.removeprefix("kafka://").split("?")[0].split(",")
    topic = unique("bench.raw")
    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=True, acks="all")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=unique("bench-raw"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,  # as the bus's consumers
    )
    await producer.start()
    await consumer.start()  # joins the group
    await warm_up_raw(producer, consumer, topic)
    check, total, size = OrderCheck(p), len(p.payloads), p.batch

    async def consume() -> None:
        while check.total < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=size)
            for records in batches.values():
                for record in records:
                    check.see(record.key.decode(), record.value)
            await consumer.commit()

    with Stopwatch() as sw:
        await asyncio.gather(produce_with(producer, topic, p), consume())
    await consumer.stop()
    await producer.stop()
    return Sample(sw.seconds, sw.gc_seconds)


async def warm_up_raw(producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, topic: str) -> None:
    await producer.send_and_wait(topic, b"warm-up", key=b"warm-up", partition=0)
    while not await consumer.getmany(timeout_ms=1000):
        pass
    await consumer.commit()


# --- driver ------------------------------------------------------------------------------------

Scenario = Callable[[Params], Coroutine[Any, Any, Sample]]

BASELINE = "bare aiokafka send+flush / getmany+commit"
FLOOR = "bare aiokafka record batches / getmany+commit"
BUS = "KafkaBus publish_many / fetch(256)+ack"
SCENARIOS: list[tuple[str, Scenario]] = [
    (BASELINE, raw_batched),
    (FLOOR, raw_record_batches),
    (BUS, bus_batched),
]


def measure(p: Params, runs: int) -> dict[str, Series]:
    """Every scenario ``runs`` times, interleaved so drift on a shared machine hits both alike;
    each run gets a fresh event loop, topic and group."""
    series = {label: Series(label) for label, _ in SCENARIOS}
    for _ in range(runs):
        for label, scenario in SCENARIOS:
            series[label].samples.append(asyncio.run(scenario(p)))
    return series


def print_results(series: dict[str, Series], total: int) -> None:
    print(f"{'side':<44} {'msgs/s':>11} {'median s':>9} {'gc s':>6}  runs s")
    for label, _ in SCENARIOS:
        s = series[label]
        runs = " ".join(f"{x.seconds:.3f}" for x in s.samples)
        gc_s = statistics.median(x.gc_seconds for x in s.samples)
        print(f"{label:<44} {total / s.median:>11,.0f} {s.median:>9.3f} {gc_s:>6.3f}  {runs}")
    ratio = series[BUS].median / series[BASELINE].median
    verdict = "MET" if ratio <= 1.5 else "NOT MET"
    print(f"\noverhead ratio batched (KafkaBus time / bare aiokafka time): {ratio:.2f}x", end="  ")
    print(f"goal <= 1.5x: {verdict}")
    floor = series[BUS].median / series[FLOOR].median
    print(f"overhead ratio batched (KafkaBus time / bare aiokafka record batches): {floor:.2f}x")


def mock_cluster_url() -> tuple[object, str]:
    """Start librdkafka's mock cluster (it lives as long as the returned producer)."""
    from confluent_kafka import Producer

    holder = Producer({"test.mock.num.brokers": 1, "log_level": 0})
    broker = next(iter(holder.list_topics(timeout=5).brokers.values()))
    return holder, f"kafka://{broker.host}:{broker.port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=parse_count, default=40_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--url", default="", help="a kafka:// URL; default: the mock cluster")
    parser.add_argument("--profile", action="store_true", help="cProfile one KafkaBus run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    holder, url = (None, args.url) if args.url else mock_cluster_url()
    events = make_ticks(args.messages)
    p = Params(url, events, [encode(e) for e in events], args.batch)
    print("tickmesh bench: Kafka bus vs bare aiokafka, one producer, one consumer group")
    print(describe_machine())
    print(
        f"broker={url}  messages={args.messages:,}  event=Tick ({len(p.payloads[0])} bytes "
        f"msgpack)  symbols={','.join(SYMBOLS)} (one per partition)  batch={args.batch}  "
        f"median of {args.runs} runs\n"
    )
    series = measure(p, args.runs)
    print_results(series, args.messages)
    if args.profile:
        title = "one KafkaBus run (includes the untimed join and warm-up)"
        print(profile(lambda: bus_batched(p), title))
    del holder


if __name__ == "__main__":
    main()
