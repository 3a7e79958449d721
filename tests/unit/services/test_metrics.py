"""Prometheus metrics over live state: histograms, handling time, tick-to-fill, the collector.

:func:`build_parts` assembles real tickmesh objects (services run through a ``SyncHost``, a
``MemoryBus`` group with unacked messages, a ``Portfolio`` with fills, the platform's ``Progress``)
into a :class:`PlatformMetrics`; the API test of ``/metrics`` reuses it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tickmesh import topics
from tickmesh.bus import MemoryBus, Outgoing
from tickmesh.core.stamp import Stamper
from tickmesh.model import (
    Bar,
    DenyReason,
    Event,
    Fill,
    Heartbeat,
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderPartiallyFilled,
    Side,
    Signal,
    TradingState,
)
from tickmesh.portfolio import Portfolio
from tickmesh.services.metrics import (
    HandleLatency,
    LatencyHistogram,
    PlatformMetrics,
    TickToFill,
    build_registry,
)
from tickmesh.services.platform import Progress
from tickmesh.services.runtime import Service, SyncHost

D = Decimal
NS = "paper"
T0 = 1_700_000_040_000_000_000  # a 1m bar close, ns

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


# --- real services and events --------------------------------------------------------------


def beat(n: int) -> Heartbeat:
    return Heartbeat(event_id=f"hb{n}", ts_event=n, ts_init=n, service="src")


class Echo(Service):
    """Republishes each event on ``out``; raises on the ``ts_event`` values it is told to."""

    name = "echo"

    def __init__(self, poison: set[int] | None = None, pause_s: float = 0.0) -> None:
        super().__init__()
        self.poison = poison or set()
        self.pause_s = pause_s

    def inputs(self) -> list[str]:
        return ["in"]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        if event.ts_event in self.poison:
            raise ValueError(f"cannot handle {event.ts_event}")
        if self.pause_s:
            time.sleep(self.pause_s)
        return [Outgoing("out", beat(event.ts_event + 1000), "k")]


class Sink(Service):
    name = "sink"

    def inputs(self) -> list[str]:
        return ["out"]

    def handle(self, topic: str, event: Event) -> tuple[()]:
        return ()


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def bar(symbol: str = "BTC", ts_event: int = T0, timeframe: str = "1m") -> Bar:
    return Bar(
        event_id=f"bar-{symbol}-{timeframe}-{ts_event}",
        ts_event=ts_event,
        ts_init=ts_event,
        symbol=symbol,
        timeframe=timeframe,
        ts_open=ts_event - 60_000_000_000,
        open=100.0,
        high=101.0,
        low=99.0,
        close=100.0,
        volume=3.0,
    )


def signal(signal_id: str, symbol: str = "BTC", ts_event: int = T0) -> Signal:
    return Signal(
        event_id=signal_id,
        ts_event=ts_event,
        ts_init=ts_event,
        namespace=NS,
        correlation_id=signal_id,
        strategy_id=f"sma:{symbol}",
        strategy="sma",
        symbol=symbol,
        side=Side.BUY,
        price=100.0,
        timeframe="1m",
    )


def fill(signal_id: str, n: int = 1, quantity: str = "1") -> Fill:
    return Fill(
        event_id=f"fill-{signal_id}-{n}",
        ts_event=T0,
        ts_init=T0,
        correlation_id=signal_id,
        fill_id=f"o-{signal_id}-{n}",
        order_id=f"o-{signal_id}",
        strategy_id="sma:BTC",
        symbol="BTC",
        side=Side.BUY,
        quantity=D(quantity),
        price=D("100"),
    )


def filled(signal_id: str) -> OrderFilled:
    f = fill(signal_id)
    return OrderFilled(
        event_id=f"filled-{signal_id}",
        ts_event=T0,
        ts_init=T0,
        correlation_id=signal_id,
        order_id=f.order_id,
        strategy_id=f.strategy_id,
        symbol=f.symbol,
        side=f.side,
        fill=f,
        filled_quantity=f.quantity,
    )


def partially_filled(signal_id: str, n: int) -> OrderPartiallyFilled:
    f = fill(signal_id, n, "0.5")
    return OrderPartiallyFilled(
        event_id=f"partial-{signal_id}-{n}",
        ts_event=T0,
        ts_init=T0,
        correlation_id=signal_id,
        order_id=f.order_id,
        strategy_id=f.strategy_id,
        symbol=f.symbol,
        side=f.side,
        fill=f,
        filled_quantity=D("0.5") * n,
        leaves_quantity=D("1") - D("0.5") * n,
    )


def denied(signal_id: str) -> OrderDenied:
    return OrderDenied(
        event_id=f"denied-{signal_id}",
        ts_event=T0,
        ts_init=T0,
        correlation_id=signal_id,
        signal_id=signal_id,
        strategy_id="sma:BTC",
        symbol="BTC",
        side=Side.BUY,
        reason=DenyReason.MAX_POSITION,
    )


def canceled(signal_id: str) -> OrderCanceled:
    return OrderCanceled(
        event_id=f"canceled-{signal_id}",
        ts_event=T0,
        ts_init=T0,
        correlation_id=signal_id,
        order_id=f"o-{signal_id}",
        strategy_id="sma:BTC",
        symbol="BTC",
        side=Side.BUY,
    )


# --- a small platform of real parts ------------------------------------------------------------


class Tracked:
    """A :class:`TickToFill` on a ``SyncHost``, with a clock the test moves."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.clock = FakeClock()
        self.host = SyncHost(MemoryBus(partitions=1))
        self.tracker = TickToFill(NS, ["1m", "5m"], clock=self.clock, capacity=capacity)
        self.host.add(self.tracker)

    def run(self, events: list[tuple[float, str, Event]]) -> None:
        """Publish each ``(wall seconds, topic, event)`` and dispatch it at that wall time."""
        for now, topic, event in events:
            self.clock.now = now
            self.host.publish(event, topic)
            self.host.run_until_idle()


