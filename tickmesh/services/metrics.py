"""Prometheus metrics, read from the platform's live state at scrape time.

Nothing here keeps a second copy of the counters the runtime already keeps: :class:`PlatformMetrics`
is a custom collector that, on each scrape, reads the services' :class:`ServiceStats`, the bus's
consumer-group lag, the portfolio ledger and the run's progress counters, and turns them into
metric families. It is registered on a dedicated :class:`CollectorRegistry` (see
:func:`build_registry`), never on prometheus_client's global one, so two platforms in one process
(tests) never collide.

Two figures the runtime does not keep are recorded here, in fixed-bucket histograms:

- :class:`HandleLatency` — each service's time in ``handle`` per event, fed by the runtime's own
  timing (``Service.process`` keeps only the sum and the maximum);
- :class:`TickToFill` — a read-only service timing a signal from the bar that triggered it to its
  first fill.

Collection reads mutable state without locks: scrape on the thread that runs the platform (the
event loop; :mod:`tickmesh.api.metrics_route` serves ``/metrics`` from an ``async`` handler for
that reason).

Series (one ``tickmesh_`` prefix, base units, ``_total`` on counters)::

    tickmesh_service_events_in_total{service}       tickmesh_service_events_out_total{service}
    tickmesh_service_errors_total{service}          tickmesh_service_duplicates_total{service}
    tickmesh_service_dead_lettered_total{service}   tickmesh_service_handle_seconds{service}
    tickmesh_bus_lag_messages{group,topic}          tickmesh_market_events_total{namespace}
    tickmesh_signals_total{namespace}               tickmesh_orders_total{namespace}
    tickmesh_fills_total{namespace}                 tickmesh_rejections_total{namespace,reason}
    tickmesh_equity{namespace}                      tickmesh_open_positions{namespace}
    tickmesh_tick_to_fill_seconds{namespace}        tickmesh_trading_state{namespace,state}
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from tickmesh import topics
from tickmesh.bus.base import Outgoing
from tickmesh.model.enums import DenyReason, TradingState
from tickmesh.model.events import (
    Bar,
    Event,
    OrderCanceled,
    OrderDenied,
    OrderFailed,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    Signal,
)
from tickmesh.services.runtime import Service

HANDLE_BUCKETS: tuple[float, ...] = (
    0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
"""Seconds in ``handle`` per event: 1 us (a counter bump) to 2.5 s (a stuck store write)."""

TICK_TO_FILL_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
"""Seconds from a signal's bar to its first fill: 100 us (a replay at full speed) to 5 min (a
paced replay or live session waiting for the next bar to fill on)."""


class LatencyHistogram:
    """Counts of durations (seconds, >= 0) in fixed buckets; cumulative, Prometheus-style, on read.

    Cheap enough for the hot path: one bisect and three additions per observation.
    """

    __slots__ = ("_counts", "bounds", "count", "sum")

    def __init__(self, bounds: Sequence[float] = HANDLE_BUCKETS) -> None:
        cleaned = tuple(float(b) for b in bounds)
        if not cleaned or any(not math.isfinite(b) or b <= 0 for b in cleaned):
            raise ValueError(f"bucket bounds must be finite and positive, got {bounds!r}")
        if any(a >= b for a, b in itertools.pairwise(cleaned)):
            raise ValueError(f"bucket bounds must be strictly increasing, got {bounds!r}")
        self.bounds = cleaned
        self._counts = [0] * (len(cleaned) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        """Count one duration in the first bucket whose upper bound is >= ``seconds``."""
        self._counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.count += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= bound)`` per bucket; the last bound is ``inf``."""
        running = itertools.accumulate(self._counts)
        return list(zip((*self.bounds, math.inf), running, strict=True))


# --- handling time per service ------------------------------------------------------------------


class _Process(Protocol):
    def __call__(self, topic: str, event: Event, *, dedup: bool = True) -> Sequence[Outgoing]: ...


