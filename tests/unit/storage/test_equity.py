"""Equity samples: exact decimals, one row per namespace and time (the last written wins, so a
replay changes nothing), windows oldest first; and migration 0003 that adds their table."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import inspect, text

from tickmesh.storage import Database, EquitySample

from .conftest import NS

TINY = "0.0000000000000000000000000001"


def _sample(ts: int, equity: str, cash: str = "0") -> EquitySample:
    return EquitySample(ts, Decimal(equity), Decimal(cash))


async def test_equity_samples_round_trip_exactly_oldest_first(db: Database) -> None:
    samples = [_sample(20, "100000.10", TINY), _sample(10, "1234567890.123456789012345678")]

    async with db.transaction() as repo:
        await repo.add_equity_samples(NS, samples)
    async with db.reader() as repo:
        loaded = await repo.load_equity(NS)

    assert loaded == [samples[1], samples[0]]
    assert str(loaded[1].cash) == "1E-28"


async def test_equity_sample_written_again_keeps_one_row_with_the_last_value(
    db: Database,
) -> None:
    async with db.transaction() as repo:
        await repo.add_equity_samples(NS, [_sample(10, "100")])
    async with db.transaction() as repo:
        await repo.add_equity_samples(NS, [_sample(10, "101.5", "3")])
        await repo.add_equity_samples(NS, [_sample(10, "101.5", "3")])

    async with db.reader() as repo:
        assert await repo.load_equity(NS) == [_sample(10, "101.5", "3")]


async def test_equity_window_is_half_open_and_per_namespace(db: Database) -> None:
    async with db.transaction() as repo:
        await repo.add_equity_samples(NS, [_sample(ts, str(ts)) for ts in (10, 20, 30)])
        await repo.add_equity_samples("live", [_sample(20, "7")])

    async with db.reader() as repo:
        window = await repo.load_equity(NS, start_ns=10, end_ns=30)
        live = await repo.load_equity("live")

    assert [s.ts for s in window] == [10, 20]
    assert live == [_sample(20, "7")]


async def _tables(db: Database) -> set[str]:
    async with db.reader() as repo:
        return set(await repo.conn.run_sync(lambda conn: inspect(conn).get_table_names()))


async def test_downgrade_to_0002_drops_only_the_equity_table_and_upgrade_restores_it(
    db: Database,
) -> None:
    async with db.transaction() as repo:
        await repo.add_equity_samples(NS, [_sample(10, "1")])

    await db.downgrade("0002")
    at_0002 = await _tables(db)
    await db.migrate()

    async with db.reader() as repo:
        version = await repo.conn.execute(text("SELECT version_num FROM alembic_version"))
        head, kept = version.scalar_one(), await repo.load_equity(NS)

    assert (head, kept) == ("0003", [])
    assert "equity_samples" not in at_0002
    assert {"fills", "users", "audit"} <= at_0002
    assert "equity_samples" in await _tables(db)
