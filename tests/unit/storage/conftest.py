"""A migrated SQLite file per test, and small event builders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from tickmesh.core.stamp import Stamper
from tickmesh.model import Fill, Side
from tickmesh.storage import Database

NS = "paper"


@pytest.fixture
def stamper() -> Stamper:
    return Stamper.deterministic("storage-test", NS)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'tickmesh.db'}")
    await database.connect()
    await database.migrate()
    yield database
    await database.close()


def make_fill(
    stamper: Stamper,
    fill_id: str,
    ts: int,
    quantity: str = "1",
    price: str = "100",
    fee: str = "0",
) -> Fill:
    return Fill(
        **stamper(ts, correlation_id=f"sig-{fill_id}"),
        fill_id=fill_id,
        order_id=f"ord-{fill_id}",
        strategy_id="sma-1",
        symbol="BTC-USD",
        side=Side.BUY,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
    )