class HandleLatency:
    """Per-service histograms of the time spent in ``handle``, one observation per handled event.

    :meth:`attach` wraps one service instance's ``process`` (the class is untouched). The value
    observed is the runtime's own measurement: what ``process`` just added to
    ``stats.handle_seconds`` (perf_counter around ``handle``), exact to the float rounding of that
    running sum (under a nanosecond while it stays below 10^6 s). Duplicates the runtime skips
    and handlers that raise add nothing there, so they are not observed here either. Attach
    before or after ``SyncHost.add``/``AsyncRunner``: both call ``service.process`` on the
    instance per event.
    """

    def __init__(self, bounds: Sequence[float] = HANDLE_BUCKETS) -> None:
        self._bounds = tuple(bounds)
        self._histograms: dict[str, LatencyHistogram] = {}

    def attach(self, service: Service) -> LatencyHistogram:
        """Time ``service`` from now on; its histogram. A name already attached is an error."""
        if service.name in self._histograms:
            raise ValueError(f"service {service.name!r} is already timed")
        histogram = LatencyHistogram(self._bounds)
        self._histograms[service.name] = histogram
        service.process = _timed(service, service.process, histogram)  # type: ignore[method-assign]
        return histogram

    def attach_all(self, services: Iterable[Service]) -> None:
        for service in services:
            self.attach(service)

    def histograms(self) -> list[tuple[str, LatencyHistogram]]:
        """``(service name, histogram)`` sorted by name."""
        return sorted(self._histograms.items())


def _timed(service: Service, process: _Process, histogram: LatencyHistogram) -> _Process:
    def timed(topic: str, event: Event, *, dedup: bool = True) -> Sequence[Outgoing]:
        stats = service.stats
        handled, spent = stats.events_in, stats.handle_seconds
        out = process(topic, event, dedup=dedup)
        if stats.events_in != handled:
            histogram.observe(max(0.0, stats.handle_seconds - spent))
        return out

    return timed


# --- tick to fill ----------------------------------------------------------------------------


class TickToFill(Service):
    """Wall-clock seconds from the bar that triggered a signal to that signal's first fill.

    Exactly what is measured: strategies stamp a signal with the event time ``T`` of the bar they
    were handling and with ``correlation_id`` = the signal's id, which risk, execution and every
    fill carry on. The start is when this service first saw a bar of the signal's symbol closing
    at ``T`` (of any timeframe: a 1m and a 5m bar closing together count from the first); the end
    is when it sees the first ``OrderFilled``/``OrderPartiallyFilled`` with that correlation id.
    Both instants come from ``clock`` (monotonic seconds by default), so the figure is the time
    spent inside the pipeline — strategy, risk, execution, the bus hops between them and, in a
    paper session, the wait for the market data the order fills on. It is neither event time (a
    full-speed replay fills within microseconds of wall time although the fill's event time may
    be a bar later) nor the venue's or the feed's delay before the bar reached tickmesh.

    Not measured, by design: a signal whose bar this service did not see (it started after the
    bar, or a bus delivered the signal before its bar) is counted in ``untracked``; a signal that
    never fills is forgotten when its denial, rejection, cancel or failure arrives; at most
    ``capacity`` signals wait for a fill (the oldest are dropped first, counted in ``expired``).
    Publishes nothing.
    """

    name = "tick-to-fill"

    def __init__(
        self,
        namespace: str,
        timeframes: Iterable[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        bounds: Sequence[float] = TICK_TO_FILL_BUCKETS,
        capacity: int = 10_000,
    ) -> None:
        super().__init__()
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.namespace = namespace
        self.timeframes = sorted(set(timeframes))
        self.histogram = LatencyHistogram(bounds)
        self.untracked = 0
        self.expired = 0
        self._clock = clock
        self._capacity = capacity
        self._bars: OrderedDict[tuple[str, int], float] = OrderedDict()
        self._pending: OrderedDict[str, float] = OrderedDict()

    def inputs(self) -> list[str]:
        ns = self.namespace
        return [
            *[topics.bars(tf) for tf in self.timeframes],
            topics.signals_raw(ns),
            topics.signals_rejected(ns),
            topics.orders_events(ns),
        ]

    def handle(self, topic: str, event: Event) -> tuple[()]:
        now = self._clock()
        if isinstance(event, Bar):
            self._saw_bar(event, now)
        elif isinstance(event, Signal):
            self._saw_signal(event)
        elif isinstance(event, OrderFilled | OrderPartiallyFilled):
            started = self._pending.pop(event.correlation_id, None)
            if started is not None:
                self.histogram.observe(max(0.0, now - started))
        elif isinstance(event, _NEVER_FILLS):
            self._pending.pop(event.correlation_id, None)
        return ()

    def _saw_bar(self, bar: Bar, now: float) -> None:
        bars = self._bars
        bars.setdefault((bar.symbol, bar.ts_event), now)
        if len(bars) > self._capacity:
            bars.popitem(last=False)

    def _saw_signal(self, signal: Signal) -> None:
        started = self._bars.get((signal.symbol, signal.ts_event))
        if started is None:
            self.untracked += 1
            return
        self._pending[signal.correlation_id or signal.event_id] = started
        if len(self._pending) > self._capacity:
            self._pending.popitem(last=False)
            self.expired += 1

    def status(self) -> dict[str, object]:
        return {
            "measured": self.histogram.count,
            "pending": len(self._pending),
            "untracked": self.untracked,
            "expired": self.expired,
        }


_NEVER_FILLS = (OrderDenied, OrderRejected, OrderCanceled, OrderFailed)
"""Outcomes after which a signal with no fill yet will never get one."""


# --- the collector ---------------------------------------------------------------------------


class LagSource(Protocol):
    """What reports consumer lag (``MemoryBus``)."""

    def group_lags(self) -> Mapping[tuple[str, str], int]: ...


class Holding(Protocol):
    @property
    def is_open(self) -> bool: ...


class LedgerView(Protocol):
    """The portfolio figures scraped (``Portfolio``)."""

    @property
    def equity(self) -> Decimal: ...

    def positions(self) -> Iterable[Holding]: ...


class ProgressView(Protocol):
    """The run's flow counters (the platform's ``Progress``)."""

    @property
    def events(self) -> int: ...

    @property
    def signals(self) -> int: ...

    @property
    def orders(self) -> int: ...

    @property
    def fills(self) -> int: ...

    @property
    def rejections(self) -> Mapping[str, int]: ...


_SERVICE_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("events_in", "tickmesh_service_events_in", "Events a service handled."),
    ("events_out", "tickmesh_service_events_out", "Events a service published."),
    ("errors", "tickmesh_service_errors", "Handler failures (each attempt counts)."),
    ("duplicates", "tickmesh_service_duplicates", "Redeliveries skipped by event-id dedup."),
    ("dead_lettered", "tickmesh_service_dead_lettered", "Messages a service dead-lettered."),
)


