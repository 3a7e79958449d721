"""The sequenced log: services run one per task (or process) end with the SyncHost result.

The reference is always :class:`SyncHost` on the deterministic memory bus, the services attached
in the same order, the clock advanced to each root's ``ts_event`` (as ``tickmesh run`` does).
The log written by the sequencer must hold the very same events, in the very same order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from tests import servers
from tickmesh import topics
from tickmesh.adapters.feeds import SyntheticTicks
from tickmesh.bars import BarAggregator, TickBarBuilder
from tickmesh.bus import Bus, MemoryBus, Outgoing, create_bus
from tickmesh.config.settings import ExecutionSettings, RiskSettings
from tickmesh.core.clock import SimulatedClock
from tickmesh.core.ids import IdGenerator
from tickmesh.core.stamp import Stamper
from tickmesh.execution import PaperMatchingEngine
from tickmesh.model.codec import encode
from tickmesh.model.enums import CommandType
from tickmesh.model.events import Command, Event, Tick
from tickmesh.portfolio import Portfolio
from tickmesh.risk import RiskManager
from tickmesh.services.market import BarsService
from tickmesh.services.runtime import AsyncRunner, Service, SyncHost
from tickmesh.services.sequencer import (
    END_TOPIC,
    LOG_TOPIC,
    LogEntry,
    Sequencer,
    SubscriptionTable,
    Worker,
)
from tickmesh.services.trading import (
    ExecutionService,
    PortfolioService,
    RiskService,
    StrategyService,
)
from tickmesh.services.wiring import paper_config, risk_limits
from tickmesh.strategies import StrategyRunner

Build = Callable[[SimulatedClock], Service]
Logged = list[tuple[str, bytes]]
T0 = 1_700_000_000_000_000_000
NS = "paper"
IN, X, Y, Z, W = "toy.in", "toy.x", "toy.y", "toy.z", "toy.w"


# --- a toy diamond where the order of B's inputs decides its result -----------------------------


class Fold(Service):
    """Folds every input's price into an order-dependent accumulator; emits on ``emits``
    (twice when ``fanout`` and the price's integer part is a multiple of 3, every ``every``-th
    input otherwise)."""

    def __init__(
        self, name: str, inputs: list[str], emits: str, stamper: Stamper, every: int = 1
    ) -> None:
        super().__init__()
        self.name = name
        self._inputs = inputs
        self.emits = emits
        self.stamper = stamper
        self.every = every
        self.acc = 7
        self.count = 0
        self.fanout = False

    def inputs(self) -> list[str]:
        return self._inputs

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        assert isinstance(event, Tick)
        self.acc = (self.acc * 31 + int(event.price * 1000)) % 1_000_003
        self.count += 1
        if self.count % self.every:
            return ()
        copies = 2 if self.fanout and int(event.price) % 3 == 0 else 1
        return [self._out(event, n) for n in range(copies)]

    def _out(self, event: Tick, n: int) -> Outgoing:
        price = float(self.acc % 1000) + n
        tick = Tick(**self.stamper(), symbol=event.symbol, price=price, size=1.0)
        return Outgoing(self.emits, tick, tick.symbol)


def _stamper(clock: SimulatedClock, source: str, seed: int = 7) -> Stamper:
    return Stamper(clock, IdGenerator(clock, seed=f"{seed}:{source}"), source, NS)


def _fanout(service: Fold) -> Fold:
    service.fanout = True
    return service


def toy_builders() -> list[Build]:
    """A and C read the roots; B reads what both emit (Y listed first); D reads B, A and the
    roots and emits, now and then, on a topic nobody reads."""
    return [
        lambda c: _fanout(Fold("a", [IN], X, _stamper(c, "a"))),
        lambda c: Fold("c", [IN], Y, _stamper(c, "c")),
        lambda c: Fold("b", [Y, X], Z, _stamper(c, "b")),
        lambda c: Fold("d", [Z, IN, X], W, _stamper(c, "d"), every=4),
    ]


def toy_roots(n: int = 40) -> Iterator[tuple[str, Event]]:
    for i in range(n):
        ts = T0 + i * 1_000_000_000
        price = float(i % 7) + i / 10
        yield (
            IN,
            Tick(
                event_id=f"in-{i:05d}", ts_event=ts, ts_init=ts, symbol="S", price=price, size=1.0
            ),
        )


# --- the real trading pipeline ------------------------------------------------------------------


def trading_builders() -> list[Build]:
    tfs = ["1m", "5m"]
    cash = Decimal(100_000)

    def bars(c: SimulatedClock) -> Service:
        builder = TickBarBuilder(_stamper(c, "bars"), "1m", 0)
        return BarsService(builder, BarAggregator(_stamper(c, "bars-agg"), "1m", ["5m"]))

    def strategies(c: SimulatedClock) -> Service:
        runner = StrategyRunner(_stamper(c, "strategies"))
        for symbol in ("AAA", "BBB"):
            runner.add("sma_cross", symbol, {"fast": 2, "slow": 5}, "1m")
        return StrategyService(runner, NS, ["1m"])

    def risk(c: SimulatedClock) -> Service:
        return RiskService(RiskManager(risk_limits(RiskSettings()), _stamper(c, "risk")), NS, tfs)

    def execution(c: SimulatedClock) -> Service:
        config = paper_config(ExecutionSettings())
        engine = PaperMatchingEngine(config, _stamper(c, "execution"), starting_cash=cash)
        return ExecutionService(engine, NS, tfs)

    def portfolio(c: SimulatedClock) -> Service:
        return PortfolioService(Portfolio(cash, _stamper(c, "portfolio")), NS, tfs)

    return [bars, strategies, risk, execution, portfolio]


def trading_roots(n: int) -> Iterator[tuple[str, Event]]:
    feed = SyntheticTicks(
        ["AAA", "BBB"], seed=3, interval_ns=5_000_000_000, stamper=Stamper.deterministic("feed")
    )
    for tick in feed.ticks(n):
        yield topics.MARKET_TICKS, tick


# --- the reference and the distributed runs -----------------------------------------------------


@dataclass
class Outcome:
    log: Logged
    services: list[Service]


def state_of(service: Service) -> object:
    """What a service ended with (its counters, status and, for the toy, its accumulator)."""
    stats = service.stats
    extra: object = None
    if isinstance(service, Fold):
        extra = (service.acc, service.count)
    elif isinstance(service, PortfolioService):
        snap = service.portfolio.snapshot(0)
        extra = (snap.cash, snap.equity, snap.realized_pnl, snap.positions)
    elif isinstance(service, ExecutionService):
        extra = service.engine.working_orders
    return (service.name, stats.events_in, stats.events_out, service.status(), extra)


def run_sync_host(builders: list[Build], roots: Iterator[tuple[str, Event]]) -> Outcome:
    logged: Logged = []
    bus = MemoryBus(
        partitions=1, retention=1_000_000, log_sink=lambda t, _k, p: logged.append((t, p))
    )
    host, clock = SyncHost(bus), SimulatedClock()
    services = [build(clock) for build in builders]
    for service in services:
        host.add(service)
    for topic, event in roots:
        clock.advance_to(event.ts_event)
        host.publish(event, topic)
        host.run_until_idle()
    return Outcome(logged, services)


async def read_log(bus: Bus) -> list[LogEntry]:
    """Every log entry, once each, in ``tm-seq`` order."""
    group = f"reader-{uuid.uuid4().hex[:8]}"
    sub = bus.subscribe([LOG_TOPIC], group, "reader")
    found: dict[int, LogEntry] = {}
    try:
        while True:
            batch = await sub.fetch(512, timeout=0.1)
            for delivery in batch:
                entry = LogEntry.of(delivery)
                found.setdefault(entry.seq, entry)
                await delivery.ack()
            if not batch and await bus.lag(group, LOG_TOPIC) == 0:
                break
    finally:
        await sub.close()
    assert sorted(found) == list(range(len(found))), "the log has holes"
    return [found[s] for s in sorted(found)]


def as_logged(entries: list[LogEntry]) -> Logged:
    assert entries[-1].topic == END_TOPIC
    return [(e.topic, encode(e.event)) for e in entries[:-1]]


async def run_distributed(
    bus: Bus, builders: list[Build], roots: Iterator[tuple[str, Event]], timeout: float = 15.0
) -> Outcome:
    table = SubscriptionTable.of([build(SimulatedClock()) for build in builders])
    workers = [Worker(bus, i, build) for i, build in enumerate(builders)]
    sequencer = Sequencer(bus, table, roots)
    jobs = [sequencer.run(), *(w.run() for w in workers)]
    await asyncio.wait_for(asyncio.gather(*jobs), timeout)
    assert all(w.stats.divergences == 0 for w in workers)
    return Outcome(as_logged(await read_log(bus)), [w.service for w in workers])


def assert_same(got: Outcome, want: Outcome) -> None:
    assert len(got.log) == len(want.log)
    assert got.log == want.log
    assert [state_of(s) for s in got.services] == [state_of(s) for s in want.services]


async def until(condition: Callable[[], bool], timeout: float = 15.0, poll: float = 0) -> None:
    """Wait for ``condition``, checking it at every turn of the loop (or every ``poll`` s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(poll)


@pytest.fixture
def memory_bus() -> MemoryBus:
    return MemoryBus(partitions=4, retention=1_000_000)


# --- memory bus ---------------------------------------------------------------------------------


async def test_toy_diamond_over_workers_gives_the_sync_host_log_and_states(
    memory_bus: MemoryBus,
) -> None:
    want = run_sync_host(toy_builders(), toy_roots())

    got = await run_distributed(memory_bus, toy_builders(), toy_roots())

    assert_same(got, want)
    assert {t for t, _ in got.log} == {IN, X, Y, Z, W}


async def test_toy_diamond_under_naive_async_runners_differs_from_the_sync_host(
    memory_bus: MemoryBus,
) -> None:
    """The case the sequencer exists for: consuming each topic as it arrives reorders B's
    inputs, so B ends elsewhere (this is what the test above would catch)."""
    want = run_sync_host(toy_builders(), toy_roots())
    clock = SimulatedClock()
    services = [build(clock) for build in toy_builders()]
    runners = [AsyncRunner(memory_bus, s, heartbeat_s=3600) for s in services]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    for topic, event in toy_roots():
        clock.advance_to(event.ts_event)
        await memory_bus.publish(topic, event, "S")

    await until(
        lambda: not sum(memory_bus.group_lags().values()) and services[3].stats.events_in > 0
    )
    for runner in runners:
        runner.stop()
    await asyncio.gather(*tasks)

    assert state_of(services[2]) != state_of(want.services[2])


async def test_trading_pipeline_over_workers_gives_the_sync_host_fills_and_portfolio(
    memory_bus: MemoryBus,
) -> None:
    want = run_sync_host(trading_builders(), trading_roots(600))

    got = await run_distributed(memory_bus, trading_builders(), trading_roots(600))

    assert_same(got, want)
    kinds = {t for t, _ in got.log}
    assert {topics.orders_events(NS), topics.signals_validated(NS)} <= kinds


async def test_operator_command_becomes_a_root_between_feed_events(memory_bus: MemoryBus) -> None:
    builders = trading_builders()
    table = SubscriptionTable.of([b(SimulatedClock()) for b in builders])
    workers = [Worker(memory_bus, i, b) for i, b in enumerate(builders)]
    sequencer = Sequencer(
        memory_bus, table, trading_roots(50), commands=topics.OPS_COMMANDS, command_poll_s=0
    )
    halt = Command(event_id="cmd-1", ts_event=T0, ts_init=T0, command=CommandType.HALT)
    jobs = asyncio.gather(sequencer.run(), *(w.run() for w in workers))
    await until(lambda: sequencer.cascade.feed_roots >= 10)

    await memory_bus.publish(topics.OPS_COMMANDS, halt, "ops")
    await asyncio.wait_for(jobs, 10)

    entries = await read_log(memory_bus)
    commands = [e for e in entries if e.topic == topics.OPS_COMMANDS]
    assert [e.event.event_id for e in commands] == ["cmd-1"]
    assert commands[0].parent is None
    assert commands[0].feed is None
    assert commands[0].seq > 10
    roots = [(e.topic, e.event) for e in entries if e.parent is None and e.topic != END_TOPIC]
    want = run_sync_host(builders, iter(roots))
    got = Outcome(as_logged(entries), [w.service for w in workers])
    assert_same(got, want)
    assert workers[2].service.status()["state"] == "HALTED"


# --- crashes ------------------------------------------------------------------------------------


async def test_sequencer_restarted_on_any_cut_of_the_log_completes_it_identically() -> None:
    """A crash leaves a prefix of the log, maybe with a hole where a batch was half sent: a
    new sequencer (and new workers) publish exactly the missing entries."""
    reference = MemoryBus(partitions=1, retention=1_000_000)
    want = await run_distributed(reference, toy_builders(), toy_roots())
    entries = await read_log(reference)
    rng = random.Random(11)
    cuts = sorted(rng.sample(range(1, len(entries)), 6))

    for cut in cuts:
        bus = MemoryBus(partitions=4, retention=1_000_000)
        kept = [e for e in entries[:cut] if e.seq != cut - 2 or e.parent is None]  # maybe a hole
        await bus.publish_many([e.outgoing() for e in kept])

        got = await run_distributed(bus, toy_builders(), toy_roots())

        assert_same(got, want)


class Chaos:
    """Runs the sequencer and workers as tasks, each incarnation with its own bus (a process);
    kills a seeded-random victim at seeded-random progress points and starts a fresh one."""

    def __init__(
        self,
        open_bus: Callable[[], Awaitable[Bus]],
        close_bus: Callable[[Bus], Awaitable[None]],
        builders: list[Build],
        roots: Callable[[], Iterator[tuple[str, Event]]],
    ) -> None:
        self.open_bus, self.close_bus = open_bus, close_bus
        self.builders, self.roots = builders, roots
        self.table = SubscriptionTable.of([b(SimulatedClock()) for b in builders])
        self.workers: dict[int, Worker] = {}
        self.tasks: dict[int, asyncio.Task[object]] = {}
        self.buses: dict[int, Bus] = {}
        self.sequencer: Sequencer | None = None
        self.killed: list[int] = []
        self.poll = 0.0

    async def start(self, slot: int) -> None:
        """Slot 0 is the sequencer, slot i + 1 worker i."""
        bus = await self.open_bus()
        job: Coroutine[Any, Any, object]
        if slot == 0:
            self.sequencer = Sequencer(bus, self.table, self.roots())
            job = self.sequencer.run()
        else:
            worker = Worker(bus, slot - 1, self.builders[slot - 1])
            self.workers[slot - 1] = worker
            job = worker.run()
        self.buses[slot], self.tasks[slot] = bus, asyncio.create_task(job)

    async def kill(self, slot: int) -> None:
        self.tasks[slot].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.tasks[slot]
        await self.close_bus(self.buses[slot])
        self.killed.append(slot)

    def reached(self, seq: int) -> bool:
        """The log got to ``seq`` (a restarted sequencer first re-reads it)."""
        assert self.sequencer is not None
        return self.sequencer.cascade.next_seq >= seq

    @property
    def services(self) -> list[Service]:
        return [self.workers[i].service for i in sorted(self.workers)]

    async def run(self, rng: random.Random, kills: int, expected_entries: int) -> None:
        slots = len(self.builders) + 1
        for slot in range(slots):
            await self.start(slot)
        for at in sorted(rng.sample(range(1, expected_entries * 9 // 10), kills)):
            await until(partial(self.reached, at), poll=self.poll)
            victim = rng.randrange(slots)
            await self.kill(victim)
            await self.start(victim)
        await asyncio.wait_for(asyncio.gather(*self.tasks.values()), 15)
        for bus in self.buses.values():
            await self.close_bus(bus)


PIPELINES: dict[
    str, tuple[Callable[[], list[Build]], Callable[[], Iterator[tuple[str, Event]]]]
] = {
    "toy": (toy_builders, lambda: toy_roots(60)),
    "trading": (trading_builders, lambda: trading_roots(400)),
}


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
async def test_killed_and_restarted_sequencer_and_workers_end_as_the_uninterrupted_run(
    pipeline: str,
) -> None:
    builders, roots = PIPELINES[pipeline]
    want = run_sync_host(builders(), roots())
    shared = MemoryBus(partitions=4, retention=1_000_000)

    async def same() -> Bus:
        return shared

    async def keep(_bus: Bus) -> None:
        return None

    chaos = Chaos(same, keep, builders(), roots)
    await chaos.run(random.Random(5), kills=8, expected_entries=len(want.log))

    got = Outcome(as_logged(await read_log(shared)), chaos.services)
    assert len(chaos.killed) == 8
    assert sum(w.stats.divergences for w in chaos.workers.values()) == 0
    assert 0 in chaos.killed  # the sequencer
    assert len(set(chaos.killed)) > 3
    assert_same(got, want)


# --- real servers -------------------------------------------------------------------------------


ServerBus = Callable[[], Awaitable[Bus]]


@pytest.fixture(params=["redis", "nats"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[ServerBus]:
    """Opens buses (one per simulated process) on a fresh prefix; purges it afterwards."""
    url = servers.require(request.param)
    prefix = f"seq-{uuid.uuid4().hex[:10]}"
    opened: list[Bus] = []

    async def open_bus() -> Bus:
        bus = create_bus(url, prefix=prefix)
        await bus.start()
        opened.append(bus)
        return bus

    try:
        yield open_bus
    finally:
        for bus in opened:
            await bus.close()
        admin = await open_bus()
        try:
            await admin.purge()
        finally:
            await admin.close()


async def _close(bus: Bus) -> None:
    await bus.close()


@pytest.mark.integration
async def test_trading_pipeline_over_a_server_gives_the_sync_host_result(server: ServerBus) -> None:
    want = run_sync_host(trading_builders(), trading_roots(240))

    got = await run_distributed(await server(), trading_builders(), trading_roots(240))

    assert_same(got, want)
    assert topics.orders_events(NS) in {t for t, _ in got.log}


@pytest.mark.integration
@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
async def test_kills_over_a_server_end_as_the_uninterrupted_run(
    server: ServerBus, pipeline: str
) -> None:
    builders, roots = PIPELINES[pipeline]
    want = run_sync_host(builders(), roots())
    chaos = Chaos(server, _close, builders(), roots)
    chaos.poll = 0.002

    await chaos.run(random.Random(9), kills=5, expected_entries=len(want.log))

    reader = await server()
    got = Outcome(as_logged(await read_log(reader)), chaos.services)
    assert len(chaos.killed) == 5
    assert sum(w.stats.divergences for w in chaos.workers.values()) == 0
    assert 0 in chaos.killed
    assert_same(got, want)
