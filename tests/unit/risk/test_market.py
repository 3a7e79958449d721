"""The risk manager's market view: a run of bars as one batch leaves the bar-by-bar state."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tickmesh.model import Bar, BarBatch, Tick
from tickmesh.risk.market import MarketView

SPAN = 60_000_000_000


def series(n: int, seed: int) -> BarBatch:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    ts = 1_000 * SPAN + np.arange(n, dtype=np.int64) * SPAN
    return batch(ts, open_, np.maximum(open_, close) * 1.001, np.minimum(open_, close) * 0.999,
                 close)  # fmt: skip


def batch(ts: np.ndarray, *prices: np.ndarray) -> BarBatch:
    open_, high, low, close = prices
    last = int(ts[-1]) + SPAN if len(ts) else 0
    return BarBatch(
        event_id="b", ts_event=last, ts_init=last, symbol="X", timeframe="1m", ts_open=ts,
        open=open_, high=high, low=low, close=close, volume=np.ones(len(ts)),
    )  # fmt: skip


def one_by_one(view: MarketView, bars: BarBatch, start: int, stop: int) -> None:
    for k in range(start, stop):
        ts = int(bars.ts_open[k])
        view.on_tick(Tick(event_id="t", ts_event=ts, ts_init=ts, symbol="X",
                          price=float(bars.open[k]), size=1.0))  # fmt: skip
        view.on_bar(Bar(event_id="b", ts_event=ts + SPAN, ts_init=ts + SPAN, symbol="X",
                        timeframe="1m", ts_open=ts, open=float(bars.open[k]),
                        high=float(bars.high[k]), low=float(bars.low[k]),
                        close=float(bars.close[k]), volume=1.0))  # fmt: skip


def part(bars: BarBatch, start: int, stop: int) -> BarBatch:
    cols = (bars.open, bars.high, bars.low, bars.close)
    return batch(bars.ts_open[start:stop], *(c[start:stop] for c in cols))


@pytest.mark.parametrize("cuts", [[0, 500], [0, 3, 40, 41, 200, 500], [0, 14, 15, 16, 500]])
def test_bars_in_batches_leave_the_price_time_and_atr_of_bars_one_by_one(cuts: list[int]) -> None:
    bars = series(500, seed=3)
    single, batched = MarketView(14), MarketView(14)
    one_by_one(single, bars, 0, 500)

    for k, (start, stop) in enumerate(itertools.pairwise(cuts)):
        if k % 2:
            one_by_one(batched, bars, start, stop)
        else:
            batched.on_bar_batch(part(bars, start, stop))

    assert batched.price("X") == single.price("X")
    assert batched.data_ts("X") == single.data_ts("X")
    assert batched.atr("X", "1m") == single.atr("X", "1m")
    assert batched.atr("X", "1m") is not None


def test_a_batch_already_seen_moves_no_atr_and_a_non_positive_last_close_keeps_the_last_price() -> (
    None
):
    bars = series(50, seed=4)
    view = MarketView(14)
    view.on_bar_batch(bars)
    atr = view.atr("X", "1m")

    view.on_bar_batch(bars)  # redelivered
    assert view.atr("X", "1m") == atr

    close = bars.close.copy()
    close[-1] = 0.0
    later = batch(bars.ts_open + 50 * SPAN, bars.open, bars.high, bars.low, close)
    view.on_bar_batch(later)
    assert view.price("X") == float(bars.open[-1])


@pytest.mark.parametrize("pending_bars", [1, 7, 64, MarketView.PENDING_BARS])
def test_runs_kept_pending_then_read_mid_way_give_the_atr_of_bars_one_by_one(
    pending_bars: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MarketView, "PENDING_BARS", pending_bars)
    bars = series(400, seed=5)
    single, batched = MarketView(14), MarketView(14)
    cuts = [0, 5, 9, 30, 31, 90, 91, 92, 250, 400]

    for k, (start, stop) in enumerate(itertools.pairwise(cuts)):
        one_by_one(single, bars, start, stop)
        if k % 3 == 2:
            one_by_one(batched, bars, start, stop)
        else:
            batched.on_bar_batch(part(bars, start, stop))
        assert batched.atr("X", "1m") == single.atr("X", "1m"), (start, stop)

    assert single.atr("X", "1m") is not None
