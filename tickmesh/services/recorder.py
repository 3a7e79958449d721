"""Persists the namespace's trading record: signals, orders, fills, rejections, bars, positions,
cash, equity history and risk state, batched into one transaction per flush.

Equity history is one sample per namespace-wide portfolio snapshot: the portfolio service
publishes one after every fill and at most one per minute of event time otherwise, which is thin
enough to keep every one. Snapshots sharing a timestamp keep the last.

Writes are idempotent (insert-or-ignore by id), so a replay after a crash that regenerates the
same events changes nothing. Fills and the positions they produce are committed together, which
is what lets start-up check that the positions rebuilt from fills equal the stored ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from tickmesh import topics
from tickmesh.bus.base import Outgoing
from tickmesh.model.events import (
    Bar,
    Event,
    Fill,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    PortfolioSnapshot,
    RiskState,
    Signal,
)
from tickmesh.services.runtime import Service
from tickmesh.storage import Database, EquitySample


class RecorderService(Service):
    name = "recorder"

    def __init__(
        self,
        db: Database,
        namespace: str,
        session_id: str,
        starting_cash: Decimal,
        bar_timeframes: Iterable[str] = (),
    ) -> None:
        super().__init__()
        self.db = db
        self.namespace = namespace
        self.session_id = session_id
        self.starting_cash = starting_cash
        self.bar_timeframes = sorted(set(bar_timeframes))
        self._clear()
        self.fills_written = 0

    def _clear(self) -> None:
        self._signals: list[Signal] = []
        self._orders: list[OrderIntent | OrderEvent] = []
        self._fills: list[Fill] = []
        self._denials: list[OrderDenied] = []
        self._bars: list[Bar] = []
        self._snapshot: PortfolioSnapshot | None = None
        self._equity: dict[int, EquitySample] = {}
        self._risk: RiskState | None = None

    def inputs(self) -> list[str]:
        ns = self.namespace
        return [
            topics.signals_raw(ns),
            topics.signals_validated(ns),
            topics.signals_rejected(ns),
            topics.orders_events(ns),
            topics.portfolio(ns),
            topics.risk_state(ns),
            *[topics.bars(tf) for tf in self.bar_timeframes],
        ]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        if isinstance(event, Signal):
            self._signals.append(event)
        elif isinstance(event, OrderIntent | OrderEvent):
            self._orders.append(event)
            if isinstance(event, OrderFilled | OrderPartiallyFilled):
                self._fills.append(event.fill)
        elif isinstance(event, OrderDenied):
            self._denials.append(event)
        elif isinstance(event, Bar):
            self._bars.append(event)
        elif isinstance(event, PortfolioSnapshot) and not event.strategy_id:
            self._snapshot = event
            self._sample(event)
        elif isinstance(event, RiskState):
            self._risk = event
        return ()

    def _sample(self, snap: PortfolioSnapshot) -> None:
        if snap.equity.is_finite() and snap.cash.is_finite():
            self._equity[snap.ts_event] = EquitySample(snap.ts_event, snap.equity, snap.cash)

    @property
    def buffered(self) -> int:
        return len(self._signals) + len(self._orders) + len(self._denials) + len(self._bars)

    async def flush(self) -> None:
        if not self.buffered and self._snapshot is None and self._risk is None:
            return
        ns = self.namespace
        async with self.db.transaction() as repo:
            await repo.add_signals(self._signals, ns)
            await repo.upsert_orders(self._orders, ns)
            await repo.add_fills(self._fills, ns, self.session_id)
            await repo.add_rejections(self._denials, ns)
            await repo.add_bars(self._bars)
            if self._snapshot is not None:
                snap = self._snapshot
                await repo.replace_positions(ns, snap.positions, snap.ts_event)
                await repo.set_account(ns, self.starting_cash, snap.cash, snap.ts_event)
            await repo.add_equity_samples(ns, list(self._equity.values()))
            if self._risk is not None:
                await repo.save_risk_state(ns, self._risk)
        self.fills_written += len(self._fills)
        self._clear()
