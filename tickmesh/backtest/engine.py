"""The event-driven backtest: the same strategy, risk, execution and portfolio services as
``tickmesh run``, on the deterministic memory bus with a simulated clock, fed stored bars.

Each bar enters as two market events, in time order across symbols: its open (a trade print at
``ts_open``, where orders placed on earlier bars fill) and then the bar itself (at its close,
where strategies decide and positions are marked). That is backtesting.py's order of things:
market orders fill at the next bar's open and a strategy sees its new position before deciding
on that bar. Limit orders therefore only match at the open in a bar backtest.

With ``fast_forward`` (the default) the replay asks every service how long it is quiet (see
:meth:`Service.quiet_until`) and sends the bars on which none acts as one
:class:`~tickmesh.model.BarBatch` per symbol. The open prints of a step where some service
acts go out one by one; when the step's fills leave every service quiet again, its bars join
the next batch (``opened``). Same events for every decision, same result, many times faster.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from tickmesh import topics
from tickmesh.adapters.feeds.files import OhlcvColumns
from tickmesh.analytics import BacktestStats, Columns, Trade, TradeBuilder, compute_stats
from tickmesh.analytics.trades import OpenTrade
from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.core.clock import SimulatedClock
from tickmesh.core.ids import IdGenerator
from tickmesh.core.stamp import Stamper
from tickmesh.execution import PaperConfig, PaperMatchingEngine
from tickmesh.model.events import (
    Bar,
    BarBatch,
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
from tickmesh.storage.candles import COLUMNS, Candles
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

    ``fast_forward`` lets runs of bars on which no service acts travel as one
    :class:`~tickmesh.model.BarBatch` (same result, many times faster; see the module's doc).
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
    fast_forward: bool = True

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
        """Replay every bar; ``progress(done, total)`` is called about every 4096 bars."""
        started = time.perf_counter()
        series = self._series()
        times = np.unique(np.concatenate([b.ts_open for b in series.values()] or [_NO_TIMES]))
        total = sum(len(b) for b in series.values())
        self.host.start()
        self._opening_snapshot(int(times[0]) if len(times) else 0)
        services = self.host.services
        for service in services:
            service.prepare_replay(series)
        replay = _Replay(series, self._stampers(series))
        equity: list[tuple[int, Decimal]] = []
        pos, reported, steps = 0, 0, times.tolist()
        while pos < len(steps):
            ts = steps[pos]
            quiet = self._quiet_until(services, ts)
            if quiet > ts:
                end = bisect.bisect_left(steps, quiet, pos)
                self._fast_forward(replay, times[pos:end], equity)
            elif not replay.opened(ts):
                self._open(replay, ts)
                continue  # the fill is in: maybe the bars can join the next run
            else:
                end = pos + 1
                self._close(replay, ts, equity)
            pos = end
            if progress is not None and replay.done - reported >= 4096:
                reported = replay.done
                progress(replay.done, total)
        return self._result(equity, times, total, time.perf_counter() - started)

    def _quiet_until(self, services: Sequence[Service], ts: int) -> int:
        if not self.config.fast_forward:
            return ts
        return min([s.quiet_until(ts) for s in services])

    def _open(self, replay: _Replay, ts_open: int) -> None:
        """Every symbol's open print at ``ts_open``: where orders placed on earlier bars fill."""
        for bar in replay.bars_at(ts_open, advance=False):
            self._publish(topics.MARKET_TICKS, _open_print(bar))

    def _close(self, replay: _Replay, ts_open: int, equity: list[tuple[int, Decimal]]) -> None:
        """Every symbol's bar opening at ``ts_open``, after its open print went out."""
        for bar in replay.bars_at(ts_open):
            self._publish(topics.bars(bar.timeframe), bar)
        equity.append((ts_open, self.portfolio.equity))

    def _fast_forward(
        self, replay: _Replay, times: npt.NDArray[np.int64], equity: list[tuple[int, Decimal]]
    ) -> None:
        """A run of time steps on which no service acts, as one batch per symbol."""
        batches = replay.batches_until(int(times[-1]))
        if len(batches) == 1 and len(batches[0]) == len(times):
            marks: dict[str, Sequence[float]] = {batches[0].symbol: batches[0].close.tolist()}
        else:
            marks = {b.symbol: _aligned(times, b) for b in batches}
        path = self.portfolio.equity_path(marks)
        equity.extend(zip(times.tolist(), path, strict=True))
        for batch in batches:
            self._publish(topics.bars(batch.timeframe), batch)

    def _opening_snapshot(self, first: int) -> None:
        """Risk sizes from the equity it last saw: show it the starting equity."""
        self.clock.advance_to(first)
        self.bus.publish_nowait(topics.portfolio(NAMESPACE), self.portfolio.snapshot(first))
        self.host.run_until_idle()

    def _publish(self, topic: str, event: Event) -> None:
        self.clock.advance_to(event.ts_event)
        self.bus.publish_nowait(topic, event, event.symbol)  # type: ignore[attr-defined]
        self.host.run_until_idle()

    def _series(self) -> dict[str, BarBatch]:
        tf = self.config.timeframe
        span = topics.timeframe_seconds(tf) * _NS
        return {
            symbol: _batch(symbol, tf, span, _typed(candles), 0, len(candles))
            for symbol, candles in sorted(self.data.items())
            if len(candles)
        }

    def _stampers(self, series: Mapping[str, BarBatch]) -> dict[str, Stamper]:
        return {symbol: self._stamper(f"feed:{symbol}") for symbol in series}

    def _result(
        self,
        equity: list[tuple[int, Decimal]],
        times: npt.NDArray[np.int64],
        bars: int,
        elapsed: float,
    ) -> BacktestResult:
        """``times`` are the time steps replayed, one equity row each: the bars trades map to."""
        builder = TradeBuilder({s: self.config.instrument(s) for s in self.data}, bar_times=times)
        trades = [t for f in self.recorder.fills if (t := builder.apply(f)) is not None]
        stats = compute_stats(equity, trades, self._closes())
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

    def _closes(self) -> Columns[float]:
        """Buy & hold of the first symbol, from the first bar a strategy could trade: as columns,
        not a million (ts, close) tuples."""
        symbol = sorted(self.data)[0]
        candles = self.data[symbol]
        warm = min(len(candles) - 1, self.runner.warmup_bars())
        return Columns(candles.ts_open[warm:], candles.close[warm:])


