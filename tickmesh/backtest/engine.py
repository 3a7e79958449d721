"""The event-driven backtest: the same strategy, risk, execution and portfolio services as
``tickmesh run``, on the deterministic memory bus with a simulated clock, fed stored bars.

Each bar enters as two market events, in time order across symbols: its open (a trade print at
``ts_open``, where orders placed on earlier bars fill) and then the bar itself (at its close,
where strategies decide and positions are marked). That is backtesting.py's order of things:
market orders fill at the next bar's open and a strategy sees its new position before deciding
on that bar. Limit orders therefore only match at the open in a bar backtest.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tickmesh import topics
from tickmesh.adapters.feeds.files import bar_events
from tickmesh.analytics import BacktestStats, Trade, TradeBuilder, compute_stats
from tickmesh.analytics.trades import OpenTrade
from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.core.clock import SimulatedClock
from tickmesh.core.ids import IdGenerator
from tickmesh.core.stamp import Stamper
from tickmesh.execution import PaperConfig, PaperMatchingEngine
from tickmesh.model.events import (
    Bar,
    Event,
    Fill,
    OrderDenied,
    OrderFilled,
    OrderPartiallyFilled,
    Tick,
)
from tickmesh.model.instrument import Instrument
from tickmesh.portfolio import Portfolio
from tickmesh.risk import RiskLimits, RiskManager
from tickmesh.services.runtime import Service, SyncHost
from tickmesh.services.trading import (
    ExecutionService,
    PortfolioService,
    RiskService,
    StrategyService,
)
from tickmesh.storage.candles import Candles
from tickmesh.strategies import StrategyRunner

NAMESPACE = "backtest"
_NS = 1_000_000_000
_NEVER = 1 << 62


@dataclass(frozen=True)
class StrategySpec:
    """One strategy on some symbols; ``id`` tells two instances of the same strategy apart."""

    name: str
    symbols: Sequence[str]
    params: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class BacktestConfig:
    """How the backtest trades. The defaults are backtesting.py's: all in at the next bar's
    open, whole units, no fees; risk limits off (set ``limits`` to check them).

    With several strategy instances each entry commits ``position_fraction`` of equity (default
    an equal share, 1 / instances), so one instance cannot starve the others of cash.
    """

    strategies: Sequence[StrategySpec]
    timeframe: str
    cash: Decimal = Decimal(10_000)
    commission: Decimal = Decimal(0)
    slippage_bps: Decimal = Decimal(0)
    lot_size: Decimal = Decimal(1)
    price_increment: Decimal = Decimal("0.00000001")
    allow_short: bool = True
    position_fraction: float | None = None
    limits: RiskLimits | None = None

    def instrument(self, symbol: str) -> Instrument:
        return Instrument(
            symbol=symbol,
            price_increment=self.price_increment,
            size_increment=self.lot_size,
            min_size=self.lot_size,
        )


@dataclass
class BacktestResult:
    stats: BacktestStats
    fills: list[Fill]
    trades: list[Trade]
    open_trades: list[OpenTrade]
    equity: list[tuple[int, Decimal]]
    bars: int
    rejections: dict[str, int]
    elapsed_s: float

    @property
    def bars_per_s(self) -> float:
        return self.bars / self.elapsed_s if self.elapsed_s > 0 else 0.0


def open_limits(all_in_fraction: float = 1.0) -> RiskLimits:
    """Every pre-trade limit off, all-in sizing: a backtest measures the strategy."""
    return RiskLimits(
        max_open_positions=None,
        price_band_pct=None,
        duplicate_window_ns=0,
        max_orders_per_window=None,
        stale_after_ns=None,
        max_position_pct_of_equity=None,
        reduce_at_drawdown_pct=None,
        halt_at_drawdown_pct=None,
        sizing="all_in",
        all_in_fraction=all_in_fraction,
    )


class _Recorder(Service):
    """Keeps what the statistics need besides the equity curve: fills and rejections."""

    name = "backtest-recorder"

    def __init__(self) -> None:
        super().__init__()
        self.fills: list[Fill] = []
        self.rejections: dict[str, int] = {}

    def inputs(self) -> list[str]:
        return [topics.orders_events(NAMESPACE), topics.signals_rejected(NAMESPACE)]

    def handle(self, topic: str, event: Event) -> tuple[()]:
        if isinstance(event, OrderFilled | OrderPartiallyFilled):
            self.fills.append(event.fill)
        elif isinstance(event, OrderDenied):
            reason = event.reason.value
            self.rejections[reason] = self.rejections.get(reason, 0) + 1
        return ()


class Backtest:
    """One run over ``data`` (symbol -> candles of ``config.timeframe``)."""

    def __init__(self, config: BacktestConfig, data: Mapping[str, Candles], seed: str = "") -> None:
        if not config.strategies:
            raise ValueError("a backtest needs at least one strategy")
        self.config = config
        self.data = dict(data)
        self.seed = seed
        self.clock = SimulatedClock()
        self.bus = MemoryBus(partitions=1, retention=64)
        self.host = SyncHost(self.bus)
        self._build()

    def _stamper(self, source: str) -> Stamper:
        ids = IdGenerator(self.clock, seed=f"{self.seed}:{source}")
        return Stamper(self.clock, ids, source, NAMESPACE)

    def _build(self) -> None:
        cfg, tfs = self.config, [self.config.timeframe]
        # Snapshots feed risk's equity: after every fill, and once per bar only when limits that
        # watch equity between fills (drawdown gates) are configured.
        span = topics.timeframe_seconds(cfg.timeframe) * _NS if cfg.limits else _NEVER
        instruments = {symbol: cfg.instrument(symbol) for symbol in self.data}
        self.portfolio = Portfolio(cfg.cash, self._stamper("portfolio"), instruments)
        paper = PaperConfig(
            fee_bps=cfg.commission * 10_000,
            slippage_bps=cfg.slippage_bps,
            fill_on="tick",
            allow_short=cfg.allow_short,
        )
        engine = PaperMatchingEngine(
            paper, self._stamper("execution"), instruments, starting_cash=cfg.cash
        )
        self.runner = self._strategies()
        instances = len(self.runner.status())
        share = cfg.position_fraction or 1.0 / instances
        limits = cfg.limits or open_limits(share)
        risk = RiskManager(limits, self._stamper("risk"), instruments)
        self.recorder = _Recorder()
        for service in (
            ExecutionService(engine, NAMESPACE, tfs),
            PortfolioService(self.portfolio, NAMESPACE, tfs, snapshot_interval_ns=span),
            StrategyService(self.runner, NAMESPACE, tfs),
            RiskService(risk, NAMESPACE, tfs),
            self.recorder,
        ):
            self.host.add(service)

    def _strategies(self) -> StrategyRunner:
        runner = StrategyRunner(self._stamper("strategies"))
        for spec in self.config.strategies:
            for symbol in spec.symbols:
                if symbol not in self.data:
                    raise ValueError(f"strategy {spec.name}: no data for symbol {symbol}")
                instance = f"{spec.id}:{symbol}" if spec.id else None
                runner.add(spec.name, symbol, dict(spec.params), self.config.timeframe, instance)
        return runner

    def run(self, progress: Callable[[int, int], None] | None = None) -> BacktestResult:
        """Replay every bar; ``progress(done, total)`` is called every 4096 bars."""
        started = time.perf_counter()
        equity: list[tuple[int, Decimal]] = []
        total = sum(len(c) for c in self.data.values())
        self.host.start()
        self._opening_snapshot()
        done = 0
        for ts_open, group in _by_time(self._bars()):
            for tick in (_open_print(bar) for bar in group):
                self._publish(topics.MARKET_TICKS, tick)
            for bar in group:
                self._publish(topics.bars(bar.timeframe), bar)
            equity.append((ts_open, self.portfolio.equity))
            done += len(group)
            if progress is not None and done % 4096 < len(group):
                progress(done, total)
        return self._result(equity, total, time.perf_counter() - started)

    def _opening_snapshot(self) -> None:
        """Risk sizes from the equity it last saw: show it the starting equity."""
        first = min((int(c.ts_open[0]) for c in self.data.values() if len(c)), default=0)
        self.clock.advance_to(first)
        self.bus.publish_nowait(topics.portfolio(NAMESPACE), self.portfolio.snapshot(first))
        self.host.run_until_idle()

    def _publish(self, topic: str, event: Event) -> None:
        self.clock.advance_to(event.ts_event)
        self.bus.publish_nowait(topic, event, event.symbol)  # type: ignore[attr-defined]
        self.host.run_until_idle()

    def _bars(self) -> Iterator[Bar]:
        tf = self.config.timeframe
        span = topics.timeframe_seconds(tf) * _NS
        streams = [
            bar_events(candles, symbol, tf, span, self._stamper(f"feed:{symbol}"))
            for symbol, candles in sorted(self.data.items())
        ]
        return heapq.merge(*streams, key=lambda bar: bar.ts_open)

    def _result(
        self, equity: list[tuple[int, Decimal]], bars: int, elapsed: float
    ) -> BacktestResult:
        times = [ts for ts, _ in equity]
        builder = TradeBuilder(
            {s: self.config.instrument(s) for s in self.data}, bar_times=times
        )
        trades = [t for f in self.recorder.fills if (t := builder.apply(f)) is not None]
        closes = self._closes()
        stats = compute_stats(equity, trades, closes)
        return BacktestResult(
            stats=stats,
            fills=list(self.recorder.fills),
            trades=trades,
            open_trades=builder.open_trades(),
            equity=equity,
            bars=bars,
            rejections=dict(sorted(self.recorder.rejections.items())),
            elapsed_s=elapsed,
        )

    def _closes(self) -> list[tuple[int, float]]:
        """Buy & hold of the first symbol, from the first bar a strategy could trade."""
        symbol = sorted(self.data)[0]
        candles = self.data[symbol]
        warm = min(len(candles) - 1, self.runner.warmup_bars())
        times, closes = candles.ts_open[warm:].tolist(), candles.close[warm:].tolist()
        return list(zip(times, closes, strict=True))


def _by_time(bars: Iterator[Bar]) -> Iterator[tuple[int, list[Bar]]]:
    group: list[Bar] = []
    for bar in bars:
        if group and bar.ts_open != group[0].ts_open:
            yield group[0].ts_open, group
            group = []
        group.append(bar)
    if group:
        yield group[0].ts_open, group


def _open_print(bar: Bar) -> Tick:
    """The bar's open as a trade print at ``ts_open``: where earlier orders fill."""
    return Tick(
        event_id=f"{bar.event_id}-open",
        ts_event=bar.ts_open,
        ts_init=bar.ts_open,
        source=bar.source,
        symbol=bar.symbol,
        price=bar.open,
        size=bar.volume,
    )
