"""What the Redis bus does beyond the shared contract: its URL, key namespacing, purge,
retention, restarts of consumers and of the Redis server itself."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests import servers
from tickmesh.bus import Outgoing, SubscribeOptions, create_bus
from tickmesh.bus.backends.redis import RedisBus
from tickmesh.core.errors import ConfigError
from tickmesh.model import DeadLetter, Heartbeat

pytestmark = pytest.mark.integration

BusMaker = Callable[..., Awaitable[RedisBus]]


def beat(n: int) -> Heartbeat:
    return Heartbeat(event_id=f"e{n:06d}", ts_event=n, ts_init=n, service="svc")


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}"


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}" if query else url


@pytest.fixture
def redis_url() -> str:
    return servers.require("redis")


@pytest.fixture
async def make_bus(redis_url: str) -> AsyncIterator[BusMaker]:
    """Buses on the test server; every prefix used is purged afterwards."""
    made: list[RedisBus] = []

    async def make(prefix: str | None = None, query: str = "") -> RedisBus:
        bus = RedisBus.from_url(with_query(redis_url, query), prefix=prefix or unique("ut"))
        made.append(bus)
        await bus.start()
        return bus

    yield make
    for prefix in {bus.keys.prefix for bus in made}:
        cleaner = RedisBus.from_url(redis_url, prefix=prefix)
        await cleaner.purge()
        await cleaner.close()
    for bus in made:
        await bus.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def keys_under(client: aioredis.Redis, prefix: str) -> list[bytes]:
    return [key async for key in client.scan_iter(match=f"tm:{prefix}:*", count=1000)]


# --- the URL -----------------------------------------------------------------------------------


def test_url_options_are_parsed() -> None:
    bus = RedisBus.from_url("redis://127.0.0.1:6379/15?partitions=8&maxlen=500", prefix="p")

    assert (bus.partitions, bus.options.maxlen, bus.options.min_age_s) == (8, 500, None)


def test_url_with_min_age_trims_by_age_only() -> None:
    bus = RedisBus.from_url("redis://127.0.0.1:6379/15?min_age_s=3600")

    assert (bus.options.maxlen, bus.options.min_age_s) == (0, 3600.0)


def test_url_with_unknown_option_is_refused_naming_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="partitons") as caught:
        RedisBus.from_url("redis://127.0.0.1:6379/15?partitons=4")

    assert "accepts maxlen, min_age_s, partitions" in str(caught.value)


def test_factory_reports_bad_redis_url_as_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        create_bus("redis://127.0.0.1:6379/15?retention=10")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis://h/0?partitions=0", "partitions must be >= 1"),
        ("redis://h/0?partitions=four", "partitions must be int"),
        ("redis://h/0?maxlen=-1", "maxlen must be >= 0"),
        ("redis://h/0?min_age_s=0", "min_age_s must be > 0"),
        ("redis://h/0?maxlen=10&min_age_s=60", "exclusive"),
        ("redis://h/cache", "database number"),
        ("http://h/0", "scheme"),
    ],
)
def test_url_with_bad_value_is_refused_with_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        RedisBus.from_url(url)


def test_prefix_with_separator_or_glob_is_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisBus.from_url("redis://h/0", prefix="a:b*")


async def test_processes_with_different_partition_counts_are_refused(make_bus: BusMaker) -> None:
    prefix = unique("parts")
    await make_bus(prefix, "partitions=2")

    with pytest.raises(ConfigError, match="partitions=2"):
        await make_bus(prefix, "partitions=3")


# --- layout and isolation ----------------------------------------------------------------------


async def test_key_selects_the_same_partition_stream_as_the_memory_bus(
    make_bus: BusMaker, raw: aioredis.Redis
) -> None:
    bus = await make_bus(query="partitions=3")
    keys = [f"sym{n}" for n in range(12)]

    await bus.publish_many([Outgoing("t.ticks", beat(n), key) for n, key in enumerate(keys)])

    for p in range(3):
        stream = bus.keys.stream("t.ticks", p).key
        expected = sum(1 for key in keys if zlib.crc32(key.encode()) % 3 == p)
        assert await raw.xlen(stream) == expected


async def test_headers_and_key_travel_with_the_message(make_bus: BusMaker) -> None:
    bus = await make_bus()
    sub = bus.subscribe(["t.h"], "g", "c")

    await bus.publish("t.h", beat(1), key="k1", headers={"trace": "abc", "hop": "2"})
    got = await sub.fetch(1, timeout=2)

    assert [(d.key, d.headers, d.event) for d in got] == [
        ("k1", {"trace": "abc", "hop": "2"}, beat(1))
    ]


async def test_buses_with_different_prefixes_do_not_see_each_other(make_bus: BusMaker) -> None:
    one, other = await make_bus(), await make_bus()
    sub_one = one.subscribe(["t.iso"], "g", "c")
    sub_other = other.subscribe(["t.iso"], "g", "c")

    await one.publish_many([Outgoing("t.iso", beat(n), "k") for n in range(3)])
    await other.publish("t.iso", beat(100), "k")
    got_one = await sub_one.fetch(10, timeout=0.5)
    got_other = await sub_other.fetch(10, timeout=0.5)

    assert [d.event.ts_event for d in got_one] == [0, 1, 2]
    assert [d.event.ts_event for d in got_other] == [100]


async def test_purge_deletes_every_key_of_its_prefix_only(
    make_bus: BusMaker, raw: aioredis.Redis
) -> None:
    bus, bystander = await make_bus(), await make_bus()
    sub = bus.subscribe(["t.a", "t.b"], "g", "c")
    dlq = bus.subscribe([bus.dlq_topic], "ops", "w")
    await bystander.publish("t.a", beat(0), "k")
    await bus.publish_many([Outgoing(t, beat(n), f"k{n}") for n, t in enumerate(["t.a", "t.b"])])
    first, second = await sub.fetch(2, timeout=2)
    await first.ack()
    await second.nack("poison", terminal=True)
    await dlq.fetch(1, timeout=2)
    assert await keys_under(raw, bus.keys.prefix)

    await bus.purge()

    assert await keys_under(raw, bus.keys.prefix) == []
    assert await keys_under(raw, bystander.keys.prefix)


# --- retention ---------------------------------------------------------------------------------


async def test_maxlen_trims_each_partition_stream(make_bus: BusMaker, raw: aioredis.Redis) -> None:
    bus = await make_bus(query="partitions=1&maxlen=100")

    for start in range(0, 2000, 250):
        await bus.publish_many([Outgoing("t.r", beat(n), "k") for n in range(start, start + 250)])

    length = await raw.xlen(bus.keys.stream("t.r", 0).key)
    assert 100 <= length <= 300  # approximate trimming removes whole nodes of 100 entries


async def test_min_age_trims_entries_older_than_the_age(
    make_bus: BusMaker, raw: aioredis.Redis
) -> None:
    bus = await make_bus(query="partitions=1&min_age_s=0.3")
    await bus.publish_many([Outgoing("t.age", beat(n), "k") for n in range(300)])
    await asyncio.sleep(0.4)

    await bus.publish("t.age", beat(300), "k")

    assert await raw.xlen(bus.keys.stream("t.age", 0).key) <= 101


async def test_lag_is_counted_when_redis_cannot_tell_it(
    make_bus: BusMaker, raw: aioredis.Redis
) -> None:
    bus = await make_bus(query="partitions=1")
    bus.subscribe(["t.lag"], "slow", "c")
    await bus.publish_many([Outgoing("t.lag", beat(n), "k") for n in range(50)])
    stream = bus.keys.stream("t.lag", 0).key
    middle = (await raw.xrange(stream, count=26))[-1][0]
    await raw.xdel(stream, middle)  # a hole: Redis reports the group's lag as unknown
    assert (await raw.xinfo_groups(stream))[0]["lag"] is None

    lag = await bus.lag("slow", "t.lag")

    assert lag == 49


async def test_acks_reach_redis_without_another_fetch(
    make_bus: BusMaker, raw: aioredis.Redis
) -> None:
    bus = await make_bus(query="partitions=1")
    sub = bus.subscribe(["t.ack"], "g", "c")
    await bus.publish_many([Outgoing("t.ack", beat(n), "k") for n in range(3)])
    for delivery in await sub.fetch(3, timeout=2):
        await delivery.ack()

    await asyncio.sleep(0.3)

    pending = await raw.xpending(bus.keys.stream("t.ack", 0).key, "g")
    assert pending["pending"] == 0


# --- consumer restarts -------------------------------------------------------------------------


async def test_restarted_consumer_rereads_its_own_pending_entries_first(
    make_bus: BusMaker,
) -> None:
    prefix = unique("reread")
    crashed = await make_bus(prefix, "partitions=1")
    sub = crashed.subscribe(["t.w"], "g", "worker")
    await crashed.publish_many([Outgoing("t.w", beat(n), "k") for n in range(5)])
    held = await sub.fetch(3, timeout=2)
    await crashed.close()  # no hand-back, as if the process died
    restarted = await make_bus(prefix, "partitions=1")
    sub = restarted.subscribe(["t.w"], "g", "worker")

    first = await sub.fetch(10, timeout=2)
    rest = await sub.fetch(10, timeout=2)

    assert [d.event.ts_event for d in held] == [0, 1, 2]
    assert [(d.event.ts_event, d.attempt) for d in first] == [(0, 2), (1, 2), (2, 2)]
    assert [(d.event.ts_event, d.attempt) for d in rest] == [(3, 1), (4, 1)]


async def test_message_whose_consumers_keep_dying_is_dead_lettered(make_bus: BusMaker) -> None:
    prefix, options = unique("dying"), SubscribeOptions(ack_wait_s=0.2, max_deliver=2)
    for worker in ("w1", "w2"):
        bus = await make_bus(prefix, "partitions=1")
        if worker == "w1":
            await bus.publish("t.d", beat(7), "k")
        got = await bus.subscribe(["t.d"], "g", worker, options).fetch(1, timeout=2)
        assert [d.attempt for d in got] == [1 if worker == "w1" else 2]
        await bus.close()  # dies holding the message
    last = await make_bus(prefix, "partitions=1")
    dlq = last.subscribe([last.dlq_topic], "ops", "w")
    sub = last.subscribe(["t.d"], "g", "w3", options)

    got = await sub.fetch(1, timeout=1.0)
    letters = await dlq.fetch(1, timeout=2)

    assert got == []
    letter = letters[0].event
    assert isinstance(letter, DeadLetter)
    assert (letter.topic, letter.group, letter.error, letter.attempts) == (
        "t.d",
        "g",
        "ack wait expired",
        2,
    )
    assert await last.lag("g", "t.d") == 0


# --- a Redis server restart --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private redis-server that fsyncs every write to its append-only file."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            servers.unavailable("redis-server binary not installed")
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


async def test_consumer_resumes_by_itself_after_redis_restart_and_nothing_is_lost(
    private_redis: RedisServer,
) -> None:
    total = 600
    bus = RedisBus.from_url(f"{private_redis.url}?partitions=2", prefix="restart")
    await bus.start()
    sub = bus.subscribe(["t.live"], "g", "c", SubscribeOptions(ack_wait_s=2.0))
    acked: set[str] = set()
    a_third_acked = asyncio.Event()

    async def produce() -> None:
        for start in range(0, total, 20):
            batch = [Outgoing("t.live", beat(n), f"k{n % 5}") for n in range(start, start + 20)]
            await bus.publish_many(batch)
            await asyncio.sleep(0.01)

    async def consume() -> None:
        while len(acked) < total:
            for delivery in await sub.fetch(50, timeout=0.2):
                acked.add(delivery.event.event_id)
                await delivery.ack()
            if len(acked) >= total // 3:
                a_third_acked.set()

    work = asyncio.gather(produce(), consume())
    await asyncio.wait_for(a_third_acked.wait(), timeout=30)
    private_redis.kill()
    await asyncio.sleep(0.5)
    private_redis.start()

    await asyncio.wait_for(work, timeout=60)

    assert acked == {beat(n).event_id for n in range(total)}
    assert await bus.lag("g", "t.live") == 0
    await sub.close()
    await bus.close()