@dataclass
class Parts:
    bus: MemoryBus
    host: SyncHost
    echo: Echo
    portfolio: Portfolio
    progress: Progress
    metrics: PlatformMetrics


def trading_events() -> list[tuple[float, str, Event]]:
    """One signal filled 0.25 s after its bar; one denied; one whose bar was never seen."""
    return [
        (10.0, topics.bars("1m"), bar()),
        (10.05, topics.signals_raw(NS), signal("sig-1")),
        (10.1, topics.signals_raw(NS), signal("sig-2")),
        (10.15, topics.signals_rejected(NS), denied("sig-2")),
        (10.2, topics.signals_raw(NS), signal("sig-3", symbol="ETH")),
        (10.25, topics.orders_events(NS), filled("sig-1")),
    ]


def ledger() -> Portfolio:
    """10000 cash; long 2 BTC bought at 100 (fee 0.2) marked at 110; ETH bought and sold flat."""
    portfolio = Portfolio(D("10000"), Stamper.deterministic("portfolio", NS))
    for f in (
        Fill(**_fill_fields("b1", Side.BUY, "BTC", "2", "100", "0.2")),
        Fill(**_fill_fields("e1", Side.BUY, "ETH", "1", "50", "0")),
        Fill(**_fill_fields("e2", Side.SELL, "ETH", "1", "60", "0")),
    ):
        portfolio.apply_fill(f)
    portfolio.mark("BTC", 110.0)
    return portfolio


def _fill_fields(
    fill_id: str, side: Side, symbol: str, quantity: str, price: str, fee: str
) -> dict[str, object]:
    return {
        "event_id": f"e-{fill_id}",
        "ts_event": T0,
        "ts_init": T0,
        "fill_id": fill_id,
        "order_id": fill_id,
        "strategy_id": f"sma:{symbol}",
        "symbol": symbol,
        "side": side,
        "quantity": D(quantity),
        "price": D(price),
        "fee": D(fee),
    }