class PlatformMetrics:
    """A prometheus_client collector over live platform state; every value is read per scrape.

    Takes the parts, not the platform, so it runs over anything shaped like them: ``services``
    (their ``name`` and ``stats``), ``bus`` (``group_lags()``), ``portfolio`` (``equity``,
    ``positions()``), ``progress`` (flow counters and rejections by reason). ``latency``,
    ``tick_to_fill`` and ``trading_state`` add their series when given.
    """

    def __init__(
        self,
        *,
        namespace: str,
        services: Sequence[Service],
        bus: LagSource,
        portfolio: LedgerView,
        progress: ProgressView,
        latency: HandleLatency | None = None,
        tick_to_fill: LatencyHistogram | None = None,
        trading_state: Callable[[], str] | None = None,
    ) -> None:
        self.namespace = namespace
        self._services = services
        self._bus = bus
        self._portfolio = portfolio
        self._progress = progress
        self._latency = latency
        self._tick_to_fill = tick_to_fill
        self._trading_state = trading_state

    def collect(self) -> Iterator[Metric]:
        yield from service_series(self._services, self._latency)
        yield self._bus_lag()
        yield from self._flow()
        yield from self._ledger()
        if self._tick_to_fill is not None:
            family = HistogramMetricFamily(
                "tickmesh_tick_to_fill_seconds",
                "Wall-clock seconds from the bar that triggered a signal to its first fill.",
                labels=["namespace"],
            )
            _add_histogram(family, [self.namespace], self._tick_to_fill)
            yield family
        if self._trading_state is not None:
            yield self._state(self._trading_state())

    def _bus_lag(self) -> Metric:
        family = GaugeMetricFamily(
            "tickmesh_bus_lag_messages",
            "Messages a consumer group has not acknowledged yet, per topic.",
            labels=["group", "topic"],
        )
        for (group, topic), lag in sorted(self._bus.group_lags().items()):
            family.add_metric([group, topic], lag)
        return family

    def _flow(self) -> Iterator[Metric]:
        p, ns = self._progress, [self.namespace]
        yield _counter(
            "tickmesh_market_events", "Market events fed into the pipeline.", ns, p.events
        )
        yield _counter("tickmesh_signals", "Signals strategies emitted.", ns, p.signals)
        yield _counter("tickmesh_orders", "Orders the venue accepted.", ns, p.orders)
        yield _counter("tickmesh_fills", "Fills, partial ones included.", ns, p.fills)
        family = CounterMetricFamily(
            "tickmesh_rejections",
            "Signals the risk manager refused, by the rule that refused them.",
            labels=["namespace", "reason"],
        )
        counts = {reason.value: 0 for reason in DenyReason} | dict(p.rejections)
        for reason, count in sorted(counts.items()):
            family.add_metric([self.namespace, reason], count)
        yield family

    def _ledger(self) -> Iterator[Metric]:
        ns = [self.namespace]
        equity = GaugeMetricFamily(
            "tickmesh_equity", "Cash plus positions at their marks.", labels=["namespace"]
        )
        equity.add_metric(ns, float(self._portfolio.equity))
        yield equity
        open_positions = sum(1 for p in self._portfolio.positions() if p.is_open)
        positions = GaugeMetricFamily(
            "tickmesh_open_positions", "Positions that are not flat.", labels=["namespace"]
        )
        positions.add_metric(ns, open_positions)
        yield positions

    def _state(self, current: str) -> Metric:
        family = GaugeMetricFamily(
            "tickmesh_trading_state",
            "1 for the risk manager's current trading state, 0 for the others.",
            labels=["namespace", "state"],
        )
        states = sorted({s.value for s in TradingState} | {str(current)})
        for state in states:
            family.add_metric([self.namespace, state], 1.0 if state == current else 0.0)
        return family


