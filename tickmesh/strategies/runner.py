"""Runs strategy instances: routes bars and ticks to them, collects their signals, keeps their
positions from fills, and contains their failures.

Pure: events in, events out. A strategy that raises loses that call's signals and the runner
returns a :class:`ServiceError` instead; after ``max_errors`` failures the instance is
quarantined (never called again until enabled) while the other instances keep trading.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from tickmesh.core.stamp import Stamper
from tickmesh.model import Bar, BarBatch, Event, Fill, ServiceError, Tick
from tickmesh.strategies.base import Strategy, StrategyContext
from tickmesh.strategies.registry import get_strategy

SERVICE = "strategies"
_SEEN_FILLS = 4096


class StrategyInstanceConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One instance to run: a registered strategy on one symbol. ``id`` defaults to
    ``"{strategy}:{symbol}"``; ``timeframe`` to the strategy's own default."""

    strategy: str
    symbol: str
    params: dict[str, Any] = {}
    timeframe: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class StrategyStatus:
    """What an operator sees about one instance."""

    id: str
    name: str
    symbol: str
    timeframe: str
    params: dict[str, Any]
    enabled: bool
    quarantined: bool
    errors: int
    position: Decimal
    last_error: str = ""


@dataclass(slots=True, eq=False)
class _Instance:
    strategy: Strategy
    ctx: StrategyContext
    enabled: bool = True
    quarantined: bool = False
    errors: int = 0
    last_error: str = ""

    def status(self) -> StrategyStatus:
        return StrategyStatus(
            id=self.ctx.strategy_id,
            name=self.ctx.strategy,
            symbol=self.ctx.symbol,
            timeframe=self.ctx.timeframe,
            params=self.strategy.params,
            enabled=self.enabled,
            quarantined=self.quarantined,
            errors=self.errors,
            position=self.ctx.position,
            last_error=self.last_error,
        )


@dataclass(slots=True)
class _SeenFills:
    """Recent (order id, fill id) pairs, so a redelivered fill moves no position twice."""

    keys: set[tuple[str, str]] = field(default_factory=set)
    order: deque[tuple[str, str]] = field(default_factory=deque)

    def first_time(self, fill: Fill) -> bool:
        key = (fill.order_id, fill.fill_id)
        if key in self.keys:
            return False
        self.keys.add(key)
        self.order.append(key)
        if len(self.order) > _SEEN_FILLS:
            self.keys.discard(self.order.popleft())
        return True


