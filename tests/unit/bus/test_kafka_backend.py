"""What the Kafka bus does beyond the shared contract: its URL, name prefixes, key placement,
commits of out-of-order acks, and a partition changing process mid-batch.

Against the librdkafka mock cluster (``tests/servers.py``) a group join takes about 3 s and a
process joining after another left waits out the coordinator's rebalance delay (session timeout
minus 1 s); the slow tests here are slow for that reason only.
"""

from __future__ import annotations

import asyncio
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from tests import servers
from tickmesh.bus import Delivery, MemoryBus, Outgoing, SubscribeOptions, Subscription, create_bus
from tickmesh.bus.backends.kafka import KafkaBus
from tickmesh.bus.backends.kafka.options import parse_url
from tickmesh.bus.backends.kafka.partition import decode_marks, encode_marks
from tickmesh.core.errors import ConfigError
from tickmesh.model import DeadLetter, Heartbeat

pytestmark = pytest.mark.integration

BusMaker = Callable[..., Awaitable[KafkaBus]]


def beat(n: int) -> Heartbeat:
    return Heartbeat(event_id=f"e{n:06d}", ts_event=n, ts_init=n, service="svc")


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}"


def seq(delivery: Delivery) -> int:
    return delivery.event.ts_event


@pytest.fixture
def kafka_url() -> str:
    return servers.require("kafka")


@pytest.fixture
async def make_bus(kafka_url: str) -> AsyncIterator[BusMaker]:
    """Buses on the test cluster, purged and closed afterwards."""
    made: list[KafkaBus] = []

    async def make(prefix: str | None = None) -> KafkaBus:
        bus = KafkaBus.from_url(kafka_url, prefix=prefix or unique("ut"))
        made.append(bus)
        await bus.start()
        return bus

    yield make
    for bus in made:
        if not bus.closed:
            await bus.purge()
        await bus.close()


async def drain(sub: Subscription, want: int, timeout: float = 10.0) -> list[Delivery]:
    got: list[Delivery] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < want and loop.time() < deadline:
        batch = await sub.fetch(max_messages=want - len(got), timeout=0.2)
        for delivery in batch:
            await delivery.ack()
        got.extend(batch)
    return got


# --- the URL -----------------------------------------------------------------------------------


def test_url_with_several_brokers_and_options_is_parsed() -> None:
    options = parse_url("kafka://a:1,b?partitions=8&replication_factor=2&session_timeout_ms=9000")

    assert options.bootstrap_servers == ("a:1", "b:9092")
    assert (options.partitions, options.replication_factor) == (8, 2)
    assert (options.session_timeout_ms, options.heartbeat_interval_ms) == (9000, 3000)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "kafka://h:9092?bogus=1&partition=2",
            "unknown option(s) bogus, partition; kafka:// "
            "accepts partitions, replication_factor, session_timeout_ms",
        ),
        ("kafka://h:9092?partitions=0", "partitions must be >= 1"),
        ("kafka://h:9092?partitions=four", "option partitions must be an integer, got 'four'"),
        ("kafka://h:9092?replication_factor=0", "replication_factor must be >= 1"),
        ("kafka://h:9092?session_timeout_ms=10", "session_timeout_ms must be >= 1000"),
        ("kafka://", "no broker given"),
        ("kafka://user:secret@h:9092", "credentials"),
        ("kafka://h:port", "broker must be host:port, got 'h:port'"),
        ("kafka://h:9092,:9093", "broker must be host:port, got ':9093'"),
        ("kafka://h:9092/topic", "no path"),
        ("redis://h:6379", "scheme must be kafka"),
    ],
)
def test_bad_url_is_refused_with_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_url(url)


def test_bad_url_through_create_bus_is_a_config_error_naming_the_url() -> None:
    with pytest.raises(ConfigError, match=r"kafka://h:1\?nope=1.*unknown option\(s\) nope"):
        create_bus("kafka://h:1?nope=1")


# --- delivery counts kept in commit metadata ----------------------------------------------------


