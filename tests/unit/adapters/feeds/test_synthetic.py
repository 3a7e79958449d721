from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from tickmesh.adapters.feeds.synthetic import SyntheticTicks, synthetic_bars
from tickmesh.model.enums import Side

SYMBOLS = ("AAA", "BBB", "CCC")


def tick_rows(feed: SyntheticTicks, n: int) -> list[tuple[str, int, float, float, str]]:
    return [(t.symbol, t.ts_event, t.price, t.size, t.trade_id) for t in feed.ticks(n)]


def test_same_seed_gives_the_same_stream() -> None:
    first = tick_rows(SyntheticTicks(SYMBOLS, seed=11, interleave="random"), 500)
    second = tick_rows(SyntheticTicks(SYMBOLS, seed=11, interleave="random"), 500)

    assert first == second


def test_different_seeds_give_different_prices() -> None:
    first = tick_rows(SyntheticTicks(SYMBOLS, seed=1), 30)
    second = tick_rows(SyntheticTicks(SYMBOLS, seed=2), 30)

    assert [r[2] for r in first] != [r[2] for r in second]


def test_shorter_read_is_a_prefix_of_a_longer_one() -> None:
    feed = SyntheticTicks(SYMBOLS, seed=3, interleave="random")

    assert tick_rows(feed, 10_000)[:7] == tick_rows(feed, 7)


@pytest.mark.parametrize("interleave", ["round_robin", "random"])
def test_ticks_have_strictly_increasing_times_and_unique_ids(interleave: str) -> None:
    feed = SyntheticTicks(SYMBOLS, seed=5, interval_ns=250, interleave=interleave)  # type: ignore[arg-type]

    ticks = list(feed.ticks(3_001))

    times = [t.ts_event for t in ticks]
    assert times == list(range(feed.start_ns, feed.start_ns + 3_001 * 250, 250))
    assert [t.trade_id for t in ticks] == [str(i) for i in range(1, 3_002)]
    assert all(t.price > 0 and t.size > 0 for t in ticks)


def test_round_robin_takes_turns_and_random_mixes_each_round() -> None:
    robin = [t.symbol for t in SyntheticTicks(SYMBOLS, seed=1).ticks(6)]
    mixed = [t.symbol for t in SyntheticTicks(SYMBOLS, seed=1, interleave="random").ticks(300)]

    assert robin == ["AAA", "BBB", "CCC", "AAA", "BBB", "CCC"]
    rounds = [mixed[i : i + 3] for i in range(0, 300, 3)]
    assert all(sorted(r) == list(SYMBOLS) for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1


def test_aggressor_follows_the_tick_direction() -> None:
    ticks = list(SyntheticTicks(["AAA"], seed=9).ticks(200))

    for previous, tick in pairwise(ticks):
        expected = Side.BUY if tick.price >= previous.price else Side.SELL
        assert tick.aggressor is expected


@pytest.mark.parametrize("interleave", ["round_robin", "random"])
def test_batches_hold_exactly_the_ticks_of_the_stream(interleave: str) -> None:
    feed = SyntheticTicks(SYMBOLS, seed=21, interleave=interleave)  # type: ignore[arg-type]
    ticks = list(feed.ticks(3 * 250))

    batches = list(feed.batches(250, batch_size=64))

    assert all(b.count <= 64 for b in batches)
    assert [b.ts_event for b in batches] == sorted(b.ts_event for b in batches)
    for symbol in SYMBOLS:
        mine = [b for b in batches if b.symbol == symbol]
        ts = np.concatenate([np.frombuffer(b.ts, "<i8") for b in mine]).tolist()
        price = np.concatenate([np.frombuffer(b.price, "<f8") for b in mine]).tolist()
        size = np.concatenate([np.frombuffer(b.size, "<f8") for b in mine]).tolist()
        expected = [t for t in ticks if t.symbol == symbol]
        assert ts == [t.ts_event for t in expected]
        assert price == [t.price for t in expected]
        assert size == [t.size for t in expected]


def test_volatility_matches_sigma_on_average() -> None:
    feed = SyntheticTicks(["AAA"], seed=4, sigma=0.8, interval_ns=60 * 1_000_000_000)
    (batch,) = feed.batches(100_000, batch_size=100_000)

    log_returns = np.diff(np.log(np.frombuffer(batch.price, "<f8")))
    annualised = log_returns.std() * np.sqrt(365 * 24 * 60)

    assert annualised == pytest.approx(0.8, rel=0.02)


def test_start_price_per_symbol() -> None:
    feed = SyntheticTicks(["AAA", "BBB"], seed=1, sigma=0.0, start_price={"AAA": 5, "BBB": 50})

    assert [t.price for t in feed.ticks(2)] == pytest.approx([5.0, 50.0])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"symbols": []}, "symbols"),
        ({"symbols": ["A", "A"]}, "symbols"),
        ({"interval_ns": 0}, "interval_ns"),
        ({"sigma": -0.1}, "sigma"),
        ({"mean_size": 0}, "mean_size"),
        ({"start_price": -1.0}, "start_price"),
        ({"start_price": {"AAA": 1.0}}, "start_price"),
    ],
)
def test_invalid_parameters_name_the_field(kwargs: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"symbols": ["AAA", "BBB"], **kwargs}

    with pytest.raises(ValueError, match=field):
        SyntheticTicks(**arguments)  # type: ignore[arg-type]


def test_synthetic_bars_are_consistent_ohlc_in_sequence() -> None:
    bars = list(synthetic_bars("AAA", 500, "5m", seed=2))

    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)
    assert all(b.volume > 0 for b in bars)
    assert all(b.ts_event - b.ts_open == 300_000_000_000 for b in bars)
    assert all(nxt.open == prev.close for prev, nxt in pairwise(bars))
    assert all(nxt.ts_open == prev.ts_event for prev, nxt in pairwise(bars))
    assert [b.close for b in synthetic_bars("AAA", 500, "5m", seed=2)] == [b.close for b in bars]
