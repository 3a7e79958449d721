"""OpenTelemetry tracing through message headers: spans per handled message, W3C trace context
injected into what a handler publishes and extracted by the next service, on the memory bus and
over Redis; off means no headers and no ``opentelemetry`` import.

``drive``/``attach`` below do what the wired hosts do (``AsyncRunner._handle``,
``SyncHost.add``); the ``wired`` tests run the hosts themselves once they take ``tracing=``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests import servers
from tickmesh import topics
from tickmesh.bus import Bus, MemoryBus, Outgoing, create_bus
from tickmesh.core.errors import ConfigError
from tickmesh.model import Event, Heartbeat
from tickmesh.services.bridge import BusBridge
from tickmesh.services.runtime import AsyncRunner, Service, SyncHost
from tickmesh.services.tracing import Tracing, setup_tracing


@dataclass(frozen=True)
class Config:
    enabled: bool = True
    exporter: str = "none"
    service_name: str = "tickmesh-test"


def beat(n: int, correlation_id: str = "") -> Heartbeat:
    return Heartbeat(
        event_id=f"e{n}-{uuid.uuid4().hex[:6]}",
        ts_event=n,
        ts_init=n,
        service="src",
        correlation_id=correlation_id,
    )


class Relay(Service):
    """Republishes each event from ``source`` on ``target``, keeping its correlation id."""

    def __init__(self, name: str, source: str, target: str | None) -> None:
        super().__init__()
        self.name = name
        self.source = source
        self.target = target

    def inputs(self) -> list[str]:
        return [self.source]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        if self.target is None:
            return ()
        return [Outgoing(self.target, beat(event.ts_event, event.correlation_id), "k")]


class Failing(Relay):
    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        raise ValueError("boom")


@pytest.fixture
def exporter() -> Any:
    """The SDK's in-memory span exporter (skips the test when the otel extra is missing)."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: Any) -> Iterator[Tracing]:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    made = setup_tracing(Config(), environ={}, processor=SimpleSpanProcessor(exporter))
    assert made is not None
    yield made
    made.shutdown()


def spans_by_name(exporter: Any) -> dict[str, Any]:
    return {span.name: span for span in exporter.get_finished_spans()}


async def drive(bus: Bus, service: Service, tracing: Tracing | None, count: int) -> list[Any]:
    """What the wired ``AsyncRunner._handle`` does, for ``count`` deliveries; their headers."""
    sub = bus.subscribe(service.inputs(), service.name, f"{service.name}-1")
    seen: list[dict[str, str]] = []
    try:
        while len(seen) < count:
            for delivery in await sub.fetch(16, timeout=2):
                seen.append(dict(delivery.headers))
                event = delivery.event
                if tracing is None:
                    out = service.process(delivery.topic, event)
                else:
                    out = tracing.handle(service, delivery, event)
                if out:
                    await bus.publish_many(list(out))
                await delivery.ack()
    finally:
        await sub.close()
    return seen


def attach(bus: MemoryBus, service: Service, tracing: Tracing) -> None:
    """What the wired ``SyncHost.add`` does when tracing is on."""

    def traced(topic: str, event: Event) -> None:
        for message in tracing.handle_local(service, topic, event):
            bus.publish_nowait(message.topic, message.event, message.key)

    bus.attach(service.inputs(), service.name, traced)


def assert_chain(exporter: Any, first: str, second: str) -> None:
    spans = spans_by_name(exporter)
    parent, child = spans[first], spans[second]
    assert child.context.trace_id == parent.context.trace_id
    assert child.parent is not None
    assert child.parent.span_id == parent.context.span_id


# --- the memory bus ----------------------------------------------------------------------------


