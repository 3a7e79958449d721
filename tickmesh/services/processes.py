"""One pipeline service per process over the sequenced log (``tickmesh service NAME``).

``feed`` plans the session and runs the :class:`Sequencer`; every other name runs a
:class:`Worker` for the service of that name, built by :func:`build_pipeline` as ``tickmesh run``
builds it. The roots, in order:

- a session header (:data:`SESSION_TOPIC`, nobody answers it): the session id, the seed of every
  stamper and an operator's halt carried over from before the session. The feed plans the
  session in the database only when the log has no header yet, so a restarted feed and every
  worker take the session from the log, never from the database's latest session. The fills from
  before the session are read from the database (every fill not of this session: they do not
  change while it runs);
- the feed's events, stamped on a clock advanced to each event as ``Platform._replay`` does;
- :data:`FLUSH_TOPIC`, which the bars service answers with the bars it still holds open, as the
  platform publishes ``BarsService.flush_bars()`` after the feed;
- :data:`FINISH_TOPIC`, which the portfolio answers with its final snapshot on
  :data:`FINAL_TOPIC`, read by the recorder only (the platform hands it to the recorder directly).

The recorder flushes about once a second between cascades and after the end, then marks the
session completed. A log holds one session: run each session on its own ``--bus-prefix``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

from tickmesh import topics
from tickmesh.bus.base import Bus, Outgoing, SubscribeOptions
from tickmesh.config import Settings
from tickmesh.core.clock import SimulatedClock
from tickmesh.core.errors import ConfigError, OperatorError
from tickmesh.model.enums import TradingState
from tickmesh.model.events import Event, Heartbeat
from tickmesh.services.assembly import SessionStart, build_pipeline, stampers
from tickmesh.services.feed import FeedPlan, build_feed
from tickmesh.services.runtime import Service
from tickmesh.services.sequencer import (
    LOG_TOPIC,
    LogEntry,
    Sequencer,
    SequencerStats,
    SubscriptionTable,
    Worker,
    WorkerStats,
)
from tickmesh.services.session import fingerprint, plan_session
from tickmesh.services.wiring import fingerprint_parts
from tickmesh.storage import Database, SessionStatus

SESSION_TOPIC = "pipeline.session"
FLUSH_TOPIC = "pipeline.flush-bars"
FINISH_TOPIC = "pipeline.finish"
FINAL_TOPIC = "pipeline.final-snapshot"
WORKERS = ("bars", "strategies", "risk", "execution", "portfolio", "recorder")
"""The services that run as workers, in attach order."""
SERVICES = ("feed", *WORKERS)
RECORDER_FLUSH_S = 1.0


# --- the session header --------------------------------------------------------------------------


def session_header(start: SessionStart, namespace: str) -> Heartbeat:
    """The first root; ``counters["seed"]`` is exact (seeds have 48 bits)."""
    seed = {} if start.seed is None else {"seed": float(start.seed)}
    return Heartbeat(
        event_id=f"session-{start.session_id}",
        ts_event=0,
        ts_init=0,
        source="feed",
        namespace=namespace,
        correlation_id=start.session_id,
        service="feed",
        status=start.manual_state.value if start.manual_state else "session",
        counters=seed,
    )


async def session_start(header: Event, db: Database, namespace: str) -> SessionStart:
    """The session the header names, its base fills read from the database."""
    if not isinstance(header, Heartbeat) or not header.event_id.startswith("session-"):
        raise OperatorError(f"the first entry of {LOG_TOPIC} is not a session header")
    session_id = header.correlation_id
    async with db.reader() as repo:
        fills = await repo.load_fills(namespace)
        own = await repo.session_fill_ids(session_id)
    manual = None if header.status == "session" else TradingState(header.status)
    base = [f for f in fills if f.fill_id not in own]
    seed = header.counters.get("seed")
    return SessionStart(session_id, None if seed is None else int(seed), base, manual)


async def read_header(bus: Bus, *, wait: bool, poll_s: float = 0.2) -> Event | None:
    """The log's first entry; None when the log is empty and not ``wait``."""
    group = f"header-{uuid.uuid4().hex[:12]}"
    sub = bus.subscribe([LOG_TOPIC], group, "header", SubscribeOptions(start="earliest"))
    try:
        while True:
            for delivery in await sub.fetch(16, timeout=poll_s):
                entry = LogEntry.of(delivery)
                await delivery.ack()
                if entry.seq == 0:
                    if entry.topic != SESSION_TOPIC:
                        raise OperatorError(f"{LOG_TOPIC} does not start with a session header")
                    return entry.event
            if not wait and await bus.lag(group, LOG_TOPIC) == 0:
                return None
    finally:
        await sub.close()
        await bus.delete_group(group, [LOG_TOPIC])


# --- the services as the sequenced run has them ---------------------------------------------------


