"""The per-namespace trading services: thin shells routing bus topics to pure domain objects."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence

from tickmesh import topics
from tickmesh.bus.base import Outgoing
from tickmesh.execution import PaperMatchingEngine
from tickmesh.model.enums import CommandType
from tickmesh.model.events import (
    Bar,
    BarBatch,
    Command,
    Event,
    OrderEvent,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    PortfolioSnapshot,
    ServiceError,
    Signal,
    Tick,
)
from tickmesh.portfolio import Portfolio
from tickmesh.risk import RiskManager
from tickmesh.services.runtime import QUIET_FOREVER, Service
from tickmesh.strategies import StrategyRunner


class NamespacedService(Service):
    """A service whose outputs go to its namespace's topics."""

    def __init__(self, namespace: str) -> None:
        super().__init__()
        self.namespace = namespace

    def route(self, events: Iterable[Event]) -> list[Outgoing]:
        ns = self.namespace
        return [Outgoing(topics.topic_for(e, ns), e, topics.key_for(e)) for e in events]


def _bar_topics(timeframes: Iterable[str]) -> list[str]:
    return [topics.bars(tf) for tf in sorted(set(timeframes))]


class StrategyService(NamespacedService):
    name = "strategies"

    def __init__(self, runner: StrategyRunner, namespace: str, timeframes: Iterable[str]) -> None:
        super().__init__(namespace)
        self.runner = runner
        self.timeframes = sorted(set(timeframes))
        self._candidates: list[int] | None = None

    def inputs(self) -> list[str]:
        return [
            *_bar_topics(self.timeframes),
            topics.orders_events(self.namespace),
            topics.OPS_COMMANDS,
        ]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        if isinstance(event, Bar):
            return self.route(self.runner.on_bar(event))
        if isinstance(event, OrderFilled | OrderPartiallyFilled):
            self.runner.on_fill(event.fill)
        elif isinstance(event, Command):
            return self._command(event)
        elif isinstance(event, BarBatch):
            return self.route(self.runner.fast_forward(event))
        return ()

    def prepare_replay(self, series: Mapping[str, BarBatch]) -> None:
        times = self.runner.candidate_times(series)
        self._candidates = None if times is None else times.tolist()

    def quiet_until(self, ts: int) -> int:
        """Until the next bar on which a strategy may emit (none known: every bar)."""
        candidates = self._candidates
        if candidates is None:
            return ts
        at = bisect.bisect_left(candidates, ts)
        return candidates[at] if at < len(candidates) else QUIET_FOREVER

    def _command(self, cmd: Command) -> list[Outgoing]:
        strategy_id = cmd.args.get("strategy_id", "")
        action = {
            CommandType.ENABLE_STRATEGY: self.runner.enable,
            CommandType.DISABLE_STRATEGY: self.runner.disable,
        }.get(cmd.command)
        if action is None:
            return []
        try:
            action(strategy_id)
        except KeyError as exc:
            error = ServiceError(
                event_id=f"err-{cmd.event_id}",
                ts_event=cmd.ts_event,
                ts_init=cmd.ts_init,
                source=self.name,
                namespace=self.namespace,
                correlation_id=cmd.event_id,
                service=self.name,
                subject=strategy_id,
                error_type="UnknownStrategy",
                message=str(exc),
            )
            return self.route([error])
        return []


class RiskService(NamespacedService):
    name = "risk"

    def __init__(self, manager: RiskManager, namespace: str, timeframes: Iterable[str]) -> None:
        super().__init__(namespace)
        self.manager = manager
        self.timeframes = sorted(set(timeframes))

    def inputs(self) -> list[str]:
        ns = self.namespace
        return [
            topics.signals_raw(ns),
            topics.MARKET_TICKS,
            *_bar_topics(self.timeframes),
            topics.orders_events(ns),
            topics.portfolio(ns),
            topics.OPS_COMMANDS,
        ]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        m = self.manager
        if isinstance(event, Signal):
            return self.route(m.on_signal(event))
        if isinstance(event, Tick):
            return self.route(m.on_tick(event))
        if isinstance(event, Bar):
            return self.route(m.on_bar(event))
        if isinstance(event, OrderEvent):
            return self.route(m.on_order_event(event))
        if isinstance(event, PortfolioSnapshot) and not event.strategy_id:
            return self.route(m.on_portfolio(event))
        if isinstance(event, Command):
            return self.route(m.on_command(event))
        if isinstance(event, BarBatch):
            return self.route(m.on_bar_batch(event))
        return ()

    def quiet_until(self, ts: int) -> int:
        """Market data only updates prices and ATRs here: never needed one by one."""
        return QUIET_FOREVER

    def status(self) -> dict[str, object]:
        return {"state": str(self.manager.state)}