async def test_two_services_on_the_memory_bus_make_parent_and_child_spans(
    tracing: Tracing, exporter: Any
) -> None:
    bus = MemoryBus()
    bars, strategy = Relay("bars", "ticks", "bars.1m"), Relay("strategy", "bars.1m", None)
    await bus.publish("ticks", beat(1, "sig-1"), "k")

    await drive(bus, bars, tracing, 1)
    headers = await drive(bus, strategy, tracing, 1)

    assert_chain(exporter, "bars process ticks", "strategy process bars.1m")
    assert headers[0]["traceparent"].startswith("00-")
    span = spans_by_name(exporter)["strategy process bars.1m"]
    assert span.kind.name == "CONSUMER"
    assert span.attributes["messaging.system"] == "memory"
    assert span.attributes["messaging.destination.name"] == "bars.1m"
    assert span.attributes["tickmesh.event_type"] == "Heartbeat"
    assert span.attributes["tickmesh.correlation_id"] == "sig-1"


def test_sync_host_chain_keeps_one_trace_without_headers(tracing: Tracing, exporter: Any) -> None:
    bus = MemoryBus(partitions=1)
    attach(bus, Relay("bars", "ticks", "bars.1m"), tracing)
    attach(bus, Relay("strategy", "bars.1m", "signals"), tracing)
    attach(bus, Relay("risk", "signals", None), tracing)

    bus.publish_nowait("ticks", beat(1), "k")
    bus.run_until_idle()

    assert_chain(exporter, "bars process ticks", "strategy process bars.1m")
    assert_chain(exporter, "strategy process bars.1m", "risk process signals")


def test_a_fill_made_on_a_later_tick_joins_its_signal_trace(
    tracing: Tracing, exporter: Any
) -> None:
    bus = MemoryBus(partitions=1)
    orders: list[str] = []

    class Strategy(Relay):
        def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
            return [Outgoing("signals", beat(1, "sig-1"))] if event.ts_event == 1 else ()

    class Execution(Relay):
        """Accepts a signal at once; fills it on the next tick."""

        def inputs(self) -> list[str]:
            return ["ticks", "signals"]

        def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
            if topic == "signals":
                orders.append(event.correlation_id)
                return [Outgoing("orders", beat(0, event.correlation_id))]
            return [Outgoing("orders", beat(9, orders.pop()))] if orders else ()

    attach(bus, Strategy("strategy", "ticks", None), tracing)
    attach(bus, Execution("execution", "", None), tracing)
    attach(bus, Relay("portfolio", "orders", None), tracing)
    bus.publish_nowait("ticks", beat(1), "k")  # strategy signals, execution places the order
    bus.run_until_idle()
    placing = spans_by_name(exporter)["execution process signals"].context
    exporter.clear()

    bus.publish_nowait("ticks", beat(2), "k")  # a later tick: execution fills it
    bus.run_until_idle()

    spans = spans_by_name(exporter)
    filling, booking = spans["execution process ticks"], spans["portfolio process orders"]
    assert filling.context.trace_id != placing.trace_id
    assert booking.context.trace_id == placing.trace_id
    assert booking.parent.span_id == placing.span_id
    assert [link.context.span_id for link in filling.links] == [placing.span_id]


