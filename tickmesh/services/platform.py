"""The whole platform in one process: every service on the deterministic memory bus.

``Platform.open`` verifies stored state and plans the session (new or resumed), builds the
services and restores their state; ``Platform.run`` drives the feed through the pipeline, flushing
the store periodically, until the feed is exhausted or a stop is requested (SIGINT/SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tickmesh import topics
from tickmesh.bus import create_bus
from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.config import Settings
from tickmesh.core.clock import SimulatedClock
from tickmesh.core.errors import ConfigError
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Event, OrderDenied, OrderEvent, Signal
from tickmesh.services.assembly import SessionStart, build_pipeline, stampers
from tickmesh.services.bridge import BusBridge
from tickmesh.services.cache_writer import CacheWriter
from tickmesh.services.feed import FeedPlan, build_feed
from tickmesh.services.hub import HubLimits, HubService, StreamHub
from tickmesh.services.metrics import HandleLatency, TickToFill
from tickmesh.services.runtime import Service, SyncHost
from tickmesh.services.session import SessionPlan, fingerprint, plan_session
from tickmesh.services.tracing import Tracing, setup_tracing
from tickmesh.services.wiring import fingerprint_parts
from tickmesh.storage import Cache, Database, SessionStatus, open_cache

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 1.0
TURN_S = 0.002
"""The longest the replay holds the event loop before letting other tasks run."""


@dataclass
class Progress:
    """What the live view shows; updated as the run goes."""

    events: int = 0
    started: float = field(default_factory=time.monotonic)
    last_prices: dict[str, float] = field(default_factory=dict)
    rejections: Counter[str] = field(default_factory=Counter)
    signals: int = 0
    orders: int = 0
    fills: int = 0
    exhausted: bool = False
    finished: float | None = None

    @property
    def events_per_s(self) -> float:
        """Replay rate; frozen once the replay has ended."""
        elapsed = (self.finished or time.monotonic()) - self.started
        return self.events / elapsed if elapsed > 0 else 0.0


class _Observer(Service):
    """Counts what flows for the live view and the summary (read-only)."""

    name = "observer"

    def __init__(self, namespace: str, progress: Progress, timeframes: list[str]) -> None:
        super().__init__()
        self.namespace = namespace
        self.progress = progress
        self.timeframes = timeframes

    def inputs(self) -> list[str]:
        ns = self.namespace
        return [
            topics.MARKET_TICKS,
            *[topics.bars(tf) for tf in self.timeframes],
            topics.signals_raw(ns),
            topics.signals_rejected(ns),
            topics.orders_events(ns),
        ]

    def handle(self, topic: str, event: Event) -> tuple[()]:
        p = self.progress
        price = getattr(event, "close", None) or getattr(event, "price", None)
        symbol = getattr(event, "symbol", None)
        if isinstance(event, Signal):
            p.signals += 1
        elif isinstance(event, OrderDenied):
            p.rejections[event.reason.value] += 1
        elif isinstance(event, OrderEvent):
            kind = type(event).__name__
            p.orders += kind == "OrderAccepted"
            p.fills += kind in ("OrderFilled", "OrderPartiallyFilled")
        elif symbol is not None and isinstance(price, float):
            p.last_prices[symbol] = price
        return ()


class Platform:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        plan: SessionPlan,
        feed: FeedPlan,
        bridge: BusBridge | None = None,
        cache: Cache | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.tracing = tracing
        self.bridge = bridge
        self.cache = cache
        self.db = db
        self.plan = plan
        self.feed = feed
        self.namespace = settings.namespace
        self.progress = Progress()
        self.clock = SimulatedClock()
        # Handlers run synchronously and nothing replays this bus's log: keep it short.
        self.bus = MemoryBus(partitions=1, retention=64)
        self.host = SyncHost(self.bus, tracing=tracing)
        self._stop = asyncio.Event()
        self.hub = StreamHub(HubLimits(max_per_user=settings.api.stream_max_per_user))
        self._build()

    # --- assembly -----------------------------------------------------------------------------

    @classmethod
    async def open(cls, settings: Settings) -> Platform:
        tracing = setup_tracing(settings.tracing)
        feed = build_feed(settings)
        db = Database(settings.db_url)
        await db.connect()
        await db.migrate()
        parts = {"settings": fingerprint_parts(settings), "data": feed.fingerprint}
        bridge = None
        try:
            plan = await plan_session(
                db, settings.namespace, settings.portfolio.starting_cash, fingerprint(parts)
            )
            bridge = await _bridge(settings, tracing)
            cache = _cache(settings)
            platform = cls(settings, db, plan, feed, bridge, cache, tracing)
        except BaseException:
            if bridge is not None:
                await bridge.close()
            await db.close()
            if tracing is not None:
                tracing.shutdown()
            raise
        if tracing is not None:
            tracing.correlate_logs()
        return platform

    def _stamper(self, source: str) -> Stamper:
        return stampers(self.clock, self.plan.session.seed, self.namespace)(source)

    def _build(self) -> None:
        ns = self.namespace
        pipeline = build_pipeline(
            self.settings, self.feed, self.db, SessionStart.of(self.plan), self._stamper
        )
        self.portfolio, self.runner = pipeline.portfolio, pipeline.runner
        self.risk, self.engine = pipeline.risk, pipeline.engine
        self.bars, self.recorder = pipeline.bars, pipeline.recorder
        market_tfs = pipeline.market_tfs
        services = [*pipeline.services, _Observer(ns, self.progress, market_tfs)]
        if self.cache is not None:
            services.append(CacheWriter(self.cache, ns, market_tfs))
        self.tick_to_fill = TickToFill(ns, market_tfs)
        services += [self.tick_to_fill, HubService(self.hub, ns, market_tfs)]
        for service in services:
            self.host.add(service)
        self.services = services
        self.latency = HandleLatency()
        self.latency.attach_all(services)
        if self.bridge is not None:
            self.bridge.attach(self.bus, market_tfs)

    # --- running ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self, until_exhausted: bool = True) -> dict[str, Any]:
        """Replay the feed through the pipeline; returns the summary."""
        self.host.start()
        await self._replay(self.feed.events(self._stamper))
        finished = not self._stop.is_set()
        if finished:
            for message in self.bars.flush_bars():
                self.bus.publish_nowait(message.topic, message.event, message.key)
            self.host.run_until_idle()
            self.progress.exhausted = True
            self.progress.finished = time.monotonic()
            if not until_exhausted:
                await self._idle()
        await self._finish(finished)
        return self.summary()

    async def _replay(self, events: Iterator[tuple[str, Event]]) -> None:
        pace = self.feed.speed
        wall0, event0 = time.monotonic(), None
        next_flush = time.monotonic() + FLUSH_EVERY_S
        turn_ends = time.monotonic() + TURN_S
        for n, (topic, event) in enumerate(events, 1):
            if self._stop.is_set():
                break
            self.clock.advance_to(event.ts_event)
            self.bus.publish_nowait(topic, event, topics.key_for(event))
            self.host.run_until_idle()
            self.progress.events = n
            if pace > 0:
                event0 = event0 if event0 is not None else event.ts_event
                due = wall0 + (event.ts_event - event0) / 1e9 / pace
                if (delay := due - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
            if n % 512 == 0 or pace > 0:
                await self._sync_bridge()
                now = time.monotonic()
                if now >= next_flush:
                    next_flush = now + FLUSH_EVERY_S
                    await self.host.flush()
                    self.host.heartbeats(time.time_ns())
                await asyncio.sleep(0)
                turn_ends = time.monotonic() + TURN_S
            elif n % 16 == 0 and time.monotonic() >= turn_ends:
                # let the API, the stream and signals in between: a request needs several
                # turns of the loop, and a replay at full speed would otherwise hold each one
                await asyncio.sleep(0)
                turn_ends = time.monotonic() + TURN_S

    async def _idle(self) -> None:
        """The replay is over but the user asked to keep running: flush, keep beating."""
        while not self._stop.is_set():
            await self.host.flush()
            self.host.heartbeats(time.time_ns())
            self.host.run_until_idle()
            await self._sync_bridge()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), FLUSH_EVERY_S)

    async def _sync_bridge(self) -> None:
        """Send what the pipeline published to the shared bus; take operator commands in."""
        if self.bridge is None:
            return
        await self.bridge.flush()
        for command in await self.bridge.commands():
            self.host.publish(command, topics.OPS_COMMANDS)
            self.host.run_until_idle()

    async def _finish(self, completed: bool) -> None:
        final = self.portfolio.snapshot(self.clock.now_ns())
        self.recorder.handle(topics.portfolio(self.namespace), final)
        self.host.heartbeats(time.time_ns())  # a last beat with the final counters
        self.host.run_until_idle()
        await self.host.flush()
        if self.bridge is not None:
            await self.bridge.flush()
        status = SessionStatus.COMPLETED if completed else SessionStatus.INTERRUPTED
        async with self.db.transaction() as repo:
            await repo.finish_session(self.plan.session.id, status, time.time_ns())

    async def close(self) -> None:
        try:
            if self.bridge is not None:
                await self.bridge.close()
            if self.cache is not None:
                await self.cache.close()
        finally:
            await self.db.close()
            if self.tracing is not None:
                self.tracing.shutdown()

    # --- reporting ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        snap = self.portfolio.snapshot(self.clock.now_ns())
        return {
            "namespace": self.namespace,
            "session_id": self.plan.session.id,
            "resumed": self.plan.resumed,
            "completed": self.progress.exhausted,
            "events": self.progress.events,
            "signals": self.progress.signals,
            "orders": self.progress.orders,
            "fills": self.progress.fills,
            "trades": self.recorder.fills_written,
            "rejections": dict(sorted(self.progress.rejections.items())),
            "cash": str(snap.cash),
            "equity": str(snap.equity),
            "realized_pnl": str(snap.realized_pnl),
            "unrealized_pnl": str(snap.unrealized_pnl),
            "fees": str(snap.fees),
            "pnl": str(snap.equity - self.settings.portfolio.starting_cash),
            "session_start_cash": str(self.plan.session.start_cash),
            "open_positions": snap.open_positions,
            "positions": [
                {
                    "strategy_id": p.strategy_id,
                    "symbol": p.symbol,
                    "quantity": str(p.quantity),
                    "avg_price": str(p.avg_price),
                    "last_price": str(p.last_price),
                    "realized_pnl": str(p.realized_pnl),
                    "unrealized_pnl": str(p.unrealized_pnl),
                }
                for p in snap.positions
                if p.quantity
            ],
            "last_prices": dict(sorted(self.progress.last_prices.items())),
            "risk_state": self.risk.state.value,
            "late_ticks_dropped": self.bars.builder.late_dropped,
            "dead_lettered": sum(s.stats.dead_lettered for s in self.services),
            "strategy_errors": sum(1 for st in self.runner.status() if st.quarantined),
            "elapsed_s": round(time.monotonic() - self.progress.started, 3),
            "bus": _shown_url(self.settings.bus_url),
            "forwarded_to_bus": self.bridge.forwarded if self.bridge else 0,
            "commands_from_bus": self.bridge.commands_in if self.bridge else 0,
        }


def _cache(settings: Settings) -> Cache | None:
    """The snapshot cache, when one is configured (``cache_url``)."""
    return open_cache(settings.cache_url, settings.bus_prefix) if settings.cache_url else None


async def _bridge(settings: Settings, tracing: Tracing | None = None) -> BusBridge | None:
    """A bridge to the configured bus, unless it is the in-process one."""
    if settings.bus_url.startswith("memory:"):
        return None
    external = create_bus(settings.bus_url, prefix=settings.bus_prefix)
    try:
        await external.start()
    except Exception as exc:
        await external.close()
        raise ConfigError(
            f"bus {_shown_url(settings.bus_url)} is unreachable ({type(exc).__name__}: {exc}); "
            "start it or pass another --bus"
        ) from exc
    return BusBridge(external, settings.namespace, tracing=tracing)


def _shown_url(url: str) -> str:
    """A URL without its password, for summaries and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