def test_delivery_marks_round_trip_relative_to_the_committed_offset() -> None:
    text = encode_marks(100, 105, {101: 3, 104: 2, 99: 7})

    assert text == "tm1;d=5;r=1:3,4:2"
    assert decode_marks(100, text) == (105, {101: 3, 104: 2})


@pytest.mark.parametrize("text", ["", "some other client's note", "tm1;d=x", "tm1;r=1:2"])
def test_foreign_or_broken_commit_metadata_means_no_marks(text: str) -> None:
    assert decode_marks(42, text) == (42, {})


# --- names and placement -----------------------------------------------------------------------


async def test_buses_with_different_prefixes_do_not_see_each_other(make_bus: BusMaker) -> None:
    first, second = await make_bus(), await make_bus()
    subs = [bus.subscribe(["shared.topic"], "shared-group", "c") for bus in (first, second)]
    await first.publish_many([Outgoing("shared.topic", beat(n), f"k{n}") for n in range(5)])
    await second.publish_many([Outgoing("shared.topic", beat(n), f"k{n}") for n in range(10, 13)])

    got = [sorted(seq(d) for d in await drain(sub, n)) for sub, n in zip(subs, (5, 3), strict=True)]
    more = [await sub.fetch(10, timeout=0.5) for sub in subs]

    assert got == [[0, 1, 2, 3, 4], [10, 11, 12]]
    assert more == [[], []]
    assert await first.lag("shared-group", "shared.topic") == 0


async def test_keys_land_in_the_same_partition_as_on_the_memory_bus(
    make_bus: BusMaker, kafka_url: str
) -> None:
    bus = await make_bus()
    memory = MemoryBus(partitions=4)
    keys = [f"SYM{n}" for n in range(24)]
    for n, key in enumerate(keys):
        await bus.publish("placement", beat(n), key=key)
        await memory.publish("placement", beat(n), key=key)

    on_kafka = await partition_of_each_key(kafka_url, bus.full_topic("placement"), len(keys))

    on_memory = {
        record.key: p
        for p, part in enumerate(memory._topics["placement"].partitions)
        for record in part.log
    }
    assert on_kafka == on_memory
    assert len(set(on_kafka.values())) == 4


async def partition_of_each_key(url: str, topic: str, count: int) -> dict[str, int]:
    """Read the topic with a bare aiokafka consumer: key -> partition."""
    reader = AIOKafkaConsumer(bootstrap_servers=url.removeprefix("kafka://"))
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(4)]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        found: dict[str, int] = {}
        while len(found) < count:
            for tp, records in (await reader.getmany(timeout_ms=2000)).items():
                found.update({r.key.decode(): tp.partition for r in records})
        return found
    finally:
        await reader.stop()


async def test_headers_and_key_travel_with_the_message(make_bus: BusMaker) -> None:
    bus = await make_bus()
    sub = bus.subscribe(["with.headers"], "g", "c")
    await bus.publish("with.headers", beat(1), key="BTC-USD", headers={"trace": "t-1", "n": "é"})

    (got,) = await drain(sub, 1)

    assert (got.key, got.headers, got.topic, got.attempt) == (
        "BTC-USD",
        {"trace": "t-1", "n": "é"},
        "with.headers",
        1,
    )


# --- commits -----------------------------------------------------------------------------------


async def test_acks_out_of_order_commit_only_the_contiguous_prefix(make_bus: BusMaker) -> None:
    bus = await make_bus()
    sub = bus.subscribe(["orders"], "g", "c")
    await bus.publish_many([Outgoing("orders", beat(n), "one-key") for n in range(10)])
    batch = await fetch_exactly(sub, 10)
    assert [seq(d) for d in batch] == list(range(10))

    for delivery in batch[2:]:
        await delivery.ack()
    lag_with_0_and_1_open = await bus.lag("g", "orders")
    await batch[0].ack()
    lag_with_1_open = await bus.lag("g", "orders")
    await batch[1].ack()

    assert (lag_with_0_and_1_open, lag_with_1_open, await bus.lag("g", "orders")) == (10, 9, 0)