def test_an_unsampled_trace_makes_no_spans_but_keeps_its_trace_id(
    exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_off")
    made = setup_tracing(Config(), environ={}, processor=SimpleSpanProcessor(exporter))
    assert made is not None
    bus = MemoryBus(partitions=1)
    attach(bus, Relay("bars", "ticks", "bars.1m"), made)
    attach(bus, Relay("strategy", "bars.1m", "signals"), made)
    signals: list[Event] = []
    bus.attach(["bars.1m"], "watch-bars", lambda _topic, event: signals.append(event))
    bus.attach(["signals"], "watch-signals", lambda _topic, event: signals.append(event))

    bus.publish_nowait("ticks", beat(1), "k")
    bus.run_until_idle()
    made.shutdown()

    bar, signal = (made.headers_for(e)["traceparent"].split("-") for e in signals)
    assert exporter.get_finished_spans() == ()
    assert bar[1] == signal[1]
    assert bar[2] == signal[2]  # no span of its own under an unsampled parent
    assert int(bar[3], 16) & 1 == int(signal[3], 16) & 1 == 0  # the sampled flag is off


async def test_a_failing_handler_marks_its_span_as_an_error(
    tracing: Tracing, exporter: Any
) -> None:
    bus = MemoryBus()
    await bus.publish("ticks", beat(1), "k")

    with pytest.raises(ValueError, match="boom"):
        await drive(bus, Failing("bars", "ticks", None), tracing, 1)

    span = spans_by_name(exporter)["bars process ticks"]
    assert span.status.status_code.name == "ERROR"
    assert span.events[0].name == "exception"


def test_log_records_inside_a_span_carry_trace_and_span_ids(
    tracing: Tracing, exporter: Any
) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        tracing.correlate_logs()
        with tracing.consume("bars", "ticks", beat(1)):
            logging.getLogger("tickmesh.test").warning("inside")
        tracing.shutdown()
    finally:
        root.removeHandler(handler)

    span = spans_by_name(exporter)["bars process ticks"]
    assert records[0].trace_id == f"{span.context.trace_id:032x}"  # type: ignore[attr-defined]
    assert records[0].span_id == f"{span.context.span_id:016x}"  # type: ignore[attr-defined]


# --- a real bus --------------------------------------------------------------------------------


@pytest.fixture
async def redis_buses() -> AsyncIterator[tuple[Bus, Bus]]:
    """Two connections to one Redis (db 15), as two processes would have, on a fresh prefix."""
    url = servers.require("redis")
    prefix = f"tr-{uuid.uuid4().hex[:10]}"
    producer, consumer = create_bus(url, prefix=prefix), create_bus(url, prefix=prefix)
    await producer.start()
    await consumer.start()
    try:
        yield producer, consumer
    finally:
        try:
            await producer.purge()
        finally:
            await producer.close()
            await consumer.close()


@pytest.mark.integration
async def test_trace_context_survives_a_redis_round_trip(
    redis_buses: tuple[Bus, Bus], tracing: Tracing, exporter: Any
) -> None:
    producer, consumer = redis_buses
    await producer.publish("ticks", beat(1), "k")

    await drive(producer, Relay("bars", "ticks", "bars.1m"), tracing, 1)
    headers = await drive(consumer, Relay("strategy", "bars.1m", None), tracing, 1)

    assert_chain(exporter, "bars process ticks", "strategy process bars.1m")
    assert set(headers[0]) >= {"traceparent"}
    assert (
        spans_by_name(exporter)["strategy process bars.1m"].attributes["messaging.system"]
        == "redis"
    )


# --- off, missing, configuration ---------------------------------------------------------------

_OFF_SCRIPT = """
import asyncio, json, sys
from tickmesh.bus import MemoryBus
from tickmesh.model import Heartbeat
from tickmesh.services.runtime import AsyncRunner
from tickmesh.services.tracing import setup_tracing
from tests.unit.services.test_tracing import Relay, drive

async def main():
    bus = MemoryBus()
    await bus.publish("ticks", Heartbeat(event_id="e1", ts_event=1, ts_init=1, service="s"), "k")
    await drive(bus, Relay("bars", "ticks", "bars.1m"), None, 1)
    return await drive(bus, Relay("strategy", "bars.1m", None), None, 1)

tracing = setup_tracing(None, environ={"TICKMESH_OTEL": "0"})
headers = asyncio.run(main())
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
print(json.dumps({"tracing": repr(tracing), "headers": headers, "loaded": loaded}))
"""


def test_tracing_off_adds_no_headers_and_imports_no_opentelemetry() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _OFF_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"tracing": "None", "headers": [{}], "loaded": []}


def test_missing_opentelemetry_is_a_config_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m.startswith("opentelemetry")] + ["opentelemetry"]:
        monkeypatch.setitem(sys.modules, name, None)

    with pytest.raises(ConfigError, match=r"pip install 'tickmesh\[otel\]'"):
        setup_tracing(Config(), environ={})


