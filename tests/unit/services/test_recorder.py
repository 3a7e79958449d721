"""The recorder's equity history: one sample per namespace snapshot time, the last of a time
winning, strategy snapshots left out, and a replay of the same snapshots changing nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from tickmesh import topics
from tickmesh.model import PortfolioSnapshot
from tickmesh.services.recorder import RecorderService
from tickmesh.storage import Database, EquitySample

NS = "paper"
D = Decimal


def snapshot(ts: int, equity: str, cash: str = "1000", strategy_id: str = "") -> PortfolioSnapshot:
    return PortfolioSnapshot(
        event_id=f"snap-{ts}-{equity}-{strategy_id}", ts_event=ts, ts_init=ts,
        strategy_id=strategy_id, cash=D(cash), equity=D(equity), realized_pnl=D(0),
        unrealized_pnl=D(0), fees=D(0), gross_exposure=D(0), net_exposure=D(0), open_positions=0,
    )  # fmt: skip


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(f"sqlite:///{tmp_path / 'tickmesh.db'}") as database:
        await database.migrate()
        yield database


async def record(db: Database, *snapshots: PortfolioSnapshot) -> list[EquitySample]:
    """Hand ``snapshots`` to a fresh recorder, flush, and read the stored history."""
    recorder = RecorderService(db, NS, "session-1", D(1000))
    for snap in snapshots:
        recorder.handle(topics.portfolio(NS), snap)
    await recorder.flush()
    async with db.reader() as repo:
        return await repo.load_equity(NS)


async def test_namespace_snapshots_become_equity_samples_and_strategy_ones_do_not(
    db: Database,
) -> None:
    history = await record(
        db, snapshot(10, "1000.5"), snapshot(20, "999.25", "0.1"), snapshot(15, "7", "7", "s1")
    )

    assert history == [
        EquitySample(10, D("1000.5"), D(1000)),
        EquitySample(20, D("999.25"), D("0.1")),
    ]


async def test_snapshots_sharing_a_time_keep_the_last_in_a_flush_and_across_flushes(
    db: Database,
) -> None:
    await record(db, snapshot(10, "1000"), snapshot(10, "1001"))

    history = await record(db, snapshot(10, "1002"))

    assert history == [EquitySample(10, D(1002), D(1000))]


async def test_replaying_the_same_snapshots_changes_nothing(db: Database) -> None:
    snapshots = [snapshot(10, "1000"), snapshot(20, "1010"), snapshot(20, "1020")]
    first = await record(db, *snapshots)

    replayed = await record(db, *snapshots)

    assert (
        replayed
        == first
        == [EquitySample(10, D(1000), D(1000)), EquitySample(20, D(1020), D(1000))]
    )


async def test_a_snapshot_with_a_non_finite_equity_is_not_sampled(db: Database) -> None:
    history = await record(db, snapshot(10, "NaN"), snapshot(20, "1000"))

    assert [sample.ts for sample in history] == [20]