class StreamServiceMetrics:
    """The collector of ``tickmesh service api``: its stream feeder's counters and handling
    latency, and the live stream's subscribers, items published and slow clients cut."""

    def __init__(self, services: Sequence[Service], latency: HandleLatency, hub: HubView) -> None:
        self._services = services
        self._latency = latency
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        yield from service_series(self._services, self._latency)
        subscribers = GaugeMetricFamily(
            "tickmesh_stream_subscribers", "Open live-stream (SSE) connections."
        )
        subscribers.add_metric([], self._hub.subscribers)
        yield subscribers
        published = CounterMetricFamily(
            "tickmesh_stream_items", "Events the live stream numbered and sent out."
        )
        published.add_metric([], self._hub.published)
        yield published
        cut = CounterMetricFamily(
            "tickmesh_stream_clients_cut", "Live-stream clients cut for reading too slowly."
        )
        cut.add_metric([], self._hub.cut)
        yield cut


class HubView(Protocol):
    @property
    def subscribers(self) -> int: ...

    published: int
    cut: int


def service_series(services: Sequence[Service], latency: HandleLatency | None) -> Iterator[Metric]:
    """Per service: events in and out, errors, duplicates, dead letters; handling seconds."""
    for attr, name, doc in _SERVICE_COUNTERS:
        family = CounterMetricFamily(name, doc, labels=["service"])
        for service in services:
            family.add_metric([service.name], getattr(service.stats, attr))
        yield family
    if latency is not None:
        handled = HistogramMetricFamily(
            "tickmesh_service_handle_seconds",
            "Seconds a service spent handling one event.",
            labels=["service"],
        )
        for name, histogram in latency.histograms():
            _add_histogram(handled, [name], histogram)
        yield handled


def _counter(name: str, doc: str, namespace: list[str], value: float) -> Metric:
    family = CounterMetricFamily(name, doc, labels=["namespace"])
    family.add_metric(namespace, value)
    return family


def _add_histogram(
    family: HistogramMetricFamily, labels: list[str], histogram: LatencyHistogram
) -> None:
    buckets = [
        ("+Inf" if math.isinf(bound) else repr(bound), float(n))
        for bound, n in histogram.cumulative()
    ]
    family.add_metric(labels, buckets, histogram.sum)


def build_registry(
    metrics: PlatformMetrics | StreamServiceMetrics, *, process: bool = True
) -> CollectorRegistry:
    """A dedicated registry holding ``metrics`` and, with ``process``, prometheus_client's
    standard process (CPU, memory, open files; Linux) and Python platform collectors."""
    registry = CollectorRegistry()
    registry.register(metrics)
    if process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry
