"""Seeded geometric Brownian motion prices: market data that needs no file and no network.

The same seed always gives the same stream, and a stream is the same however it is consumed:
``ticks(n)`` and ``batches(...)`` read one underlying walk, drawn from separate generators for
returns, sizes and interleaving so chunking never changes a value. ``sigma`` and ``drift`` are
annualised, so the price path does not depend on how densely it is sampled.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tickmesh.adapters.feeds.files import tick_batch
from tickmesh.core.stamp import Stamper
from tickmesh.model.enums import Side
from tickmesh.model.events import Bar, Tick, TickBatch
from tickmesh.topics import timeframe_seconds

YEAR_NS = 365 * 86_400 * 1_000_000_000
DEFAULT_START_NS = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
_CHUNK_ROUNDS = 8_192

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RoundBlock:
    """Consecutive rounds of the stream; in each round every symbol ticks exactly once.

    Arrays are shaped (rounds, symbols): column ``s`` belongs to ``symbols[s]``; ``slot`` is the
    symbol's place within its round, so the tick's index in the whole stream is
    ``(first_round + r) * len(symbols) + slot[r, s]``.
    """

    first_round: int
    ts: IntArray
    price: FloatArray
    size: FloatArray
    up: npt.NDArray[np.bool_]
    slot: IntArray


class SyntheticTicks:
    """A multi-symbol tick stream, deterministic for a seed, with strictly increasing times.

    Tick ``k`` of the stream is at ``start_ns + k * interval_ns``. Symbols take turns
    (``interleave="round_robin"``) or appear in a random order within each round (``"random"``).
    The aggressor is BUY on an up-tick and SELL on a down-tick; sizes are log-normal around
    ``mean_size``; trade ids count ticks from 1.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        seed: int = 0,
        *,
        start_ns: int = DEFAULT_START_NS,
        interval_ns: int = 1_000_000_000,
        sigma: float = 0.5,
        drift: float = 0.0,
        start_price: float | Mapping[str, float] = 100.0,
        mean_size: float = 1.0,
        interleave: Literal["round_robin", "random"] = "round_robin",
        stamper: Stamper | None = None,
        venue: str = "synthetic",
    ) -> None:
        self.symbols = tuple(symbols)
        self.seed = seed
        self.start_ns = start_ns
        self.interval_ns = interval_ns
        self.sigma = sigma
        self.drift = drift
        self.start_prices = _start_prices(self.symbols, start_price)
        self.mean_size = mean_size
        self.interleave = interleave
        self.stamper = stamper or Stamper.deterministic("feed.synthetic")
        self.venue = venue
        self._validate()

    def _validate(self) -> None:
        if not self.symbols or len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"symbols must be non-empty and unique, got {self.symbols}")
        if self.interval_ns <= 0:
            raise ValueError(f"interval_ns must be positive, got {self.interval_ns}")
        if self.sigma < 0:
            raise ValueError(f"sigma must not be negative, got {self.sigma}")
        if self.mean_size <= 0:
            raise ValueError(f"mean_size must be positive, got {self.mean_size}")
        if self.interleave not in ("round_robin", "random"):
            raise ValueError(f"interleave must be 'round_robin' or 'random', got {self.interleave}")

    def ticks(self, n: int) -> Iterator[Tick]:
        """The first ``n`` ticks of the stream, in time order."""
        width = len(self.symbols)
        emitted = 0
        for block in self.rounds(-(-n // width), _CHUNK_ROUNDS):
            for tick in self._block_ticks(block):
                if emitted == n:
                    return
                emitted += 1
                yield tick

    def batches(self, n_ticks_per_symbol: int, batch_size: int = 10_000) -> Iterator[TickBatch]:
        """The first ``n_ticks_per_symbol * len(symbols)`` ticks as per-symbol TickBatches.

        Each batch spans ``batch_size`` rounds; batches come in order of their last tick's time.
        """
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        for block in self.rounds(n_ticks_per_symbol, batch_size):
            for column in np.argsort(block.ts[-1]).tolist():
                yield tick_batch(
                    self.symbols[column],
                    block.ts[:, column],
                    block.price[:, column],
                    block.size[:, column],
                    self.stamper,
                )

    def rounds(self, n_rounds: int, chunk: int) -> Iterator[RoundBlock]:
        """The first ``n_rounds`` rounds as columnar blocks of at most ``chunk`` rounds."""
        walk = _Walk(self)
        done = 0
        while done < n_rounds:
            size = min(chunk, n_rounds - done)
            yield walk.next_block(size)
            done += size

    def _block_ticks(self, block: RoundBlock) -> Iterator[Tick]:
        width = len(self.symbols)
        by_slot = np.argsort(block.slot, axis=1)
        columns = (block.ts, block.price, block.size, block.up)
        rows = zip(*(_in_slot_order(c, by_slot) for c in columns), by_slot.ravel(), strict=True)
        first_index = block.first_round * width + 1
        for offset, (ts_event, tick_price, tick_size, uptick, column) in enumerate(rows):
            yield Tick(
                **self.stamper(ts_event),
                symbol=self.symbols[int(column)],
                price=tick_price,
                size=tick_size,
                aggressor=Side.BUY if uptick else Side.SELL,
                trade_id=str(first_index + offset),
                venue=self.venue,
            )


class _Walk:
    """The stream's state between blocks: generators, last log prices, last tick times."""

    def __init__(self, spec: SyntheticTicks) -> None:
        returns, sizes, order = np.random.SeedSequence(spec.seed).spawn(3)
        self._returns = np.random.Generator(np.random.PCG64(returns))
        self._sizes = np.random.Generator(np.random.PCG64(sizes))
        self._order = np.random.Generator(np.random.PCG64(order))
        self._spec = spec
        width = len(spec.symbols)
        self._width = width
        self._log_price = np.log(np.array(spec.start_prices, dtype=np.float64))
        self._last_ts = (
            spec.start_ns + (np.arange(width, dtype=np.int64) - width) * spec.interval_ns
        )
        self._round = 0

    def next_block(self, rounds: int) -> RoundBlock:
        spec, width = self._spec, self._width
        slot = self._slots(rounds)
        index = (self._round + np.arange(rounds, dtype=np.int64))[:, None] * width + slot
        ts = spec.start_ns + index * spec.interval_ns
        years = np.diff(ts, axis=0, prepend=self._last_ts[None, :]) / YEAR_NS
        shocks = self._returns.standard_normal((rounds, width))
        steps = (spec.drift - 0.5 * spec.sigma**2) * years + spec.sigma * np.sqrt(years) * shocks
        # Accumulating from the previous block's last value (not adding it afterwards) keeps
        # every price bit-identical however the stream is chunked.
        log_price = np.cumsum(np.vstack([self._log_price[None, :], steps]), axis=0)[1:]
        size = spec.mean_size * np.exp(0.5 * self._sizes.standard_normal((rounds, width)) - 0.125)
        block = RoundBlock(self._round, ts, np.exp(log_price), size, steps >= 0, slot)
        self._log_price, self._last_ts = log_price[-1], ts[-1]
        self._round += rounds
        return block

    def _slots(self, rounds: int) -> IntArray:
        if self._spec.interleave == "round_robin":
            return np.tile(np.arange(self._width, dtype=np.int64), (rounds, 1))
        keys = self._order.random((rounds, self._width))
        return np.argsort(np.argsort(keys, axis=1), axis=1).astype(np.int64)


def synthetic_bars(
    symbol: str,
    n: int,
    timeframe: str = "1m",
    seed: int = 0,
    *,
    stamper: Stamper | None = None,
    start_ns: int = DEFAULT_START_NS,
    start_price: float = 100.0,
    sigma: float = 0.5,
    drift: float = 0.0,
    mean_volume: float = 1_000.0,
    steps_per_bar: int = 16,
) -> Iterator[Bar]:
    """``n`` consecutive GBM OHLCV bars; each bar opens at the previous close."""
    if start_price <= 0 or steps_per_bar <= 0:
        raise ValueError("start_price and steps_per_bar must be positive")
    stamper = stamper or Stamper.deterministic("feed.synthetic")
    span_ns = timeframe_seconds(timeframe) * 1_000_000_000
    rng = np.random.Generator(np.random.PCG64(seed))
    step_years = span_ns / steps_per_bar / YEAR_NS
    shocks = rng.standard_normal((n, steps_per_bar))
    steps = (drift - 0.5 * sigma**2) * step_years + sigma * np.sqrt(step_years) * shocks
    path = start_price * np.exp(np.cumsum(steps.ravel())).reshape(n, steps_per_bar)
    opens = np.concatenate([[start_price], path[:-1, -1]])
    highs = np.maximum(opens, path.max(axis=1))
    lows = np.minimum(opens, path.min(axis=1))
    volumes = mean_volume * np.exp(0.5 * rng.standard_normal(n) - 0.125)
    columns = (opens, highs, lows, path[:, -1], volumes)
    rows = zip(*(column.tolist() for column in columns), strict=True)
    for i, (open_, high, low, close, volume) in enumerate(rows):
        ts_open = start_ns + i * span_ns
        yield Bar(
            **stamper(ts_open + span_ns),
            symbol=symbol,
            timeframe=timeframe,
            ts_open=ts_open,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
        )


def _in_slot_order(array: npt.NDArray[Any], by_slot: IntArray) -> list[Any]:
    """(rounds, symbols) values as one flat list in stream order."""
    return list(np.take_along_axis(array, by_slot, axis=1).ravel().tolist())


def _start_prices(symbols: tuple[str, ...], start: float | Mapping[str, float]) -> list[float]:
    if isinstance(start, Mapping):
        missing = [s for s in symbols if s not in start]
        if missing:
            raise ValueError(f"start_price has no entry for {missing}")
        prices = [float(start[s]) for s in symbols]
    else:
        prices = [float(start)] * len(symbols)
    if any(p <= 0 for p in prices):
        raise ValueError(f"start_price must be positive, got {prices}")
    return prices
