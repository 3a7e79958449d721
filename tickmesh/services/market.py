"""Market-data services: the bar builder on the bus."""

from __future__ import annotations

from collections.abc import Sequence

from tickmesh import topics
from tickmesh.bars import BarAggregator, TickBarBuilder
from tickmesh.bus.base import Outgoing
from tickmesh.model.events import Bar, Event, Tick, TickBatch
from tickmesh.services.runtime import Service


class BarsService(Service):
    """``market.ticks`` -> ``market.bars.1m`` -> 5m/15m/1h, by event time."""

    name = "bars"

    def __init__(self, builder: TickBarBuilder, aggregator: BarAggregator | None) -> None:
        super().__init__()
        self.builder = builder
        self.aggregator = aggregator

    def inputs(self) -> list[str]:
        return [topics.MARKET_TICKS]

    def handle(self, topic: str, event: Event) -> Sequence[Outgoing]:
        if isinstance(event, TickBatch):
            return self._publish(self.builder.on_tick_batch(event))
        if isinstance(event, Tick):
            return self._publish(self.builder.on_tick(event))
        return ()

    def flush_bars(self) -> list[Outgoing]:
        """Close every open bar (end of a replay)."""
        out = self._publish(self.builder.flush())
        if self.aggregator is not None:
            out += [self._out(b) for b in self.aggregator.flush()]
        return out

    def _publish(self, bars: list[Bar]) -> list[Outgoing]:
        out = [self._out(b) for b in bars]
        if self.aggregator is not None:
            for bar in bars:
                out += [self._out(b) for b in self.aggregator.on_bar(bar)]
        return out

    @staticmethod
    def _out(bar: Bar) -> Outgoing:
        return Outgoing(topics.bars(bar.timeframe), bar, bar.symbol)

    def status(self) -> dict[str, object]:
        return {
            "late_dropped": self.builder.late_dropped,
            "duplicates": self.builder.duplicates,
        }
