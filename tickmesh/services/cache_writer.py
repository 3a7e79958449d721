"""Keeps the latest state in the snapshot cache under the seeds' key names, for dashboards and
other processes that want "now" without replaying topics:

- ``market:snapshot:<symbol>``: the last tick or bar of each symbol;
- ``{ns}:portfolio:<strategy>``: each strategy's portfolio snapshot (``all`` for the namespace);
- ``{ns}:positions:<symbol>``: the symbol's positions across strategies (JSON list);
- ``svc:hb:<service>``: each service's last heartbeat, expiring when the service goes quiet.

Handlers only note the newest value per key; :meth:`flush` (called with the store's flush,
about once a second) writes them, so a burst of events costs one write per key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from tickmesh import topics
from tickmesh.bus.base import Outgoing
from tickmesh.model.events import Bar, Event, Heartbeat, PortfolioSnapshot, Tick
from tickmesh.services.runtime import Service
from tickmesh.storage.cache import Cache, CacheKeys

HEARTBEAT_TTL_S = 30.0
NAMESPACE_WIDE = "all"


class CacheWriter(Service):
    name = "cache"

    def __init__(self, cache: Cache, namespace: str, timeframes: Iterable[str]) -> None:
        super().__init__()
        self.cache = cache
        self.namespace = namespace
        self.timeframes = sorted(set(timeframes))
        self.writes = 0
        self._pending: dict[str, tuple[bytes | Event, float | None]] = {}

    def inputs(self) -> list[str]:
        return [
            topics.MARKET_TICKS,
            *(topics.bars(tf) for tf in self.timeframes),
            topics.portfolio(self.namespace),
            topics.SYSTEM_HEARTBEATS,
        ]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        if isinstance(event, Tick | Bar):
            self._pending[CacheKeys.snapshot(event.symbol)] = (event, None)
        elif isinstance(event, PortfolioSnapshot):
            self._portfolio(event)
        elif isinstance(event, Heartbeat):
            self._pending[CacheKeys.heartbeat(event.service)] = (event, HEARTBEAT_TTL_S)
        return ()

    def _portfolio(self, snap: PortfolioSnapshot) -> None:
        ns = self.namespace
        key = CacheKeys.portfolio(ns, snap.strategy_id or NAMESPACE_WIDE)
        self._pending[key] = (snap, None)
        if snap.strategy_id:
            return
        by_symbol: dict[str, list[object]] = {}
        for position in snap.positions:
            by_symbol.setdefault(position.symbol, []).append(position)
        for symbol, positions in by_symbol.items():
            data = msgspec.json.encode(positions)
            self._pending[CacheKeys.positions(ns, symbol)] = (data, None)

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for key, (value, ttl) in pending.items():
            await self.cache.set(key, value, ttl=ttl)
        self.writes += len(pending)

    def status(self) -> dict[str, object]:
        return {"cache_writes": self.writes}
