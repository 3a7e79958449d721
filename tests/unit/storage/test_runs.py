"""Stored backtest runs: complete folders, exact money, newest first, clear misses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tickmesh.core.errors import DataError
from tickmesh.model import Fill, Side
from tickmesh.storage.candles import Candles
from tickmesh.storage.runs import RunStore, data_hash


def candles(close: float = 1.0) -> Candles:
    one = np.ones(3)
    return Candles(np.arange(3, dtype=np.int64), one, one * 2, one / 2, one * close, one)


def fill() -> Fill:
    return Fill(
        event_id="e", ts_event=7, ts_init=7, fill_id="f1", order_id="o1", strategy_id="s",
        symbol="X", side=Side.SELL, quantity=Decimal("0.125"), price=Decimal("100.01"),
        fee=Decimal("0.0000001"),
    )  # fmt: skip


def test_saved_run_reads_back_with_exact_money(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    equity = [(1, Decimal("10000")), (2, Decimal("10000.000000001"))]

    run = store.save({"symbols": ["X"]}, {"X": candles()}, {"n_trades": 1}, equity, [fill()])
    again = store.get(run.run_id)

    assert store.equity(again) == equity
    (row,) = store.fills(again)
    assert (row["quantity"], row["price"], row["fee"], row["side"]) == (
        "0.125", "100.01", "1E-7", "SELL",
    )
    assert again.stats == {"n_trades": 1}
    assert not list(tmp_path.glob(".*.tmp"))


def test_runs_are_listed_newest_first(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    first = store.save({}, {"X": candles()}, {}, [], [])
    second = store.save({}, {"X": candles()}, {}, [], [])

    assert [r.run_id for r in store.runs()] == [second.run_id, first.run_id]


def test_data_hash_changes_with_any_price(tmp_path: Path) -> None:
    assert data_hash({"X": candles()}) == data_hash({"X": candles()})
    assert data_hash({"X": candles()}) != data_hash({"X": candles(close=1.0000001)})
    assert data_hash({"X": candles()}) != data_hash({"Y": candles()})


def test_unknown_run_names_the_latest_ones(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run = store.save({}, {"X": candles()}, {}, [], [])

    with pytest.raises(DataError, match=f"no backtest run 'nope'.*latest: {run.run_id}"):
        store.get("nope")
    with pytest.raises(DataError, match="no backtest run"):
        store.get("../x")