_NO_TIMES = np.empty(0, np.int64)


def _typed(candles: Candles) -> Candles:
    """The columns as int64 / float64 arrays (themselves when they already are), so the replay
    reads numbers with ``ndarray.item``."""
    return Candles(
        np.asarray(candles.ts_open, dtype=np.int64),
        *(np.asarray(getattr(candles, name), dtype=np.float64) for name in COLUMNS[1:]),
    )


def _batch(symbol: str, tf: str, span: int, cols: OhlcvColumns, start: int, stop: int) -> BarBatch:
    ts_open = cols.ts_open[start:stop]
    last = int(ts_open[-1]) + span if stop > start else 0
    return BarBatch(
        event_id=f"{symbol}:{tf}:{start}:{stop}",
        ts_event=last,
        ts_init=last,
        source="backtest",
        symbol=symbol,
        timeframe=tf,
        ts_open=ts_open,
        open=cols.open[start:stop],
        high=cols.high[start:stop],
        low=cols.low[start:stop],
        close=cols.close[start:stop],
        volume=cols.volume[start:stop],
    )


def _aligned(times: npt.NDArray[np.int64], bars: BarBatch) -> list[float]:
    """``bars.close`` on the time steps ``times``, NaN on steps where the symbol has no bar."""
    out = np.full(len(times), np.nan)
    out[np.searchsorted(times, bars.ts_open)] = bars.close
    return out.tolist()


class _Replay:
    """Where each symbol's replay stands: the next bar to hand out, one by one or in runs."""

    def __init__(self, series: Mapping[str, BarBatch], stampers: Mapping[str, Stamper]) -> None:
        self._series = series
        self._stampers = stampers
        self._next = dict.fromkeys(series, 0)
        self._spans = {s: cols.ts_event - int(cols.ts_open[-1]) for s, cols in series.items()}
        self._held: tuple[int, list[Bar]] | None = None
        self.done = 0

    def opened(self, ts_open: int) -> bool:
        """Whether the bars opening at ``ts_open`` were handed out without advancing (their
        open prints went out; the bars themselves not yet)."""
        return self._held is not None and self._held[0] == ts_open

    def bars_at(self, ts_open: int, advance: bool = True) -> list[Bar]:
        """Every symbol's bar opening at ``ts_open``, by symbol; with ``advance=False`` they
        stay next (the same objects are handed out again, or join the next batch)."""
        held = self._held
        bars = held[1] if held is not None and held[0] == ts_open else self._make_bars(ts_open)
        self._held = None if advance else (ts_open, bars)
        if advance:
            for bar in bars:
                self._next[bar.symbol] += 1
            self.done += len(bars)
        return bars

    def _make_bars(self, ts_open: int) -> list[Bar]:
        bars: list[Bar] = []
        for symbol, cols in self._series.items():
            k = self._next[symbol]
            if k < len(cols) and cols.ts_open.item(k) == ts_open:
                span = self._spans[symbol]
                bars.append(
                    Bar(
                        **self._stampers[symbol](ts_open + span),
                        symbol=symbol,
                        timeframe=cols.timeframe,
                        ts_open=ts_open,
                        open=cols.open.item(k),
                        high=cols.high.item(k),
                        low=cols.low.item(k),
                        close=cols.close.item(k),
                        volume=cols.volume.item(k),
                    )
                )
        return bars

    def batches_until(self, last_open: int) -> list[BarBatch]:
        """Every symbol's bars opening up to ``last_open``, one batch per symbol that has any;
        a symbol's batch that starts with a bar held back by ``bars_at`` is ``opened``."""
        held = {bar.symbol for bar in self._held[1]} if self._held else set()
        self._held = None
        batches: list[BarBatch] = []
        for symbol, cols in self._series.items():
            k = self._next[symbol]
            stop = int(np.searchsorted(cols.ts_open, last_open, "right"))
            if stop > k:
                batch = _batch(symbol, cols.timeframe, self._spans[symbol], cols, k, stop)
                if symbol in held:
                    batch = msgspec.structs.replace(batch, opened=True)
                batches.append(batch)
                self._next[symbol] = stop
                self.done += stop - k
        return batches


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