async def build_parts() -> Parts:
    """Echo and Sink handle 2 events each (Echo dead-letters a third after 3 failed attempts);
    the group ``recorder`` holds 2 unacked messages on ``market.ticks``; tick-to-fill measured
    one signal at 0.25 s; progress counted 3 fills and 2 MAX_POSITION rejections."""
    tracked = Tracked()
    bus, host = tracked.host.bus, tracked.host
    echo, sink = Echo(poison={2}), Sink()
    host.add(echo)
    host.add(sink)
    latency = HandleLatency()
    latency.attach_all([echo, sink])
    host.start()
    for n in (1, 2, 3):
        host.publish(beat(n), "in")
        host.run_until_idle()
    tracked.run(trading_events())
    await _unacked(bus)
    progress = Progress(events=120, signals=3, orders=2, fills=3)
    progress.rejections.update({DenyReason.MAX_POSITION.value: 2})
    portfolio = ledger()
    metrics = PlatformMetrics(
        namespace=NS,
        services=[echo, sink, tracked.tracker],
        bus=bus,
        portfolio=portfolio,
        progress=progress,
        latency=latency,
        tick_to_fill=tracked.tracker.histogram,
        trading_state=lambda: TradingState.REDUCING,
    )
    return Parts(bus, host, echo, portfolio, progress, metrics)


async def _unacked(bus: MemoryBus) -> None:
    """Group ``recorder`` takes 3 ticks and acks only the first: lag 2."""
    sub = bus.subscribe([topics.MARKET_TICKS], "recorder", "recorder-1")
    for n in range(3):
        await bus.publish(topics.MARKET_TICKS, beat(n), "BTC")
    deliveries = await sub.fetch(10, timeout=1)
    assert len(deliveries) == 3
    await deliveries[0].ack()


