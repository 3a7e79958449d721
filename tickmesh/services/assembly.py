"""The trading pipeline's wiring, shared by ``tickmesh run`` and ``tickmesh service NAME``.

Both build the same services with the same constructor arguments, stamper seeds and attach order,
which is what makes a run split over processes (on the sequenced log) end as the one-process run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tickmesh.bars import BarAggregator, TickBarBuilder
from tickmesh.config import Settings
from tickmesh.core.clock import Clock
from tickmesh.core.ids import IdGenerator
from tickmesh.core.stamp import Stamper
from tickmesh.execution import PaperMatchingEngine
from tickmesh.model.enums import TradingState
from tickmesh.model.events import Fill
from tickmesh.portfolio import Portfolio
from tickmesh.risk import PositionRecord, RiskManager, RiskSnapshot
from tickmesh.services.feed import FeedPlan
from tickmesh.services.market import BarsService
from tickmesh.services.recorder import RecorderService
from tickmesh.services.runtime import Service
from tickmesh.services.session import SessionPlan
from tickmesh.services.trading import (
    ExecutionService,
    PortfolioService,
    RiskService,
    StrategyService,
)
from tickmesh.services.wiring import paper_config, risk_limits
from tickmesh.storage import Database
from tickmesh.strategies import StrategyRunner

StamperFor = Callable[[str], Stamper]


@dataclass(frozen=True)
class SessionStart:
    """What a session's services start from: the seed of every stamper, the fills from before
    the session (the ledger's base) and an operator's halt, which survives restarts."""

    session_id: str
    seed: int | None
    base_fills: list[Fill]
    manual_state: TradingState | None = None

    @classmethod
    def of(cls, plan: SessionPlan) -> SessionStart:
        stored = plan.stored_risk
        manual = stored.state if stored is not None and stored.reason == "manual" else None
        return cls(plan.session.id, plan.session.seed, plan.base_fills, manual)


def stampers(clock: Clock, seed: int | None, namespace: str) -> StamperFor:
    """Stampers on ``clock`` whose ids are seeded with the session seed and the source name."""

    def stamper(source: str) -> Stamper:
        return Stamper(clock, IdGenerator(clock, seed=f"{seed}:{source}"), source, namespace)

    return stamper


@dataclass
class Pipeline:
    """The sequenced part of the platform, in attach order: bars, strategies, risk, execution,
    portfolio, recorder (observers come after and publish nothing)."""

    portfolio: Portfolio
    runner: StrategyRunner
    risk: RiskManager
    engine: PaperMatchingEngine
    bars: BarsService
    recorder: RecorderService
    market_tfs: list[str]
    services: list[Service]


def build_pipeline(
    settings: Settings, feed: FeedPlan, db: Database, start: SessionStart, stamper: StamperFor
) -> Pipeline:
    s, ns = settings, settings.namespace
    strategy_tfs = sorted({sc.timeframe for sc in s.strategies})
    market_tfs = sorted(set(strategy_tfs) | set(feed.bar_timeframes))
    cash = s.portfolio.starting_cash
    ledger = Portfolio.rebuild(start.base_fills, cash, stamper("portfolio"))
    runner = _strategies(settings, feed, ledger, stamper)
    risk = RiskManager(risk_limits(s.risk), stamper("risk"))
    risk.restore(_risk_start(ledger, start.manual_state))
    engine = PaperMatchingEngine(
        paper_config(s.execution), stamper("execution"), starting_cash=ledger.cash
    )
    engine.restore(ledger.cash, ledger.net_positions())
    higher = [tf for tf in s.bars.timeframes if tf != "1m"]
    bars = BarsService(
        TickBarBuilder(stamper("bars"), "1m", s.bars.allowed_lateness_ms * 1_000_000),
        BarAggregator(stamper("bars-agg"), "1m", higher),
    )
    recorder = RecorderService(db, ns, start.session_id, cash, bar_timeframes=market_tfs)
    services: list[Service] = [
        bars,
        StrategyService(runner, ns, strategy_tfs),
        RiskService(risk, ns, market_tfs),
        ExecutionService(engine, ns, market_tfs),
        PortfolioService(ledger, ns, market_tfs),
        recorder,
    ]
    return Pipeline(ledger, runner, risk, engine, bars, recorder, market_tfs, services)


def _strategies(
    settings: Settings, feed: FeedPlan, ledger: Portfolio, stamper: StamperFor
) -> StrategyRunner:
    runner = StrategyRunner(stamper("strategies"))
    for sc in settings.strategies:
        for symbol in sc.symbols or sorted(feed.symbols):
            instance = f"{sc.id}:{symbol}" if sc.id else None
            strategy_id = runner.add(sc.name, symbol, sc.params, sc.timeframe, instance)
            if not sc.enabled:
                runner.disable(strategy_id)
    runner.restore_positions((p.strategy_id, p.symbol, p.quantity) for p in ledger.positions())
    return runner


def _risk_start(ledger: Portfolio, manual_state: TradingState | None) -> RiskSnapshot:
    """Positions from the ledger; an operator's halt survives restarts, while a state the
    drawdown gate set is recomputed by the replay."""
    return RiskSnapshot(
        state=manual_state or TradingState.ACTIVE,
        reason="manual" if manual_state is not None else "",
        equity=ledger.equity,
        peak_equity=ledger.equity,
        positions=tuple(
            PositionRecord(strategy_id=p.strategy_id, symbol=p.symbol, quantity=p.quantity)
            for p in ledger.positions()
            if p.quantity
        ),
    )
