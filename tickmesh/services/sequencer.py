"""One process per service with the one-process result: a sequenced log.

:class:`SyncHost` is a breadth-first FIFO: a record goes to the services subscribed to its topic
in attach order, their outputs join the FIFO in (attach index, output index) order, and the next
root (feed event or operator command) goes in only once the FIFO is empty. Each service's state
depends only on the order of its own inputs, so a distributed run is exact when:

- the :class:`Sequencer` writes the FIFO as one ordered log topic (:data:`LOG_TOPIC`, a single
  key so a single partition), each entry numbered by ``tm-seq``;
- a :class:`Worker` per service reads the log in ``tm-seq`` order, handles the entries of its
  inputs on a :class:`SimulatedClock` set to the entry's root time, and answers each with one
  :class:`WorkerResult` (its outputs, maybe none) on :data:`RESULTS_TOPIC`;
- the sequencer appends a parent's outputs once every subscriber answered and every earlier
  parent's outputs are in, and a root only when every entry is answered.

Recovery is by replay, with no snapshots: a restarted worker reads the log from the start in a
fresh group and rebuilds its state; its repeated answers are ignored. A restarted sequencer
re-runs its own deterministic decisions from the feed (regenerated), the logged commands and the
results topic, publishing only the entries the log does not hold yet. Nothing timing-based
(heartbeats) is in the log.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import msgspec

from tickmesh import topics
from tickmesh.bus.base import Bus, Delivery, Outgoing, SubscribeOptions, Subscription
from tickmesh.core.clock import SimulatedClock
from tickmesh.core.errors import ConfigError, OperatorError
from tickmesh.model.codec import decode, encode
from tickmesh.model.events import Event, Heartbeat
from tickmesh.services.runtime import Service

log = logging.getLogger(__name__)

LOG_TOPIC = "pipeline.log"
RESULTS_TOPIC = "pipeline.results"
END_TOPIC = "pipeline.end"
"""The logical topic of the last log entry: every root is in and fully answered."""
LOG_KEY = "pipeline"

SEQ, TOPIC, KEY, ROOT_TS = "tm-seq", "tm-topic", "tm-key", "tm-root-ts"
PARENT, SVC, OUT, FEED = "tm-parent", "tm-svc", "tm-out", "tm-feed"
"""Log headers; ``tm-feed`` numbers the feed's roots (commands and outputs have none)."""

_RESERVED = frozenset({LOG_TOPIC, RESULTS_TOPIC, END_TOPIC})
# Nobody else acks these groups: no redelivery while a consumer is alive and busy.
_READ = SubscribeOptions(start="earliest", ack_wait_s=300.0, prefetch=512)

Roots = Iterable[tuple[str, Event]] | AsyncIterable[tuple[str, Event]]


# --- the subscription table ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One pipeline service as the sequencer knows it: attach index, name, input topics."""

    index: int
    name: str
    inputs: frozenset[str]


class SubscriptionTable:
    """Which services must answer an entry of a given topic (the static wiring)."""

    def __init__(self, subscribers: Sequence[Subscriber]) -> None:
        if [s.index for s in subscribers] != list(range(len(subscribers))):
            raise ConfigError("subscribers must be listed in attach order, indexed 0, 1, 2, ...")
        for s in subscribers:
            if s.inputs & _RESERVED:
                raise ConfigError(f"service {s.name!r} subscribes to a sequencer topic")
        self.subscribers = tuple(subscribers)
        self._answering: dict[str, tuple[int, ...]] = {}

    @classmethod
    def of(cls, services: Sequence[Service]) -> SubscriptionTable:
        """The table of ``services`` in attach order."""
        return cls([Subscriber(i, s.name, frozenset(s.inputs())) for i, s in enumerate(services)])

    def answering(self, topic: str) -> tuple[int, ...]:
        """Attach indexes of the services subscribed to ``topic``, ascending."""
        found = self._answering.get(topic)
        if found is None:
            found = tuple(s.index for s in self.subscribers if topic in s.inputs)
            self._answering[topic] = found
        return found


# --- messages ------------------------------------------------------------------------------------


class Output(msgspec.Struct, frozen=True):
    """One event a service returned: where it goes and its encoded bytes."""

    topic: str
    key: str
    payload: bytes


