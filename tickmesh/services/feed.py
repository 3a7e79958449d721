"""The feed: every configured source merged into one time-ordered stream of market events.

Files are validated in full when the plan is built, so a malformed row stops the run before any
trading, naming the file, line and reason (unless the source says ``on_error = "skip"``).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tickmesh import topics
from tickmesh.adapters.feeds import (
    OnError,
    SyntheticTicks,
    bundled_dataset,
    read_bars,
    read_ticks,
    validate_file,
)
from tickmesh.config import Settings
from tickmesh.config.settings import BundledSource, FileSource, SyntheticSource
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Event

StamperFor = Callable[[str], Stamper]
SourceStream = Callable[[StamperFor], Iterator[tuple[str, Event]]]


@dataclass
class FeedPlan:
    """What the feed will replay: sources opened lazily, validated and fingerprinted now."""

    streams: list[SourceStream] = field(default_factory=list)
    bar_timeframes: set[str] = field(default_factory=set)
    symbols: set[str] = field(default_factory=set)
    fingerprint: list[str] = field(default_factory=list)
    speed: float = 0.0

    def events(self, stamper_for: StamperFor) -> Iterator[tuple[str, Event]]:
        """``(topic, event)`` from every source, merged by ``ts_event`` (stable across sources)."""
        iterators = [stream(stamper_for) for stream in self.streams]
        return heapq.merge(*iterators, key=lambda item: item[1].ts_event)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:24]


def _bars_stream(path: Path, symbol: str, tf: str, on_error: OnError, name: str) -> SourceStream:
    def stream(stamper_for: StamperFor) -> Iterator[tuple[str, Event]]:
        topic = topics.bars(tf)
        for bar in read_bars(path, symbol, tf, stamper_for(name), on_error=on_error):
            yield topic, bar

    return stream


def _ticks_stream(path: Path, symbol: str, on_error: OnError, name: str) -> SourceStream:
    def stream(stamper_for: StamperFor) -> Iterator[tuple[str, Event]]:
        for tick in read_ticks(path, symbol, stamper_for(name), on_error=on_error):
            yield topics.MARKET_TICKS, tick

    return stream


def _synthetic_stream(src: SyntheticSource, name: str) -> SourceStream:
    def stream(stamper_for: StamperFor) -> Iterator[tuple[str, Event]]:
        gen = SyntheticTicks(
            src.symbols,
            src.seed,
            interval_ns=int(src.interval_ms * 1_000_000),
            sigma=src.sigma,
            start_price=src.start_price,
            interleave=src.interleave,
            stamper=stamper_for(name),
        )
        for tick in gen.ticks(src.ticks):
            yield topics.MARKET_TICKS, tick

    return stream


def build_feed(settings: Settings) -> FeedPlan:
    plan = FeedPlan()
    for n, src in enumerate(settings.feed.sources):
        name = f"feed-{n}"
        plan.speed = max(plan.speed, src.speed)
        if isinstance(src, BundledSource):
            ds = bundled_dataset(src.name)
            _add_file(plan, ds.path, ds.symbol, ds.timeframe, src.on_error, name)
        elif isinstance(src, FileSource):
            _add_file(plan, src.path, src.symbol, src.timeframe, src.on_error, name)
        elif isinstance(src, SyntheticSource):
            plan.streams.append(_synthetic_stream(src, name))
            plan.symbols.update(src.symbols)
            plan.fingerprint.append(src.model_dump_json(exclude={"speed"}))
    return plan


def _add_file(
    plan: FeedPlan, path: Path, symbol: str, timeframe: str | None, on_error: OnError, name: str
) -> None:
    kind: Literal["bars", "ticks"] = "bars" if timeframe else "ticks"
    validate_file(path, kind=kind, on_error=on_error)
    plan.fingerprint.append(f"{kind}:{symbol}:{timeframe}:{on_error}:{_file_digest(path)}")
    plan.symbols.add(symbol)
    if timeframe:
        plan.bar_timeframes.add(timeframe)
        plan.streams.append(_bars_stream(path, symbol, timeframe, on_error, name))
    else:
        plan.streams.append(_ticks_stream(path, symbol, on_error, name))