class StrategyRunner:
    """Holds one strategy instance per (strategy id, symbol) and drives them from events.

    Disabled instances still see market data, so their indicators stay warm, but their signals
    are dropped; enabling an instance also lifts its quarantine and clears its error count.
    """

    def __init__(
        self,
        stamper: Stamper,
        instances: Iterable[StrategyInstanceConfig] = (),
        max_errors: int = 5,
    ) -> None:
        if max_errors < 1:
            raise ValueError(f"max_errors must be >= 1, got {max_errors}")
        self._stamper = stamper
        self._max_errors = max_errors
        self._instances: dict[str, _Instance] = {}
        self._by_bar: dict[tuple[str, str], list[_Instance]] = {}
        self._by_symbol: dict[str, list[_Instance]] = {}
        self._seen_fills = _SeenFills()
        for config in instances:
            self.add(config.strategy, config.symbol, config.params, config.timeframe, config.id)

    def add(
        self,
        strategy_name: str,
        symbol: str,
        params: Mapping[str, object] | None = None,
        timeframe: str | None = None,
        instance_id: str | None = None,
    ) -> str:
        """Create, validate and start an instance; returns its strategy id.

        Raises ``KeyError`` for an unknown strategy and ``ValueError`` for bad params, an
        unknown timeframe or a duplicate id.
        """
        strategy = get_strategy(strategy_name)(params, timeframe=timeframe)
        strategy_id = instance_id or f"{strategy_name}:{symbol}"
        if strategy_id in self._instances:
            raise ValueError(f"strategy id {strategy_id!r} is already running")
        ctx = StrategyContext(
            self._stamper,
            strategy_id=strategy_id,
            strategy=strategy_name,
            symbol=symbol,
            timeframe=strategy.timeframe,
        )
        strategy.on_start(ctx)
        inst = _Instance(strategy, ctx)
        self._instances[strategy_id] = inst
        self._by_bar.setdefault((symbol, ctx.timeframe), []).append(inst)
        self._by_symbol.setdefault(symbol, []).append(inst)
        return strategy_id

    def remove(self, strategy_id: str) -> None:
        inst = self._instances.pop(self._known(strategy_id))
        self._by_bar[(inst.ctx.symbol, inst.ctx.timeframe)].remove(inst)
        self._by_symbol[inst.ctx.symbol].remove(inst)

    def on_bar(self, bar: Bar) -> list[Event]:
        """Signals (and errors) from every instance on this bar's symbol and timeframe."""
        events: list[Event] = []
        for inst in self._by_bar.get((bar.symbol, bar.timeframe), ()):
            events += self._call(inst, bar.close, bar.ts_event, inst.strategy.on_bar, bar)
        return events

    def on_tick(self, tick: Tick) -> list[Event]:
        """Signals (and errors) from every instance on this tick's symbol."""
        events: list[Event] = []
        for inst in self._by_symbol.get(tick.symbol, ()):
            events += self._call(inst, tick.price, tick.ts_event, inst.strategy.on_tick, tick)
        return events

    def candidate_times(self, series: Mapping[str, BarBatch]) -> npt.NDArray[np.int64] | None:
        """For a replay of ``series`` (symbol -> its whole run of bars) into these instances,
        fresh: the bar open times at which some instance may emit a signal (see
        :meth:`Strategy.candidates`), sorted; None when an instance cannot tell."""
        times: list[npt.NDArray[np.int64]] = [np.empty(0, np.int64)]
        for inst in self._instances.values():
            bars = series.get(inst.ctx.symbol)
            if bars is None or bars.timeframe != inst.ctx.timeframe:
                continue
            index = inst.strategy.candidates(bars)
            if index is None:
                return None
            times.append(np.asarray(bars.ts_open)[index])
        return np.unique(np.concatenate(times))

    def fast_forward(self, bars: BarBatch) -> list[Event]:
        """Hand a run of bars on which no instance emits to every instance on that series."""
        events: list[Event] = []
        for inst in self._by_bar.get((bars.symbol, bars.timeframe), ()):
            if inst.quarantined:
                continue
            inst.ctx.set_market(float(bars.close[-1]), bars.ts_event)
            try:
                inst.strategy.fast_forward(bars)
            except Exception as exc:
                events.append(self._failed(inst, exc, bars.ts_event))
        return events

    def on_fill(self, fill: Fill) -> None:
        """Move the position of the instance the fill belongs to; other fills are ignored."""
        inst = self._instances.get(fill.strategy_id)
        if inst is None or inst.ctx.symbol != fill.symbol:
            return
        if self._seen_fills.first_time(fill):
            inst.ctx.apply_fill(fill)

    def restore_positions(self, positions: Iterable[tuple[str, str, Decimal]]) -> None:
        """Set instances' positions from the ledger at start-up; unknown instances are skipped."""
        for strategy_id, symbol, quantity in positions:
            inst = self._instances.get(strategy_id)
            if inst is not None and inst.ctx.symbol == symbol:
                inst.ctx.position = quantity

    def enable(self, strategy_id: str) -> None:
        inst = self._instances[self._known(strategy_id)]
        inst.enabled, inst.quarantined, inst.errors = True, False, 0

    def disable(self, strategy_id: str) -> None:
        self._instances[self._known(strategy_id)].enabled = False

    def status(self) -> list[StrategyStatus]:
        return [inst.status() for inst in self._instances.values()]

    def warmup_bars(self) -> int:
        """The longest warm-up among the instances (see :meth:`Strategy.warmup_bars`)."""
        return max((i.strategy.warmup_bars() for i in self._instances.values()), default=0)

    def _known(self, strategy_id: str) -> str:
        if strategy_id not in self._instances:
            known = ", ".join(self._instances) or "none"
            raise KeyError(f"no strategy instance {strategy_id!r}; running: {known}")
        return strategy_id

    def _call(
        self,
        inst: _Instance,
        price: float,
        ts_event: int,
        handler: Callable[[Any, StrategyContext], None],
        event: Bar | Tick,
    ) -> list[Event]:
        if inst.quarantined:
            return []
        inst.ctx.set_market(price, ts_event)
        try:
            handler(event, inst.ctx)
        except Exception as exc:
            inst.ctx.drop_signals()
            return [self._failed(inst, exc, ts_event)]
        signals = inst.ctx.take_signals()
        return list(signals) if inst.enabled else []

    def _failed(self, inst: _Instance, exc: Exception, ts_event: int) -> ServiceError:
        inst.errors += 1
        inst.last_error = f"{type(exc).__name__}: {exc}"
        message = str(exc)
        if inst.errors >= self._max_errors:
            inst.quarantined = True
            message += f" (quarantined after {inst.errors} errors)"
        return ServiceError(
            **self._stamper(ts_event),
            service=SERVICE,
            subject=inst.ctx.strategy_id,
            error_type=type(exc).__name__,
            message=message,
        )