class ExecutionService(NamespacedService):
    """The paper venue; a HALT command cancels every working order.

    A symbol that trades as ticks is matched on its ticks only; its bars (built from those same
    ticks) would match the same trades twice. Symbols fed as bars alone match on bars.
    """

    name = "execution"

    def __init__(
        self, engine: PaperMatchingEngine, namespace: str, timeframes: Iterable[str]
    ) -> None:
        super().__init__(namespace)
        self.engine = engine
        self.timeframes = sorted(set(timeframes))
        self._tick_symbols: set[str] = set()

    def inputs(self) -> list[str]:
        return [
            topics.signals_validated(self.namespace),
            topics.MARKET_TICKS,
            *_bar_topics(self.timeframes),
            topics.OPS_COMMANDS,
        ]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        if isinstance(event, OrderIntent):
            return self.route(self.engine.on_intent(event))
        if isinstance(event, Tick):
            self._tick_symbols.add(event.symbol)
            return self.route(self.engine.on_tick(event))
        if isinstance(event, Bar) and event.symbol not in self._tick_symbols:
            return self.route(self.engine.on_bar(event))
        if isinstance(event, Command) and event.command is CommandType.HALT:
            return self.route(self.engine.cancel_all(event.ts_event, "HALT"))
        if isinstance(event, BarBatch) and len(event):
            # open prints are ticks: the bars themselves are then not matched on
            self._tick_symbols.add(event.symbol)
            self.engine.fast_forward(event.symbol, float(event.open[-1]))
        return ()

    def quiet_until(self, ts: int) -> int:
        """While no order is working, market data only moves the last price."""
        return ts if self.engine.working_orders else QUIET_FOREVER


class PortfolioService(NamespacedService):
    """Applies fills, marks to market, and publishes a namespace snapshot after every fill and
    at most once per ``snapshot_interval_ns`` of event time otherwise."""

    name = "portfolio"

    def __init__(
        self,
        portfolio: Portfolio,
        namespace: str,
        timeframes: Iterable[str],
        snapshot_interval_ns: int = 60 * 1_000_000_000,
    ) -> None:
        super().__init__(namespace)
        self.portfolio = portfolio
        self.timeframes = sorted(set(timeframes))
        self.snapshot_interval_ns = snapshot_interval_ns
        self._last_snapshot = -1
        self._longest_bar = 0
        self.fills_applied = 0

    def inputs(self) -> list[str]:
        return [
            topics.orders_events(self.namespace),
            topics.MARKET_TICKS,
            *_bar_topics(self.timeframes),
        ]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        if isinstance(event, OrderFilled | OrderPartiallyFilled):
            if self.portfolio.apply_fill(event.fill):
                self.fills_applied += 1
                return self._snapshot(event.ts_event)
            return ()
        if isinstance(event, Tick):
            self.portfolio.mark(event.symbol, event.price)
        elif isinstance(event, Bar):
            self.portfolio.mark(event.symbol, event.close)
        elif isinstance(event, BarBatch) and len(event):
            self.portfolio.mark(event.symbol, float(event.close[-1]))
        else:
            return ()
        if event.ts_event - self._last_snapshot >= self.snapshot_interval_ns:
            return self._snapshot(event.ts_event)
        return ()

    def prepare_replay(self, series: Mapping[str, BarBatch]) -> None:
        self._longest_bar = max(
            (topics.timeframe_seconds(bars.timeframe) * 1_000_000_000 for bars in series.values()),
            default=0,
        )

    def quiet_until(self, ts: int) -> int:
        """Until the bar during which the next timed snapshot falls due."""
        due = self._last_snapshot + self.snapshot_interval_ns
        return max(ts, due - self._longest_bar) if due < QUIET_FOREVER else QUIET_FOREVER

    def _snapshot(self, ts_event: int) -> list[Outgoing]:
        self._last_snapshot = ts_event
        return self.route([self.portfolio.snapshot(ts_event)])