def parse(exposition: str) -> Samples:
    """Every sample of a text exposition, keyed by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def scrape(registry: CollectorRegistry) -> Samples:
    return parse(generate_latest(registry).decode())


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def assert_platform_series(samples: Samples) -> None:
    """Every series the platform exposes, with the values :func:`build_parts` leads to."""
    for service, (ins, outs, errors, dead) in {"echo": (2, 2, 3, 1), "sink": (2, 0, 0, 0)}.items():
        assert sample(samples, "tickmesh_service_events_in_total", service=service) == ins
        assert sample(samples, "tickmesh_service_events_out_total", service=service) == outs
        assert sample(samples, "tickmesh_service_errors_total", service=service) == errors
        assert sample(samples, "tickmesh_service_dead_lettered_total", service=service) == dead
        assert sample(samples, "tickmesh_service_handle_seconds_count", service=service) == ins
        inf = sample(samples, "tickmesh_service_handle_seconds_bucket", service=service, le="+Inf")
        assert inf == ins
    assert sample(samples, "tickmesh_service_events_in_total", service="tick-to-fill") == 6
    lag = sample(samples, "tickmesh_bus_lag_messages", group="recorder", topic="market.ticks")
    assert lag == 2
    assert sample(samples, "tickmesh_equity", namespace=NS) == pytest.approx(10029.8)
    assert sample(samples, "tickmesh_open_positions", namespace=NS) == 1
    assert sample(samples, "tickmesh_fills_total", namespace=NS) == 3
    assert sample(samples, "tickmesh_signals_total", namespace=NS) == 3
    assert sample(samples, "tickmesh_orders_total", namespace=NS) == 2
    assert sample(samples, "tickmesh_market_events_total", namespace=NS) == 120
    assert sample(samples, "tickmesh_rejections_total", namespace=NS, reason="MAX_POSITION") == 2
    assert sample(samples, "tickmesh_rejections_total", namespace=NS, reason="PRICE_BAND") == 0
    assert sample(samples, "tickmesh_tick_to_fill_seconds_count", namespace=NS) == 1
    assert sample(samples, "tickmesh_tick_to_fill_seconds_sum", namespace=NS) == pytest.approx(0.25)
    below = sample(samples, "tickmesh_tick_to_fill_seconds_bucket", namespace=NS, le="0.1")
    above = sample(samples, "tickmesh_tick_to_fill_seconds_bucket", namespace=NS, le="0.25")
    assert (below, above) == (0, 1)
    assert sample(samples, "tickmesh_trading_state", namespace=NS, state="REDUCING") == 1
    assert sample(samples, "tickmesh_trading_state", namespace=NS, state="ACTIVE") == 0


# --- LatencyHistogram ----------------------------------------------------------------------------


def test_histogram_observations_land_in_first_bucket_at_or_above_them() -> None:
    histogram = LatencyHistogram((0.001, 0.01, 0.1))

    for seconds in (0.0005, 0.001, 0.005, 0.1, 0.5):
        histogram.observe(seconds)

    assert histogram.cumulative() == [(0.001, 2), (0.01, 3), (0.1, 4), (float("inf"), 5)]
    assert (histogram.count, histogram.sum) == (5, pytest.approx(0.6065))


def test_histogram_empty_reports_zero_in_every_bucket() -> None:
    histogram = LatencyHistogram((0.5, 1.0))

    assert histogram.cumulative() == [(0.5, 0), (1.0, 0), (float("inf"), 0)]


@pytest.mark.parametrize("bounds", [(), (0.1, 0.1), (0.2, 0.1), (0.0, 1.0), (1.0, float("inf"))])
def test_histogram_bad_bounds_rejected(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="bucket bounds"):
        LatencyHistogram(bounds)


# --- HandleLatency -------------------------------------------------------------------------------


def test_handle_latency_handled_events_observed_with_runtime_timing() -> None:
    bus = MemoryBus(partitions=1)
    host = SyncHost(bus)
    echo = Echo()
    host.add(echo)
    histogram = HandleLatency().attach(echo)

    for n in range(5):
        host.publish(beat(n), "in")
    host.run_until_idle()

    assert histogram.count == echo.stats.events_in == 5
    assert histogram.sum == pytest.approx(echo.stats.handle_seconds, abs=1e-9)


def test_handle_latency_slow_handler_counted_above_its_pause() -> None:
    bus = MemoryBus(partitions=1)
    host = SyncHost(bus)
    echo = Echo(pause_s=0.02)
    host.add(echo)
    histogram = HandleLatency().attach(echo)

    host.publish(beat(1), "in")
    host.run_until_idle()

    buckets = dict(histogram.cumulative())
    assert buckets[0.01] == 0
    assert buckets[float("inf")] == 1
    assert histogram.sum >= 0.02


def test_handle_latency_failures_and_duplicates_not_observed() -> None:
    echo = Echo(poison={2})
    histogram = HandleLatency().attach(echo)

    echo.process("in", beat(1))
    echo.process("in", beat(1))  # a redelivery: skipped by dedup
    with contextlib.suppress(ValueError):
        echo.process("in", beat(2))

    assert (echo.stats.duplicates, echo.stats.errors) == (1, 1)
    assert histogram.count == 1


def test_handle_latency_same_service_name_twice_rejected() -> None:
    latency = HandleLatency()
    latency.attach(Echo())

    with pytest.raises(ValueError, match="already timed"):
        latency.attach(Echo())


# --- TickToFill ----------------------------------------------------------------------------------


def test_tick_to_fill_measured_from_bar_to_first_fill_only() -> None:
    tracked = Tracked()
    tracker = tracked.tracker

    tracked.run(
        [
            (10.0, topics.bars("1m"), bar()),
            (10.01, topics.bars("5m"), bar(timeframe="5m")),  # same close: start stays at 10.0
            (10.1, topics.signals_raw(NS), signal("sig-1")),
            (10.4, topics.orders_events(NS), partially_filled("sig-1", 1)),
            (11.0, topics.orders_events(NS), partially_filled("sig-1", 2)),
        ],
    )

    assert tracker.histogram.count == 1
    assert tracker.histogram.sum == pytest.approx(0.4)
    assert tracker.status()["pending"] == 0


def test_tick_to_fill_signal_that_never_fills_forgotten() -> None:
    tracked = Tracked()
    tracker = tracked.tracker

    tracked.run(
        [
            (10.0, topics.bars("1m"), bar()),
            (10.1, topics.signals_raw(NS), signal("sig-denied")),
            (10.1, topics.signals_raw(NS), signal("sig-canceled")),
            (10.2, topics.signals_rejected(NS), denied("sig-denied")),
            (10.3, topics.orders_events(NS), canceled("sig-canceled")),
            (10.4, topics.orders_events(NS), filled("sig-denied")),  # not pending any more
        ],
    )

    assert tracker.histogram.count == 0
    assert tracker.status()["pending"] == 0


def test_tick_to_fill_signal_without_seen_bar_untracked() -> None:
    tracked = Tracked()
    tracker = tracked.tracker

    tracked.run(
        [
            (10.0, topics.bars("1m"), bar(ts_event=T0 - 60_000_000_000)),  # the previous bar
            (10.1, topics.signals_raw(NS), signal("sig-1")),
            (10.2, topics.orders_events(NS), filled("sig-1")),
        ],
    )

    assert tracker.histogram.count == 0
    assert tracker.untracked == 1


def test_tick_to_fill_pending_over_capacity_drops_oldest() -> None:
    tracked = Tracked(capacity=2)
    tracker = tracked.tracker
    events: list[tuple[float, str, Event]] = [(10.0, topics.bars("1m"), bar())]
    events += [(10.1, topics.signals_raw(NS), signal(f"sig-{n}")) for n in range(3)]
    events += [(10.5, topics.orders_events(NS), filled(f"sig-{n}")) for n in range(3)]

    tracked.run(events)

    assert tracker.expired == 1
    assert tracker.histogram.count == 2
    assert tracker.histogram.sum == pytest.approx(1.0)


def test_tick_to_fill_inputs_are_bars_signals_rejections_and_orders() -> None:
    tracker = TickToFill(NS, ["5m", "1m", "1m"])

    assert tracker.inputs() == [
        "market.bars.1m",
        "market.bars.5m",
        "paper.signals.raw",
        "paper.signals.rejected",
        "paper.orders.events",
    ]


# --- PlatformMetrics -----------------------------------------------------------------------------


async def test_scrape_reports_every_platform_series_with_its_value() -> None:
    parts = await build_parts()

    samples = scrape(build_registry(parts.metrics))

    assert_platform_series(samples)


async def test_scrape_reads_state_at_scrape_time() -> None:
    parts = await build_parts()
    registry = build_registry(parts.metrics, process=False)
    before = scrape(registry)

    parts.host.publish(beat(7), "in")
    parts.host.run_until_idle()
    parts.progress.fills += 1
    parts.portfolio.mark("BTC", 120.0)
    after = scrape(registry)

    assert sample(before, "tickmesh_service_events_in_total", service="echo") == 2
    assert sample(after, "tickmesh_service_events_in_total", service="echo") == 3
    assert sample(after, "tickmesh_fills_total", namespace=NS) == 4
    assert sample(after, "tickmesh_equity", namespace=NS) == pytest.approx(10049.8)


async def test_registry_is_dedicated_and_adds_process_metrics_on_request() -> None:
    parts = await build_parts()

    bare = scrape(build_registry(parts.metrics, process=False))
    full = scrape(build_registry(parts.metrics))

    assert {name for name, _ in bare} <= {name for name, _ in full}
    assert any(name.startswith("python_info") for name, _ in full)
    assert not any(name.startswith(("process_", "python_")) for name, _ in bare)


def test_optional_series_absent_when_not_given() -> None:
    metrics = PlatformMetrics(
        namespace=NS,
        services=[],
        bus=MemoryBus(),
        portfolio=ledger(),
        progress=Progress(),
    )

    names = {name for name, _ in scrape(build_registry(metrics, process=False))}

    assert "tickmesh_equity" in names
    assert not any(
        n.startswith(("tickmesh_tick_to_fill", "tickmesh_trading_state", "tickmesh_service_handle"))
        for n in names
    )


def test_rejections_every_rule_reported_from_zero() -> None:
    progress = Progress()
    progress.rejections["MAX_POSITION"] += 1
    metrics = PlatformMetrics(
        namespace=NS, services=[], bus=MemoryBus(), portfolio=ledger(), progress=progress
    )

    samples = scrape(build_registry(metrics, process=False))

    reasons = {
        dict(labels)["reason"]: value
        for (name, labels), value in samples.items()
        if name == "tickmesh_rejections_total"
    }
    assert reasons == {r.value: float(r is DenyReason.MAX_POSITION) for r in DenyReason}