class _Ending(Service):
    """``inner`` plus one more input, an end-of-session root it answers with ``at_end()``."""

    def __init__(
        self, inner: Service, topic: str, at_end: Callable[[Event], Sequence[Outgoing]]
    ) -> None:
        super().__init__()
        self.inner, self.topic, self.at_end = inner, topic, at_end
        self.name = inner.name

    def inputs(self) -> list[str]:
        return [*self.inner.inputs(), self.topic]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        if topic == self.topic:
            return self.at_end(event)
        return self.inner.handle(topic, event)

    async def flush(self) -> None:
        await self.inner.flush()

    def status(self) -> dict[str, object]:
        return self.inner.status()


def sequenced_services(
    settings: Settings, feed: FeedPlan, db: Database, start: SessionStart, clock: SimulatedClock
) -> list[Service]:
    """The pipeline of ``tickmesh run`` with the end of the feed as roots of the log."""
    pipeline = build_pipeline(
        settings, feed, db, start, stampers(clock, start.seed, settings.namespace)
    )
    ns = settings.namespace

    def final(_event: Event) -> list[Outgoing]:
        snapshot = pipeline.portfolio.snapshot(clock.now_ns())
        return [Outgoing(FINAL_TOPIC, snapshot, topics.key_for(snapshot))]

    def record(event: Event) -> tuple[()]:
        pipeline.recorder.handle(topics.portfolio(ns), event)
        return ()

    bars, strategies, risk, execution, portfolio, recorder = pipeline.services
    return [
        _Ending(bars, FLUSH_TOPIC, lambda _e: pipeline.bars.flush_bars()),
        strategies,
        risk,
        execution,
        _Ending(portfolio, FINISH_TOPIC, final),
        _Ending(recorder, FINAL_TOPIC, record),
    ]


# --- the processes -------------------------------------------------------------------------------


async def run_feed(settings: Settings, bus: Bus) -> tuple[str, SequencerStats]:
    """Sequence the session on ``bus``: until the log's end entry is in (returns at once when a
    previous incarnation finished it)."""
    feed = build_feed(settings)
    db = Database(settings.db_url)
    await db.connect()
    try:
        await db.migrate()
        header = await read_header(bus, wait=False)
        if header is None:
            header = await _plan(settings, feed, db)
        start = await session_start(header, db, settings.namespace)
        table = SubscriptionTable.of(
            sequenced_services(settings, feed, db, start, SimulatedClock())
        )
        roots = _roots(header, feed, settings.namespace, start)
        sequencer = Sequencer(bus, table, roots, commands=topics.OPS_COMMANDS, name="feed")
        return start.session_id, await sequencer.run()
    finally:
        await db.close()


async def _plan(settings: Settings, feed: FeedPlan, db: Database) -> Heartbeat:
    parts = {"settings": fingerprint_parts(settings), "data": feed.fingerprint}
    cash = settings.portfolio.starting_cash
    plan = await plan_session(db, settings.namespace, cash, fingerprint(parts))
    return session_header(SessionStart.of(plan), settings.namespace)


async def _roots(
    header: Event, feed: FeedPlan, namespace: str, start: SessionStart
) -> AsyncIterator[tuple[str, Event]]:
    yield SESSION_TOPIC, header
    clock = SimulatedClock()
    pace, wall0, first = feed.speed, time.monotonic(), None
    for topic, event in feed.events(stampers(clock, start.seed, namespace)):
        clock.advance_to(event.ts_event)
        yield topic, event
        if pace > 0:
            first = event.ts_event if first is None else first
            delay = wall0 + (event.ts_event - first) / 1e9 / pace - time.monotonic()
            await asyncio.sleep(max(delay, 0.0))
    for topic in (FLUSH_TOPIC, FINISH_TOPIC):
        yield topic, _marker(topic, start.session_id, clock.now_ns(), namespace)


def _marker(topic: str, session_id: str, ts: int, namespace: str) -> Heartbeat:
    return Heartbeat(
        event_id=f"{topic}-{session_id}",
        ts_event=ts,
        ts_init=ts,
        source="feed",
        namespace=namespace,
        service="feed",
        status=topic,
    )


async def run_worker(settings: Settings, bus: Bus, name: str) -> tuple[str, WorkerStats]:
    """Run service ``name`` from the log until its end entry (waits for the session header)."""
    if name not in WORKERS:
        raise ConfigError(f"no pipeline service {name!r}; choose one of {', '.join(SERVICES)}")
    index = WORKERS.index(name)
    header = await read_header(bus, wait=True)
    assert header is not None
    feed = build_feed(settings)
    db = Database(settings.db_url)
    await db.connect()
    try:
        start = await session_start(header, db, settings.namespace)

        def build(clock: SimulatedClock) -> Service:
            return sequenced_services(settings, feed, db, start, clock)[index]

        every = RECORDER_FLUSH_S if name == "recorder" else None
        stats = await Worker(bus, index, build, flush_every_s=every).run()
        if name == "recorder":
            async with db.transaction() as repo:
                ended = time.time_ns()
                await repo.finish_session(start.session_id, SessionStatus.COMPLETED, ended)
        return start.session_id, stats
    finally:
        await db.close()