@pytest.mark.parametrize(
    ("enabled", "switch", "on"),
    [(False, None, False), (True, None, True), (False, "1", True), (True, "0", False)],
)
def test_tickmesh_otel_when_set_wins_over_the_setting(
    exporter: Any, enabled: bool, switch: str | None, on: bool
) -> None:
    environ = {} if switch is None else {"TICKMESH_OTEL": switch}

    made = setup_tracing(Config(enabled=enabled), environ=environ)

    assert (made is not None) == on
    if made is not None:
        made.shutdown()


def test_an_unreadable_switch_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="TICKMESH_OTEL"):
        setup_tracing(None, environ={"TICKMESH_OTEL": "maybe"})


def test_otel_sdk_disabled_keeps_tracing_off(exporter: Any) -> None:
    assert setup_tracing(Config(), environ={"OTEL_SDK_DISABLED": "true"}) is None


def test_console_exporter_writes_spans_to_stderr(
    exporter: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    made = setup_tracing(Config(exporter="auto"), environ={"OTEL_TRACES_EXPORTER": "console"})
    assert made is not None
    with made.consume("bars", "ticks", beat(1)):
        pass
    made.shutdown()

    captured = capsys.readouterr()
    assert "bars process ticks" in captured.err
    assert captured.out == ""


def test_otlp_without_its_package_is_a_config_error_naming_it(exporter: Any) -> None:
    try:
        import opentelemetry.exporter.otlp  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("opentelemetry-exporter-otlp is installed")

    with pytest.raises(ConfigError, match="opentelemetry-exporter-otlp"):
        setup_tracing(Config(exporter="otlp"), environ={})


# --- the hosts, once wired (see the integration patch) -----------------------------------------

wired = pytest.mark.skipif(
    "tracing" not in inspect.signature(AsyncRunner).parameters,
    reason="runtime hosts do not take tracing= yet",
)


@wired
async def test_async_runners_chain_one_trace(tracing: Tracing, exporter: Any) -> None:
    bus = MemoryBus()
    runners = [
        AsyncRunner(bus, Relay("bars", "ticks", "bars.1m"), tracing=tracing),
        AsyncRunner(bus, Relay("strategy", "bars.1m", None), tracing=tracing),
    ]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    await bus.publish("ticks", beat(1), "k")
    for _ in range(200):
        if len(exporter.get_finished_spans()) == 2:
            break
        await asyncio.sleep(0.01)
    for runner in runners:
        runner.stop()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)

    assert_chain(exporter, "bars process ticks", "strategy process bars.1m")


@wired
def test_sync_host_with_tracing_chains_one_trace(tracing: Tracing, exporter: Any) -> None:
    host = SyncHost(MemoryBus(partitions=1), tracing=tracing)
    host.add(Relay("bars", "ticks", "bars.1m"))
    host.add(Relay("strategy", "bars.1m", None))

    host.publish(beat(1), "ticks")
    host.run_until_idle()

    assert_chain(exporter, "bars process ticks", "strategy process bars.1m")


@pytest.mark.skipif(
    "tracing" not in inspect.signature(BusBridge).parameters,
    reason="the bridge does not take tracing= yet",
)
async def test_bridge_sends_the_pipeline_context_to_the_shared_bus(
    tracing: Tracing, exporter: Any
) -> None:
    inside, outside = MemoryBus(partitions=1), MemoryBus()
    host = SyncHost(inside, tracing=tracing)
    host.add(Relay("bars", "ticks", topics.SYSTEM_HEARTBEATS))
    bridge = BusBridge(outside, "paper", tracing=tracing)
    bridge.attach(inside, ["1m"])
    watcher = outside.subscribe([topics.SYSTEM_HEARTBEATS], "w", "w")

    host.publish(beat(1), "ticks")
    host.run_until_idle()
    await bridge.flush()

    (delivery,) = await watcher.fetch(10, timeout=1)
    span = spans_by_name(exporter)["bars process ticks"]
    assert delivery.headers["traceparent"].split("-")[1:3] == [
        f"{span.context.trace_id:032x}",
        f"{span.context.span_id:016x}",
    ]
