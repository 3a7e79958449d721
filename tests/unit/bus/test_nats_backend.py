"""What the NATS backend adds to the bus contract: its URL, prefixes, purge, publish dedup, dead
letters from the broker's max-deliveries advisory, members in several processes, and surviving a
broker restart. Needs a NATS server with JetStream (``TICKMESH_TEST_NATS_URL``); the restart test
runs its own ``nats-server`` on a free port."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest

from tests import servers
from tickmesh.bus import Delivery, Outgoing, SubscribeOptions, Subscription, create_bus
from tickmesh.bus.backends.nats import NatsBus, NatsOptions
from tickmesh.core.errors import BusClosedError, ConfigError, RetryableError
from tickmesh.model import DeadLetter, Heartbeat
from tickmesh.model.codec import encode

pytestmark = pytest.mark.integration

FAST = SubscribeOptions(ack_wait_s=0.3, max_deliver=3)


def beat(n: int, key: str = "svc") -> Heartbeat:
    return Heartbeat(event_id=f"e{n:06d}", ts_event=n, ts_init=n, service=key)


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def nats_url() -> str:
    return servers.require("nats")


@pytest.fixture
def topic() -> str:
    return unique("test.nats")


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsBus]:
    backend = NatsBus.from_url(nats_url, prefix=unique("ut"))
    await backend.start()
    try:
        yield backend
    finally:
        await backend.purge()
        await backend.close()


async def drain_until_idle(sub: Subscription, idle: float = 0.5) -> list[Delivery]:
    got: list[Delivery] = []
    while batch := await sub.fetch(max_messages=64, timeout=idle):
        for d in batch:
            await d.ack()
        got.extend(batch)
    return got


async def stream_messages(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return info.state.messages
    finally:
        await nc.close()


# --- the URL ---------------------------------------------------------------------------------


def test_url_with_unknown_option_is_rejected_naming_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="partitons") as caught:
        NatsBus.from_url("nats://127.0.0.1:4222?partitons=4")

    assert "partitions" in str(caught.value)
    assert "max_msgs" in str(caught.value)


@pytest.mark.parametrize(
    "query",
    ["partitions=0", "partitions=four", "max_msgs=0", "max_age=soon", "storage=ssd", "retry=-1"],
)
def test_url_with_invalid_option_value_is_rejected_naming_the_option(query: str) -> None:
    name = query.split("=", maxsplit=1)[0]

    with pytest.raises(ValueError, match=f"option {name}="):
        NatsBus.from_url(f"nats://127.0.0.1:4222?{query}")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis://127.0.0.1:6379", "scheme"),
        ("nats://", "missing host"),
        ("nats://h:99999", "invalid port"),
        ("nats://h/x", "no path"),
    ],
)
def test_malformed_url_is_rejected(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        NatsOptions.from_url(url)


def test_url_options_and_servers_are_parsed() -> None:
    options = NatsOptions.from_url(
        "nats://u:pw@a:4222,b:4223?partitions=2&max_msgs=1000&max_age=3600&storage=memory"
    )

    assert options.servers == ("nats://u:pw@a:4222", "nats://u:pw@b:4223")
    assert (options.partitions, options.max_msgs, options.max_age_s) == (2, 1000, 3600.0)
    assert options.storage == "memory"


def test_factory_reports_a_bad_nats_url_as_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        create_bus("nats://127.0.0.1:4222?bogus=1")


def test_factory_builds_a_nats_bus_with_the_url_partitions() -> None:
    bus = create_bus("nats://127.0.0.1:4222?partitions=3", prefix="p1")

    assert isinstance(bus, NatsBus)
    assert bus.partitions == 3


@pytest.mark.parametrize("prefix", ["a.b", "a b", "x" * 65])
def test_prefix_nats_cannot_namespace_is_rejected(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        NatsBus.from_url("nats://127.0.0.1:4222", prefix=prefix)


@pytest.mark.parametrize("bad_topic", ["", "a..b", "a.*", "a b", "a.>"])
async def test_topic_nats_cannot_carry_is_rejected(bad_topic: str) -> None:
    bus = NatsBus.from_url("nats://127.0.0.1:4222", prefix="t")

    with pytest.raises(ValueError, match="topic"):
        bus.subscribe([bad_topic], "g", "c")
    with pytest.raises(ValueError, match="topic"):
        await bus.publish(bad_topic, beat(1))


# --- prefixes and purge ----------------------------------------------------------------------


async def test_buses_with_different_prefixes_never_see_each_other(
    nats_url: str, bus: NatsBus, topic: str
) -> None:
    other = NatsBus.from_url(nats_url, prefix=unique("ut"))
    await other.start()
    try:
        theirs = other.subscribe([topic], "g", "c")
        ours = bus.subscribe([topic], "g", "c")
        await bus.publish(topic, beat(1), key="k")

        seen_by_other = await theirs.fetch(10, timeout=0.5)
        seen_by_us = await drain_until_idle(ours)

        assert seen_by_other == []
        assert await other.lag("g", topic) == 0
        assert [d.event.ts_event for d in seen_by_us] == [1]
    finally:
        await other.purge()
        await other.close()


async def test_purge_deletes_every_stream_and_bucket_of_its_prefix_and_nothing_else(
    nats_url: str, topic: str
) -> None:
    doomed = NatsBus.from_url(nats_url, prefix=unique("ut"))
    kept = NatsBus.from_url(nats_url, prefix=unique("ut"))
    await doomed.start()
    await kept.start()
    try:
        sub = doomed.subscribe([topic, f"{topic}.b"], "g", "c")
        await doomed.publish(topic, beat(1), key="k")
        await doomed.publish(f"{topic}.b", beat(2), key="k")
        await sub.fetch(1, timeout=1)
        await kept.publish(topic, beat(3), key="k")

        await doomed.purge()

        streams = await _stream_subjects(nats_url)
        root = doomed.names.root
        assert not [n for n, subjects in streams.items() if _under(subjects, root)]
        assert f"KV_{doomed.names.members_bucket}" not in streams
        assert [n for n, subjects in streams.items() if _under(subjects, kept.names.root)]
    finally:
        await kept.purge()
        await doomed.close()
        await kept.close()


async def _stream_subjects(url: str) -> dict[str, list[str]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        found: dict[str, list[str]] = {}
        offset, total = 0, 1
        while offset < total:
            page = await js.streams_info_iterator(offset)
            infos = list(page)
            found.update({i.config.name or "": i.config.subjects or [] for i in infos})
            offset, total = offset + len(infos), page.total  # type: ignore[attr-defined]
            if not infos:
                break
        return found
    finally:
        await nc.close()


def _under(subjects: list[str], root: str) -> bool:
    return any(s.startswith(f"{root}.") for s in subjects)


# --- publishing ------------------------------------------------------------------------------


async def test_publishing_the_same_event_twice_stores_it_once(
    nats_url: str, bus: NatsBus, topic: str
) -> None:
    event = beat(1)
    await bus.publish(topic, event, key="k")
    await bus.publish(topic, event, key="k")
    await bus.publish_many([Outgoing(topic, event, "k"), Outgoing(topic, event, "k")])
    await bus.publish_raw(topic, b"raw bytes", key="k")
    await bus.publish_raw(topic, b"raw bytes", key="k")

    stored = await stream_messages(nats_url, bus.names.stream(topic))

    assert stored == 2
    assert await bus.lag("nobody", topic) == 0


async def test_headers_travel_with_the_message_and_the_bus_headers_stay_hidden(
    bus: NatsBus, topic: str
) -> None:
    sub = bus.subscribe([topic], "g", "c")
    await bus.publish(topic, beat(1), key="BTC-USD:1m", headers={"trace-id": "abc 123"})

    got = await drain_until_idle(sub)

    assert [(d.key, d.headers, d.attempt) for d in got] == [
        ("BTC-USD:1m", {"trace-id": "abc 123"}, 1)
    ]


@pytest.mark.parametrize(
    ("key", "headers", "reason"),
    [
        ("k\n2", None, "line break"),
        (" k", None, "whitespace"),
        ("k", {"bad name": "v"}, "header name"),
        ("k", {"h": "a\r\n"}, "line break"),
    ],
)
async def test_key_or_header_a_nats_header_cannot_carry_is_rejected(
    key: str, headers: dict[str, str] | None, reason: str
) -> None:
    bus = NatsBus.from_url("nats://127.0.0.1:4222", prefix="t")

    with pytest.raises(ValueError, match=reason):
        await bus.publish("t.x", beat(1), key=key, headers=headers)


async def test_batch_larger_than_the_in_flight_window_arrives_complete_and_in_order(
    bus: NatsBus, topic: str
) -> None:
    sub = bus.subscribe([topic], "g", "c")
    await bus.publish_many([Outgoing(topic, beat(n), "k") for n in range(2500)])

    got = await drain_until_idle(sub)

    assert [d.event.ts_event for d in got] == list(range(2500))


# --- consuming -------------------------------------------------------------------------------


async def test_one_subscription_over_two_topics_receives_from_both(
    bus: NatsBus, topic: str
) -> None:
    other_topic = f"{topic}.other"
    sub = bus.subscribe([topic, other_topic], "g", "c")
    await bus.publish(topic, beat(1), key="a")
    await bus.publish(other_topic, beat(2), key="b")

    got = await drain_until_idle(sub)

    assert sorted((d.topic, d.event.ts_event) for d in got) == [(topic, 1), (other_topic, 2)]


async def test_members_in_two_processes_split_partitions_without_sharing_a_key(
    nats_url: str, bus: NatsBus, topic: str
) -> None:
    options = SubscribeOptions(ack_wait_s=1.0)
    other = NatsBus.from_url(nats_url, prefix=bus.prefix)
    await other.start()
    try:
        a = bus.subscribe([topic], "g", "a", options)
        b = other.subscribe([topic], "g", "b", options)
        await asyncio.gather(a.fetch(1, timeout=0.8), b.fetch(1, timeout=0.8))  # both synced
        await bus.publish_many([Outgoing(topic, beat(n), f"k{n % 16}") for n in range(200)])

        got_a, got_b = await asyncio.gather(drain_until_idle(a), drain_until_idle(b))

        assert sorted(d.event.ts_event for d in got_a + got_b) == list(range(200))
        assert got_a
        assert got_b
        assert not {d.key for d in got_a} & {d.key for d in got_b}
    finally:
        await other.close()


async def test_fetch_after_the_bus_closed_raises_bus_closed(nats_url: str, topic: str) -> None:
    bus = NatsBus.from_url(nats_url, prefix=unique("ut"))
    await bus.start()
    sub = bus.subscribe([topic], "g", "c")
    await sub.fetch(1, timeout=0.1)
    await bus.purge()
    await bus.close()

    with pytest.raises(BusClosedError):
        await sub.fetch(1, timeout=0.1)
    with pytest.raises(BusClosedError):
        await bus.publish(topic, beat(1))


# --- dead letters from the advisory ----------------------------------------------------------


async def test_consumer_dead_on_its_last_attempt_is_dead_lettered_from_the_advisory(
    nats_url: str, bus: NatsBus, topic: str
) -> None:
    options = SubscribeOptions(ack_wait_s=0.3, max_deliver=2)
    survivor_bus = NatsBus.from_url(nats_url, prefix=bus.prefix)
    await survivor_bus.start()
    try:
        dlq = survivor_bus.subscribe(
            [bus.dlq_topic], "watch", "w", SubscribeOptions(start="latest")
        )
        await dlq.fetch(1, timeout=0.05)
        dying = bus.subscribe([topic], "g", "dying", options)
        await bus.publish(topic, beat(1), key="k")
        await (await dying.fetch(1, timeout=2))[0].nack("transient")
        last = (await dying.fetch(1, timeout=2))[0]  # attempt 2 of 2, never settled: it "dies"
        survivor = survivor_bus.subscribe([topic], "g", "survivor", options)

        letters = await _collect_letters(dlq, survivor, settle_s=0.5)

        assert last.attempt == 2
        assert [(x.topic, x.group, x.key, x.attempts) for x in letters] == [(topic, "g", "k", 2)]
        assert letters[0].error == "max deliveries reached"
        assert letters[0].payload == encode(beat(1))
        assert await survivor_bus.lag("g", topic) == 0
    finally:
        await survivor_bus.close()


async def _collect_letters(
    dlq: Subscription, survivor: Subscription, settle_s: float, timeout: float = 8.0
) -> list[DeadLetter]:
    """Keep the survivor pulling (the broker gives up on a message when it would redeliver it)
    until a letter arrives, then a little longer to catch duplicates."""
    letters: list[DeadLetter] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and not letters:
        await survivor.fetch(10, timeout=0.1)
        letters.extend(await _letters(dlq, 0.1))
    letters.extend(await _letters(dlq, settle_s))
    return letters


async def _letters(dlq: Subscription, timeout: float) -> list[DeadLetter]:
    found = []
    for d in await dlq.fetch(10, timeout=timeout):
        await d.ack()
        assert isinstance(d.event, DeadLetter)
        found.append(d.event)
    return found


# --- broker restart --------------------------------------------------------------------------


class NatsServer:
    """A nats-server of our own with JetStream on a free port, its store in ``store``."""

    def __init__(self, store: Path) -> None:
        binary = shutil.which("nats-server") or shutil.which("/usr/sbin/nats-server")
        if binary is None:
            servers.unavailable("nats-server is not installed")
        self.binary = str(binary)
        self.store = store
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not start on port {self.port}")

    def stop(self, hard: bool = False) -> None:
        """Shut down gracefully, or ``hard``: SIGKILL, no chance to flush anything."""
        if self.process is not None and self.process.poll() is None:
            if hard:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
async def test_broker_restart_mid_stream_loses_no_acknowledged_message(
    own_server: NatsServer, topic: str, hard: bool
) -> None:
    bus = NatsBus.from_url(f"{own_server.url}?timeout=1&retry=30", prefix=unique("ut"))
    await bus.start()
    sub = bus.subscribe([topic], "g", "c", SubscribeOptions(ack_wait_s=1.0))
    total, published, consumed = 240, [], []
    a_third_published = asyncio.Event()

    async def produce() -> None:
        for n in range(total):
            await bus.publish(topic, beat(n, key=f"k{n % 4}"), key=f"k{n % 4}")
            published.append(n)  # acknowledged by the broker
            if len(published) == total // 3:
                a_third_published.set()
            await asyncio.sleep(0.004)

    async def consume() -> None:
        while len({n for _, n in consumed}) < total:
            for d in await sub.fetch(32, timeout=0.2):
                consumed.append((d.key, d.event.ts_event))
                await d.ack()

    producer = asyncio.create_task(produce())
    consumer = asyncio.create_task(consume())
    await a_third_published.wait()
    own_server.stop(hard)
    await asyncio.sleep(0.5)
    own_server.start()
    await asyncio.wait_for(asyncio.gather(producer, consumer), timeout=60)

    assert published == list(range(total))
    assert {n for _, n in consumed} == set(range(total))
    for key in {k for k, _ in consumed}:
        firsts = list(dict.fromkeys(n for k, n in consumed if k == key))
        assert firsts == sorted(firsts)
    await bus.purge()
    await bus.close()


async def test_start_against_an_unreachable_server_gives_up_with_a_retryable_error() -> None:
    bus = NatsBus.from_url(f"nats://127.0.0.1:{_free_port()}?retry=0.5&timeout=0.5")

    with pytest.raises(RetryableError, match="cannot connect"):
        await bus.start()
    await bus.close()


async def test_lag_of_a_group_nobody_created_is_zero(bus: NatsBus, topic: str) -> None:
    await bus.publish(topic, beat(1), key="k")

    lag = await bus.lag("never-subscribed", topic)

    assert lag == 0


def test_names_keep_topics_that_differ_only_in_unsafe_characters_apart() -> None:
    names = NatsBus.from_url("nats://127.0.0.1:4222", prefix="p").names

    assert names.stream("a.b") != names.stream("a_b")
    assert names.consumer("g.1", 0) != names.consumer("g_1", 0)
    assert names.subjects("market.bars.1m")[3] == "tm-p.market.bars.1m.3"