async def fetch_exactly(sub: Subscription, count: int) -> list[Delivery]:
    got: list[Delivery] = []
    while len(got) < count:
        batch = await sub.fetch(count - len(got), timeout=5)
        assert batch, f"only {len(got)} of {count} messages arrived"
        got.extend(batch)
    return got


async def test_a_fetch_records_its_deliveries_in_kafka_before_returning(
    make_bus: BusMaker,
) -> None:
    bus = await make_bus()
    sub = bus.subscribe(["counted"], "g", "c")
    await bus.publish_many([Outgoing("counted", beat(n), "one-key") for n in range(3)])
    await fetch_exactly(sub, 3)

    tp = TopicPartition(bus.full_topic("counted"), zlib.crc32(b"one-key") % 4)
    committed = await bus.admin.committed(bus.full_group("g"), [tp])

    assert committed[tp] == (0, "tm1;d=3")  # nothing acked; 3 delivered once, on record


# --- hand-overs ----------------------------------------------------------------------------------


async def test_closed_consumer_hands_its_batch_to_a_sibling_in_order(make_bus: BusMaker) -> None:
    bus = await make_bus()
    first = bus.subscribe(["jobs"], "g", "first")
    second = bus.subscribe(["jobs"], "g", "second")
    # k5 is in partition 0: of the two live consumers, the first (in subscribe order) owns it
    await bus.publish_many([Outgoing("jobs", beat(n), "k5") for n in range(6)])
    held = await fetch_exactly(first, 6)
    await held[0].ack()

    await first.close()
    got = await drain(second, 5)

    assert [(seq(d), d.attempt) for d in got] == [(n, 2) for n in range(1, 6)]
    assert await bus.lag("g", "jobs") == 0


# --- a partition changes process mid-batch ------------------------------------------------------


@pytest.mark.timeout(60)
async def test_partitions_of_a_silent_process_go_to_the_next_one_with_attempt_counts(
    make_bus: BusMaker,
) -> None:
    """Process one takes a batch, settles part of it, retries some, then goes silent; process
    two gets exactly what was not committed, each with its delivery count going on, and a
    message already delivered max_deliver times goes to the DLQ instead."""
    options = SubscribeOptions(ack_wait_s=1.0, max_deliver=3)
    prefix = unique("handover")
    first = await make_bus(prefix)
    sub = first.subscribe(["work"], "workers", "first", options)
    keys = ["k0", "k1", "k4"]  # partitions 3, 1 and 2
    await first.publish_many([Outgoing("work", beat(n), keys[n % 3]) for n in range(12)])
    by_seq = {seq(d): d for d in await fetch_exactly(sub, 12)}
    for n in (0, 3, 6, 9, 4):  # all of key k0, and 4 of key k1 (whose first message is 1)
        await by_seq[n].ack()
    await nack_until(sub, by_seq[1], attempts=3)
    await nack_until(sub, by_seq[7], attempts=2)

    await asyncio.sleep(options.ack_wait_s + 2.5)  # silent: the process leaves the group
    second = await make_bus(prefix)
    dlq = second.subscribe([second.dlq_topic], "dlq-watch", "w")
    taken_over = await drain(second.subscribe(["work"], "workers", "second", options), 7, 15)
    (letter,) = [d.event for d in await drain(dlq, 1)]

    attempts = {seq(d): d.attempt for d in taken_over}
    assert attempts == {2: 2, 4: 2, 5: 2, 7: 3, 8: 2, 10: 2, 11: 2}  # 4: acked behind open 1
    assert isinstance(letter, DeadLetter)
    assert (letter.attempts, letter.error, letter.group) == (3, "ack wait expired", "workers")
    assert await second.lag("workers", "work") == 0


async def nack_until(sub: Subscription, delivery: Delivery, attempts: int) -> None:
    """Nack ``delivery`` until it has been delivered ``attempts`` times; the last one is held."""
    while delivery.attempt < attempts:
        await delivery.nack("retry me")
        (delivery,) = await sub.fetch(1, timeout=2)