class WorkerResult(Event, frozen=True, kw_only=True):
    """Service ``service`` handled log entry ``seq`` and returned ``outputs`` (maybe none).

    Lives on :data:`RESULTS_TOPIC` only (it is not in ``AnyEvent``); its id is derived from
    ``(seq, service)``, so a broker with publish dedup (NATS) drops a replay's repeats."""

    seq: int
    service: int
    name: str
    outputs: tuple[Output, ...] = ()


_results = msgspec.msgpack.Decoder(WorkerResult)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of the log: a root (``parent`` None) or output ``output`` of service
    ``service`` for entry ``parent``."""

    seq: int
    topic: str
    key: str
    event: Event
    root_ts: int
    parent: int | None = None
    service: int | None = None
    output: int | None = None
    feed: int | None = None

    def headers(self) -> dict[str, str]:
        h = {SEQ: str(self.seq), TOPIC: self.topic, ROOT_TS: str(self.root_ts)}
        if self.key:
            h[KEY] = self.key
        for name, value in ((PARENT, self.parent), (SVC, self.service), (OUT, self.output)):
            if value is not None:
                h[name] = str(value)
        if self.feed is not None:
            h[FEED] = str(self.feed)
        return h

    def outgoing(self) -> Outgoing:
        return Outgoing(LOG_TOPIC, self.event, LOG_KEY, self.headers())

    @classmethod
    def of(cls, delivery: Delivery) -> LogEntry:
        h = delivery.headers

        def number(name: str) -> int | None:
            value = h.get(name)
            return None if value is None else int(value)

        return cls(
            seq=int(h[SEQ]),
            topic=h[TOPIC],
            key=h.get(KEY, ""),
            event=delivery.event,
            root_ts=int(h[ROOT_TS]),
            parent=number(PARENT),
            service=number(SVC),
            output=number(OUT),
            feed=number(FEED),
        )


class _InOrder:
    """Hands out log entries in ``tm-seq`` order, whatever order (or how often) they arrive."""

    def __init__(self) -> None:
        self.next = 0
        self._early: dict[int, LogEntry] = {}

    def add(self, deliveries: Iterable[Delivery]) -> list[LogEntry]:
        for delivery in deliveries:
            entry = LogEntry.of(delivery)
            if entry.seq >= self.next:
                self._early.setdefault(entry.seq, entry)
        ready: list[LogEntry] = []
        while self.next in self._early:
            ready.append(self._early.pop(self.next))
            self.next += 1
        return ready


# --- the FIFO as data ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    topic: str
    root_ts: int
    answers: dict[int, WorkerResult] = field(default_factory=dict)


class Cascade:
    """The sequencer's decisions as a pure state machine: numbers entries, collects answers and
    releases outputs in FIFO order. ``idle`` means the FIFO is empty (a root may go in)."""

    def __init__(self, table: SubscriptionTable) -> None:
        self.table = table
        self.next_seq = 0
        self.expanded = 0
        self.feed_roots = 0
        self.last_root_ts = 0
        self.conflicts = 0
        self._pending: dict[int, _Pending] = {}
        self._early: dict[int, dict[int, WorkerResult]] = {}

    @property
    def idle(self) -> bool:
        return self.expanded == self.next_seq

    def waiting_for(self) -> list[str]:
        """Names of the services the oldest unanswered entry waits for."""
        pending = self._pending.get(self.expanded)
        if pending is None:
            return []
        names = self.table.subscribers
        return [
            names[i].name for i in self.table.answering(pending.topic) if i not in pending.answers
        ]

    def root(self, topic: str, event: Event, *, feed: bool) -> LogEntry:
        if feed:
            self.last_root_ts = max(self.last_root_ts, event.ts_event)
        number = self.feed_roots if feed else None
        if feed:
            self.feed_roots += 1
        return self._add(topic, topics.key_for(event), event, self.last_root_ts, feed=number)

    def end(self) -> LogEntry:
        """The closing entry; nobody subscribes to it."""
        marker = Heartbeat(
            event_id="pipeline-end",
            ts_event=self.last_root_ts,
            ts_init=self.last_root_ts,
            source="sequencer",
            service="sequencer",
            status="end",
        )
        return self._add(END_TOPIC, "", marker, self.last_root_ts)

    def answer(self, result: WorkerResult) -> None:
        """Record an answer; a repeat is ignored (and reported if it differs)."""
        if result.seq < self.expanded:
            return
        pending = self._pending.get(result.seq)
        answers = pending.answers if pending else self._early.setdefault(result.seq, {})
        first = answers.setdefault(result.service, result)
        if first.outputs != result.outputs:
            self.conflicts += 1
            log.error(
                "service %s answered entry %d twice with different outputs: its replay is not "
                "deterministic",
                result.name,
                result.seq,
            )

    def expand(self) -> list[LogEntry]:
        """Outputs of every parent that is complete, in order, until one is not."""
        out: list[LogEntry] = []
        while self.expanded < self.next_seq:
            parent = self.expanded
            pending = self._pending[parent]
            answering = self.table.answering(pending.topic)
            if any(i not in pending.answers for i in answering):
                break
            for svc in answering:
                for n, o in enumerate(pending.answers[svc].outputs):
                    child = self._add(
                        o.topic, o.key, decode(o.payload), pending.root_ts, parent, svc, n
                    )
                    out.append(child)
            del self._pending[parent]
            self.expanded += 1
        return out

    def _add(
        self,
        topic: str,
        key: str,
        event: Event,
        root_ts: int,
        parent: int | None = None,
        service: int | None = None,
        output: int | None = None,
        feed: int | None = None,
    ) -> LogEntry:
        seq = self.next_seq
        self.next_seq += 1
        pending = self._pending[seq] = _Pending(topic, root_ts)
        pending.answers.update(self._early.pop(seq, {}))
        return LogEntry(seq, topic, key, event, root_ts, parent, service, output, feed)


# --- the sequencer -------------------------------------------------------------------------------


@dataclass
class SequencerStats:
    entries: int = 0
    published: int = 0
    recovered: int = 0
    conflicts: int = 0
    seconds: float = 0.0


class Sequencer:
    """Writes the log: roots from ``roots`` (the deterministic feed) and, when ``commands`` is a
    topic, operator commands taken between roots; outputs as the workers answer.

    Run it again after a crash with the same ``roots``: it reads what the log holds and goes on
    from there. ``name`` must stay the same across restarts (it names the command group)."""

    def __init__(
        self,
        bus: Bus,
        table: SubscriptionTable,
        roots: Roots,
        *,
        commands: str | None = None,
        command_poll_s: float = 0.2,
        name: str = "sequencer",
        stall_warn_s: float = 30.0,
    ) -> None:
        self.bus = bus
        self.table = table
        self.cascade = Cascade(table)
        self.stats = SequencerStats()
        self._roots = roots
        self._commands_topic = commands
        self._command_poll_s = command_poll_s
        self._name = name
        self._stall_warn_s = stall_warn_s
        self._logged: dict[int, LogEntry] = {}
        self._command_ids: set[str] = set()
        self._commands: Subscription | None = None
        self._taken: Delivery | None = None
        self._next_poll = 0.0

    async def run(self) -> SequencerStats:
        """Until the end entry is in the log."""
        started = time.monotonic()
        if self._commands_topic is not None:
            options = SubscribeOptions(start="latest")
            self._commands = self.bus.subscribe(
                [self._commands_topic], f"{self._name}-commands", self._name, options
            )
        self._logged = await self._read_log()
        self.stats.recovered = len(self._logged)
        group = f"{self._name}-results-{uuid.uuid4().hex[:12]}"
        results = self.bus.subscribe([RESULTS_TOPIC], group, self._name, _READ)
        try:
            await self._sequence(results, _aiter(self._roots))
        finally:
            await results.close()
            await self.bus.delete_group(group, [RESULTS_TOPIC])
            if self._commands is not None:
                await self._commands.close()
        self.stats.conflicts = self.cascade.conflicts
        self.stats.seconds = time.monotonic() - started
        return self.stats

    async def _sequence(
        self, results: Subscription, roots: AsyncIterator[tuple[str, Event]]
    ) -> None:
        cascade = self.cascade
        while True:
            await self._append(cascade.expand())
            if not cascade.idle:
                await self._collect(results)
                continue
            root = await self._next_root(roots)
            if root is None:
                await self._append([cascade.end()])
                return
            await self._append([root])
            if self._taken is not None:  # a command is acked once the log holds it
                await self._taken.ack()
                self._taken = None

    async def _read_log(self) -> dict[int, LogEntry]:
        """Everything a previous incarnation appended, by ``tm-seq``."""
        group = f"{self._name}-recover-{uuid.uuid4().hex[:12]}"
        sub = self.bus.subscribe([LOG_TOPIC], group, self._name, _READ)
        found: dict[int, LogEntry] = {}
        try:
            while True:
                batch = await sub.fetch(_READ.prefetch, timeout=0.05)
                for delivery in batch:
                    entry = LogEntry.of(delivery)
                    found.setdefault(entry.seq, entry)
                    await delivery.ack()
                if not batch and await self.bus.lag(group, LOG_TOPIC) == 0:
                    return found
        finally:
            await sub.close()
            await self.bus.delete_group(group, [LOG_TOPIC])

    async def _append(self, entries: list[LogEntry]) -> None:
        """Publish the entries the log does not hold yet, in one batch."""
        fresh: list[Outgoing] = []
        for entry in entries:
            logged = self._logged.pop(entry.seq, None)
            if logged is None:
                fresh.append(entry.outgoing())
            elif logged.event.event_id != entry.event.event_id or logged.topic != entry.topic:
                raise OperatorError(
                    f"log entry {entry.seq} holds {logged.topic}/{logged.event.event_id}, the "
                    f"replay made {entry.topic}/{entry.event.event_id}: the pipeline is not "
                    "deterministic or the log belongs to another session"
                )
        self.stats.entries += len(entries)
        if fresh:
            await self.bus.publish_many(fresh)
            self.stats.published += len(fresh)

    async def _collect(self, results: Subscription) -> None:
        waited = time.monotonic()
        while not (batch := await results.fetch(_READ.prefetch, timeout=1.0)):
            if time.monotonic() - waited >= self._stall_warn_s:
                waited = time.monotonic()
                log.warning(
                    "entry %d still waits for %s",
                    self.cascade.expanded,
                    ", ".join(self.cascade.waiting_for()),
                )
        for delivery in batch:
            try:
                result = _results.decode(delivery.payload)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.error("ignoring a malformed message on %s: %s", RESULTS_TOPIC, exc)
            else:
                if self._valid(result):
                    self.cascade.answer(result)
            await delivery.ack()

    def _valid(self, result: WorkerResult) -> bool:
        subscribers = self.table.subscribers
        if (
            0 <= result.service < len(subscribers)
            and subscribers[result.service].name == result.name
        ):
            return True
        log.error(
            "ignoring a result of %s as service %d: not in the table", result.name, result.service
        )
        return False

    async def _next_root(self, roots: AsyncIterator[tuple[str, Event]]) -> LogEntry | None:
        """What goes in next: what the log says if it holds it, else a command, else the feed."""
        cascade = self.cascade
        logged = self._logged.get(cascade.next_seq)
        if logged is not None:
            if logged.topic == END_TOPIC:
                return None
            if logged.feed is None:
                self._command_ids.add(logged.event.event_id)
                return cascade.root(logged.topic, logged.event, feed=False)
        elif (command := await self._command()) is not None:
            return command
        try:
            topic, event = await anext(roots)
        except StopAsyncIteration:
            return None
        return cascade.root(topic, event, feed=True)

    async def _command(self) -> LogEntry | None:
        sub, now = self._commands, time.monotonic()
        if sub is None or now < self._next_poll:
            return None
        for delivery in await sub.fetch(1, timeout=0):
            event = delivery.event
            if event.event_id in self._command_ids:  # logged before a crash, then redelivered
                await delivery.ack()
                continue
            self._command_ids.add(event.event_id)
            self._taken = delivery
            return self.cascade.root(delivery.topic, event, feed=False)
        self._next_poll = now + self._command_poll_s
        return None


async def _aiter(roots: Roots) -> AsyncIterator[tuple[str, Event]]:
    if isinstance(roots, AsyncIterable):
        async for item in roots:
            yield item
    else:
        for item in roots:
            yield item


# --- the worker ----------------------------------------------------------------------------------


@dataclass
class WorkerStats:
    entries: int = 0
    handled: int = 0
    divergences: int = 0


class Worker:
    """Runs one service from the log: ``build(clock)`` makes the service with every stamper on
    ``clock``, which the worker sets to each entry's root time, as the one-process platform does.

    Each run is a fresh incarnation: a new service, the log read from the start in a new group
    (deleted at a clean exit). Returns after the end entry, with the service flushed.

    With ``flush_every_s``, the service is also flushed when that long has passed and the next
    entry is a root: every earlier cascade is then complete (fills and the snapshot they cause
    are stored together, as in the one-process run)."""

    def __init__(
        self,
        bus: Bus,
        index: int,
        build: Callable[[SimulatedClock], Service],
        *,
        max_deliver: int = 3,
        flush_every_s: float | None = None,
    ) -> None:
        self.bus = bus
        self.index = index
        self.clock = SimulatedClock()
        self.service = build(self.clock)
        self.stats = WorkerStats()
        self._inputs = frozenset(self.service.inputs())
        self._max_deliver = max_deliver
        self._flush_every_s = flush_every_s
        self._next_flush = time.monotonic() + (flush_every_s or 0.0)
        self._mine: dict[int, tuple[Output, ...]] = {}

    async def run(self) -> WorkerStats:
        name = self.service.name
        group = f"worker-{self.index}-{name}-{uuid.uuid4().hex[:12]}"
        sub = self.bus.subscribe([LOG_TOPIC], group, name, _READ)
        order = _InOrder()
        ended = False
        try:
            while not ended:
                batch = await sub.fetch(_READ.prefetch, timeout=1.0)
                answers: list[Outgoing] = []
                for entry in order.add(batch):
                    if entry.parent is None:
                        await self._flush_if_due()
                    ended = ended or entry.topic == END_TOPIC
                    answer = self._entry(entry)
                    if answer is not None:
                        answers.append(answer)
                if answers:
                    await self.bus.publish_many(answers)
                for delivery in batch:
                    await delivery.ack()
            await self.service.flush()
        finally:
            await sub.close()
        await self.bus.delete_group(group, [LOG_TOPIC])
        return self.stats

    async def _flush_if_due(self) -> None:
        if self._flush_every_s is None or time.monotonic() < self._next_flush:
            return
        await self.service.flush()
        self._next_flush = time.monotonic() + self._flush_every_s

    def _entry(self, entry: LogEntry) -> Outgoing | None:
        self.stats.entries += 1
        self._check(entry)
        if entry.topic not in self._inputs:
            return None
        self.clock.advance_to(entry.root_ts)
        outputs = tuple(Output(o.topic, o.key, encode(o.event)) for o in self._process(entry))
        self.stats.handled += 1
        if outputs:
            self._mine[entry.seq] = outputs
        result = WorkerResult(
            event_id=f"result-{entry.seq}-{self.index}",
            ts_event=entry.root_ts,
            ts_init=entry.root_ts,
            source=self.service.name,
            seq=entry.seq,
            service=self.index,
            name=self.service.name,
            outputs=outputs,
        )
        return Outgoing(RESULTS_TOPIC, result, LOG_KEY)

    def _process(self, entry: LogEntry) -> Sequence[Outgoing]:
        """As :class:`SyncHost`: retried at once, then dropped with nothing published."""
        error: Exception | None = None
        for _attempt in range(self._max_deliver):
            try:
                return self.service.process(entry.topic, entry.event, dedup=False)
            except Exception as exc:  # the error policy: retry, then dead-letter
                error = exc
        self.service.stats.dead_lettered += 1
        log.error("%s: log entry %d dead-lettered: %s", self.service.name, entry.seq, error)
        return ()

    def _check(self, entry: LogEntry) -> None:
        """Compare the log's copy of this service's earlier outputs with what it made now
        (they differ only if the service is not deterministic)."""
        if entry.parent is None:
            self._forget_before(entry.seq)
            return
        self._forget_before(entry.parent)
        if entry.service != self.index or entry.output is None:
            return
        mine = self._mine.get(entry.parent, ())
        if entry.output >= len(mine) or mine[entry.output].payload != encode(entry.event):
            self.stats.divergences += 1
            log.error(
                "%s: log entry %d (output %d of entry %d) differs from what this service made",
                self.service.name,
                entry.seq,
                entry.output,
                entry.parent,
            )

    def _forget_before(self, seq: int) -> None:
        for old in [s for s in self._mine if s < seq]:
            del self._mine[old]
