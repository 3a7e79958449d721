"""Paging, sorting and filtering: bad input is a 4xx naming what is allowed, good input pages
through exactly the matching rows."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from tests.unit.storage.conftest import make_fill
from tickmesh.core.stamp import Stamper
from tickmesh.model import Fill, Side
from tickmesh.storage import Database, SessionRecord, SessionStatus

from .conftest import ON_EVERY_BACKEND

NS = "paper"


def message(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    return " ".join(str(error["msg"]) for error in response.json()["detail"])


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"limit": "0"}, "greater than or equal to 1"),
        ({"limit": "1001"}, "less than or equal to 1000"),
        ({"limit": "ten"}, "valid integer"),
        ({"offset": "-1"}, "greater than or equal to 0"),
        ({"sort": "price"}, "allowed: ts_event, symbol, strategy_id, order_id"),
        ({"sort": "ts_event,-nope"}, "'nope'"),
        ({"colour": "red"}, "unknown query parameter(s) colour; allowed: from, limit"),
        ({"namespace": "Not Valid"}, "invalid namespace"),
        ({"side": "HOLD"}, "'BUY' or 'SELL'"),
        ({"symbol": "X" * 65}, "at most 64 characters"),
        ({"symbol": "A\x00B"}, "pattern"),
        ({"from": "yesterday"}, "not a time"),
        ({"from": "2024-02-01", "to": "2024-01-01"}, "must be before"),
        ({"to": str(1 << 64)}, "less than"),
    ],
)
async def test_bad_list_parameter_is_422_with_reason(
    client: httpx.AsyncClient, viewer: dict[str, str], params: dict[str, str], reason: str
) -> None:
    response = await client.get("/api/v1/fills", headers=viewer, params=params)

    assert reason in message(response)


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("bars", {"timeframe": "1m"}, "Field required"),
        ("bars", {"symbol": "X", "timeframe": "2m"}, "unknown timeframe"),
        ("bars", {"symbol": "X", "timeframe": "1m", "namespace": "paper"}, "allowed:"),
        ("rejections", {"reason": "BECAUSE"}, "PRICE_BAND"),
        ("orders", {"status": "DONE"}, "FILLED"),
        ("portfolio", {"limit": "5"}, "allowed: namespace"),
        ("sessions", {"sort": "start_cash"}, "allowed: started_at"),
        ("backtests", {"sort": "return_pct"}, "allowed: run_id, created_ns"),
        ("audit", {}, ""),
    ],
)
async def test_each_endpoint_validates_its_own_parameters(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    path: str,
    params: dict[str, str],
    reason: str,
) -> None:
    response = await client.get(f"/api/v1/{path}", headers=admin, params=params)

    if not reason:
        assert response.status_code == 200
    else:
        assert reason in message(response)


async def store_fills(db: Database, fills: list[Fill]) -> None:
    async with db.transaction() as repo:
        await repo.add_fills(fills, NS)


@pytest.fixture
def stamper() -> Stamper:
    return Stamper.deterministic("pagination-test", NS)


@ON_EVERY_BACKEND
async def test_pages_cover_every_row_once_even_with_equal_sort_keys(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    await store_fills(db, [make_fill(stamper, f"f{i:02d}", ts=100) for i in range(7)])

    seen: list[str] = []
    for offset in range(0, 9, 3):
        page = await client.get(
            "/api/v1/fills", headers=viewer, params={"limit": "3", "offset": str(offset)}
        )
        seen += [item["fill_id"] for item in page.json()["items"]]

    assert seen == [f"f{i:02d}" for i in reversed(range(7))]


@ON_EVERY_BACKEND
async def test_filters_and_sort_combine(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    fills = [make_fill(stamper, f"f{i}", ts=10 * i) for i in range(1, 6)]
    await store_fills(db, fills)
    params = {"from": "20", "to": "50", "sort": "ts_event", "order_id": "ord-f3"}

    narrowed = await client.get("/api/v1/fills", headers=viewer, params=params)
    window = await client.get(
        "/api/v1/fills", headers=viewer, params={"from": "20", "to": "50", "sort": "ts_event"}
    )

    assert [f["fill_id"] for f in narrowed.json()["items"]] == ["f3"]
    assert [f["fill_id"] for f in window.json()["items"]] == ["f2", "f3", "f4"]
    assert window.json()["total"] == 3


@ON_EVERY_BACKEND
async def test_side_filter_and_total_count(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    buy = make_fill(stamper, "b1", ts=1)
    sell = Fill(**{**{f: getattr(buy, f) for f in buy.__struct_fields__},
                   "fill_id": "s1", "side": Side.SELL})  # fmt: skip
    await store_fills(db, [buy, sell])

    response = await client.get("/api/v1/fills", headers=viewer, params={"side": "SELL"})

    assert [f["fill_id"] for f in response.json()["items"]] == ["s1"]
    assert response.json()["total"] == 1


@ON_EVERY_BACKEND
async def test_offset_past_the_end_is_an_empty_page_with_total(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    await store_fills(db, [make_fill(stamper, "f1", ts=1)])

    response = await client.get("/api/v1/fills", headers=viewer, params={"offset": "50"})

    assert response.json() == {"items": [], "limit": 100, "offset": 50, "total": 1}


@ON_EVERY_BACKEND
@pytest.mark.parametrize(
    ("sort", "expected"), [("ended_at", ["a", "b", "c"]), ("-ended_at", ["b", "a", "c"])]
)
async def test_missing_values_sort_last_either_way_on_every_database(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], sort: str, expected: list[str]
) -> None:
    runs = [("a", 10), ("b", 20), ("c", None)]
    async with db.transaction() as repo:
        for session_id, ended in runs:
            await repo.create_session(
                SessionRecord(session_id, NS, 1, SessionStatus.RUNNING, Decimal(1), ended_at=ended)
            )

    response = await client.get("/api/v1/sessions", headers=viewer, params={"sort": sort})

    assert [s["id"] for s in response.json()["items"]] == expected


@ON_EVERY_BACKEND
async def test_text_sorts_by_code_point_on_every_database(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    fills = [make_fill(stamper, f"f{i}", ts=i) for i in range(3)]
    symbols = ["b-usd", "B-USD", "a-usd"]
    renamed = [
        Fill(**{**{f: getattr(fill, f) for f in fill.__struct_fields__}, "symbol": symbol})
        for fill, symbol in zip(fills, symbols, strict=True)
    ]
    await store_fills(db, renamed)

    response = await client.get("/api/v1/fills", headers=viewer, params={"sort": "symbol"})

    assert [f["symbol"] for f in response.json()["items"]] == ["B-USD", "a-usd", "b-usd"]
