"""Each read endpoint answers what the store holds: exact decimals as strings, the namespace
asked for (the configured one by default), and nothing of other namespaces."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.unit.storage.conftest import make_fill
from tickmesh.config import Settings
from tickmesh.core.stamp import Stamper
from tickmesh.model import (
    Bar,
    DenyReason,
    OrderAccepted,
    OrderDenied,
    OrderIntent,
    OrderType,
    RiskState,
    Side,
    Signal,
    TradingState,
)
from tickmesh.storage import (
    Database,
    EquitySample,
    SessionRecord,
    SessionStatus,
    StoredPosition,
)
from tickmesh.storage.candles import Candles, CandleStore
from tickmesh.storage.runs import RunStore
from tickmesh.topics import timeframe_seconds

from .conftest import ON_EVERY_BACKEND

NS = "paper"
QTY = "1234567890.123456789012345678"
TINY = "1E-28"

pytestmark = ON_EVERY_BACKEND


@pytest.fixture
def stamper() -> Stamper:
    return Stamper.deterministic("api-test", NS)


async def get(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, **params: str
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/{path}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_fills_are_returned_with_exact_decimal_strings(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    fill = make_fill(stamper, "f1", 10, quantity=QTY, price="0.3", fee=TINY)
    async with db.transaction() as repo:
        await repo.add_fills([fill], NS)
        await repo.add_fills([make_fill(stamper, "f-live", 11)], "live")

    body = await get(client, viewer, "fills")

    (item,) = body["items"]
    assert (item["quantity"], item["price"], item["fee"]) == (QTY, "0.3", TINY)
    assert (item["fill_id"], item["order_id"], item["side"], item["ts_event"]) == (
        "f1", "ord-f1", "BUY", 10,
    )  # fmt: skip
    assert (body["total"], body["limit"], body["offset"]) == (1, 100, 0)


async def test_namespace_parameter_selects_another_namespace(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    async with db.transaction() as repo:
        await repo.add_fills([make_fill(stamper, "f1", 10)], NS)
        await repo.add_fills([make_fill(stamper, "f-live", 11)], "live")

    body = await get(client, viewer, "fills", namespace="live")

    assert [item["fill_id"] for item in body["items"]] == ["f-live"]


async def test_orders_show_their_folded_lifecycle(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    terms: dict[str, Any] = {
        "order_id": "o1",
        "strategy_id": "s1",
        "symbol": "BTC-USD",
        "side": Side.SELL,
    }
    intent = OrderIntent(
        **stamper(5, "sig-1"), signal_id="sig-1", quantity=Decimal("0.50"), **terms
    )
    accepted = OrderAccepted(
        **stamper(6, "sig-1"), quantity=Decimal("0.50"), order_type=OrderType.LIMIT,
        limit_price=Decimal("101.10"), **terms,
    )  # fmt: skip
    async with db.transaction() as repo:
        await repo.upsert_orders([intent, accepted], NS)

    (item,) = (await get(client, viewer, "orders"))["items"]

    assert (item["status"], item["quantity"], item["limit_price"]) == ("ACCEPTED", "0.50", "101.10")
    assert (item["filled_quantity"], item["order_type"], item["side"]) == ("0", "LIMIT", "SELL")


async def test_portfolio_has_account_and_positions(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    position = StoredPosition(
        "s1", "BTC-USD", Decimal("0.001"), Decimal("65000.10"), Decimal("-1.5"), 7
    )
    async with db.transaction() as repo:
        await repo.set_account(NS, Decimal("100000"), Decimal("99934.9999"), ts=7)
        await repo.replace_positions(NS, [position], ts=7)

    body = await get(client, viewer, "portfolio")

    assert body["account"] == {"starting_cash": "100000", "cash": "99934.9999", "ts": 7}
    assert body["positions"] == [
        {"strategy_id": "s1", "symbol": "BTC-USD", "quantity": "0.001",
         "avg_price": "65000.10", "realized_pnl": "-1.5", "ts": 7}
    ]  # fmt: skip
    assert body["namespace"] == NS


async def test_portfolio_of_empty_namespace_has_no_account(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    body = await get(client, viewer, "portfolio", namespace="fresh")

    assert body == {"namespace": "fresh", "account": None, "positions": []}


async def test_positions_are_a_page(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    held = [
        StoredPosition("s1", symbol, Decimal("1.10"), Decimal("2"), Decimal("0"), 1)
        for symbol in ("B", "A", "C")
    ]
    async with db.transaction() as repo:
        await repo.replace_positions(NS, held, ts=1)

    body = await get(client, viewer, "positions", limit="2", offset="1")

    assert [p["symbol"] for p in body["items"]] == ["B", "C"]
    assert body["total"] == 3
    assert body["items"][0]["quantity"] == "1.10"


async def test_signals_come_back_as_stored(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    signal = Signal(
        **stamper(20, "c-1"), strategy_id="sma-1", strategy="sma_cross", symbol="EURUSD",
        side=Side.BUY, price=1.0845, timeframe="1h", quantity=Decimal("1000.5"), reason="cross",
    )  # fmt: skip
    async with db.transaction() as repo:
        await repo.add_signals([signal], NS)

    (item,) = (await get(client, viewer, "signals"))["items"]

    assert (item["event_id"], item["price"], item["quantity"]) == (
        signal.event_id,
        1.0845,
        "1000.5",
    )
    assert (item["reason"], item["timeframe"], item["correlation_id"]) == ("cross", "1h", "c-1")


async def test_rejections_carry_reason_code_and_detail(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    denial = OrderDenied(
        **stamper(30), signal_id="sig-9", strategy_id="sma-1", symbol="EURUSD", side=Side.SELL,
        reason=DenyReason.PRICE_BAND, detail="price 1.2 is 11% from last 1.08",
    )  # fmt: skip
    async with db.transaction() as repo:
        await repo.add_rejections([denial], NS)

    (item,) = (await get(client, viewer, "rejections"))["items"]

    assert (item["reason"], item["detail"], item["signal_id"]) == (
        "PRICE_BAND", "price 1.2 is 11% from last 1.08", "sig-9",
    )  # fmt: skip


async def test_bars_in_a_window_oldest_first(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    minute = 60_000_000_000
    bars = [
        Bar(**stamper(t + minute), symbol="SYN1", timeframe="1m", ts_open=t, open=1.5,
            high=2.25, low=1.0, close=2.0, volume=10.0, trade_count=3)
        for t in (0, minute, 2 * minute)
    ]  # fmt: skip
    async with db.transaction() as repo:
        await repo.add_bars(bars)

    body = await get(client, viewer, "bars", symbol="SYN1", timeframe="1m", to=str(2 * minute))

    assert [b["ts_open"] for b in body["items"]] == [0, minute]
    assert body["items"][0] | {"ts_event": 0} == {
        "symbol": "SYN1", "timeframe": "1m", "ts_open": 0, "ts_event": 0, "open": 1.5,
        "high": 2.25, "low": 1.0, "close": 2.0, "volume": 10.0, "trade_count": 3,
    }  # fmt: skip


async def test_bars_window_accepts_iso_times(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    day = 86_400 * 10**9
    bars = [
        Bar(**stamper(t + day), symbol="GOOGL", timeframe="1d", ts_open=t, open=1.0, high=1.0,
            low=1.0, close=1.0, volume=1.0)
        for t in (0, day, 2 * day)
    ]  # fmt: skip
    async with db.transaction() as repo:
        await repo.add_bars(bars)

    body = await get(
        client, viewer, "bars", symbol="GOOGL", timeframe="1d", **{"from": "1970-01-02"}
    )

    assert [b["ts_open"] for b in body["items"]] == [day, 2 * day]


async def test_risk_state_as_stored(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    state = RiskState(
        **stamper(40), state=TradingState.REDUCING, reason="drawdown 12%",
        peak_equity=Decimal("100500.25"),
    )  # fmt: skip
    async with db.transaction() as repo:
        await repo.save_risk_state(NS, state)

    body = await get(client, viewer, "risk")

    assert body == {
        "namespace": NS,
        "risk": {"state": "REDUCING", "reason": "drawdown 12%", "peak_equity": "100500.25",
                 "ts": 40},
    }  # fmt: skip


async def test_risk_of_namespace_without_state_is_null(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    assert (await get(client, viewer, "risk"))["risk"] is None


async def test_sessions_newest_first_with_start_positions(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    older = SessionRecord("s-old", NS, 1, SessionStatus.COMPLETED, Decimal("1000"), ended_at=2)
    newer = SessionRecord(
        "s-new", NS, 5, SessionStatus.RUNNING, Decimal("999.99"),
        start_positions={"sma-1:EURUSD": Decimal("0.10")}, seed=7,
    )  # fmt: skip
    async with db.transaction() as repo:
        await repo.create_session(older)
        await repo.create_session(newer)

    body = await get(client, viewer, "sessions")

    assert [s["id"] for s in body["items"]] == ["s-new", "s-old"]
    assert body["items"][0]["start_positions"] == {"sma-1:EURUSD": "0.10"}
    assert (body["items"][0]["start_cash"], body["items"][0]["seed"]) == ("999.99", 7)
    assert body["items"][1]["status"] == "completed"


async def test_version_names_the_package_version(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    from tickmesh import __version__

    assert await get(client, viewer, "version") == {"version": __version__, "api": "v1"}


# --- stored backtest runs ---------------------------------------------------------------------


def save_run(settings: Settings, symbol: str, trades: list[dict[str, str]]) -> str:
    one = np.ones(3)
    candles = Candles(np.arange(3, dtype=np.int64), one, one * 2, one / 2, one, one)
    config = {"symbols": [symbol], "strategies": [{"name": "sma_cross"}], "timeframe": "1d"}
    stats = {"return_pct": 1.5, "equity_final": "10150.000000001", "trades": trades}
    store = RunStore(Path(settings.data_dir) / "runs")
    return store.save(config, {symbol: candles}, stats, [], []).run_id


async def test_backtests_list_newest_first_without_trades(
    client: httpx.AsyncClient, viewer: dict[str, str], settings: Settings
) -> None:
    first = save_run(settings, "GOOGL", [{"symbol": "GOOGL", "pnl": "1.1"}])
    second = save_run(settings, "EURUSD", [])

    body = await get(client, viewer, "backtests")
    only_googl = await get(client, viewer, "backtests", symbol="GOOGL")

    assert [run["run_id"] for run in body["items"]] == [second, first]
    assert body["items"][1]["stats"] == {"return_pct": 1.5, "equity_final": "10150.000000001"}
    assert body["items"][1]["summary"] == "sma_cross on GOOGL 1d"
    assert [run["run_id"] for run in only_googl["items"]] == [first]


async def test_backtest_detail_has_stats_and_a_page_of_trades(
    client: httpx.AsyncClient, viewer: dict[str, str], settings: Settings
) -> None:
    trades = [{"symbol": "GOOGL", "strategy_id": "s", "pnl": f"0.{i}1"} for i in range(3)]
    run_id = save_run(settings, "GOOGL", trades)

    body = await get(client, viewer, f"backtests/{run_id}", limit="2", offset="1")

    assert body["stats"]["equity_final"] == "10150.000000001"
    assert [t["pnl"] for t in body["trades"]] == ["0.11", "0.21"]
    assert (body["total"], body["limit"], body["offset"]) == (3, 2, 1)


async def test_unknown_backtest_is_404(client: httpx.AsyncClient, viewer: dict[str, str]) -> None:
    response = await client.get("/api/v1/backtests/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=viewer)

    assert response.status_code == 404
    assert "01ARZ3NDEKTSV4RRFFQ69G5FAV" in response.json()["detail"]


@pytest.mark.parametrize("run_id", ["%2E%2E", "not-a-run", "01ARZ3NDEKTSV4RRFFQ69G5FA!"])
async def test_malformed_backtest_id_is_422(
    client: httpx.AsyncClient, viewer: dict[str, str], run_id: str
) -> None:
    response = await client.get(f"/api/v1/backtests/{run_id}", headers=viewer)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "run_id"]


# --- symbols and equity -----------------------------------------------------------------------


def _bars(stamper: Stamper, symbol: str, timeframe: str, closes: list[float]) -> list[Bar]:
    step = timeframe_seconds(timeframe) * 10**9
    return [
        Bar(**stamper((n + 1) * step), symbol=symbol, timeframe=timeframe, ts_open=n * step,
            open=close, high=close, low=close, close=close, volume=1.0)
        for n, close in enumerate(closes)
    ]  # fmt: skip


async def test_symbols_list_each_symbol_with_its_timeframes_range_count_and_last_close(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    async with db.transaction() as repo:
        await repo.add_bars(_bars(stamper, "SYN1", "1m", [1.0, 2.0, 3.0]))
        await repo.add_bars(_bars(stamper, "SYN1", "5m", [4.0]))
        await repo.add_bars(_bars(stamper, "EURUSD", "1h", [1.08, 1.09]))

    body = await get(client, viewer, "symbols")

    minute, hour = 60 * 10**9, 3600 * 10**9
    assert [item["symbol"] for item in body["items"]] == ["EURUSD", "SYN1"]
    eurusd, syn1 = body["items"]
    assert (eurusd["timeframes"], eurusd["bar_count"], eurusd["last_close"]) == (["1h"], 2, 1.09)
    assert (eurusd["first_ts_open"], eurusd["last_ts_open"]) == (0, hour)
    assert (syn1["timeframes"], syn1["bar_count"]) == (["1m", "5m"], 4)
    assert (syn1["first_ts_open"], syn1["last_ts_open"]) == (0, 2 * minute)
    assert syn1["last_close"] == 4.0  # the 5m bar closes last (at 5 minutes, the 1m at 3)
    assert syn1["series"] == [
        {"timeframe": "1m", "first_ts_open": 0, "last_ts_open": 2 * minute, "bar_count": 3,
         "last_close": 3.0},
        {"timeframe": "5m", "first_ts_open": 0, "last_ts_open": 0, "bar_count": 1,
         "last_close": 4.0},
    ]  # fmt: skip
    assert body["total"] == 2


async def test_symbols_sort_by_bar_count_page_and_filter_by_timeframe(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    async with db.transaction() as repo:
        for symbol, count in (("a", 1), ("B", 3), ("C", 2)):
            await repo.add_bars(_bars(stamper, symbol, "1m", [1.0] * count))
        await repo.add_bars(_bars(stamper, "D", "1h", [1.0] * 5))

    page = await get(client, viewer, "symbols", sort="-bar_count", timeframe="1m", limit="2")
    rest = await get(client, viewer, "symbols", sort="-bar_count", timeframe="1m", offset="2")
    by_name = await get(client, viewer, "symbols", timeframe="1m")

    assert [i["symbol"] for i in page["items"]] == ["B", "C"]
    assert [i["symbol"] for i in rest["items"]] == ["a"]
    assert (page["total"], rest["total"]) == (3, 3)
    assert [i["symbol"] for i in by_name["items"]] == ["B", "C", "a"]  # code point order


async def test_symbols_of_a_namespace_are_the_ones_it_signalled_on(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str], stamper: Stamper
) -> None:
    signal = Signal(
        **stamper(20), strategy_id="s1", strategy="sma_cross", symbol="SYN2", side=Side.BUY,
        price=1.0, timeframe="1m",
    )  # fmt: skip
    async with db.transaction() as repo:
        await repo.add_bars(_bars(stamper, "SYN1", "1m", [1.0]))
        await repo.add_bars(_bars(stamper, "SYN2", "1m", [1.0]))
        await repo.add_signals([signal], "live")

    live = await get(client, viewer, "symbols", namespace="live")
    paper = await get(client, viewer, "symbols", namespace="paper")

    assert [i["symbol"] for i in live["items"]] == ["SYN2"]
    assert paper["items"] == []


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"sort": "close"}, "allowed: symbol, bar_count, first_ts_open, last_ts_open"),
        ({"timeframe": "2m"}, "unknown timeframe '2m'"),
        ({"symbol": "X"}, "unknown query parameter(s) symbol"),
    ],
)
async def test_symbols_with_bad_parameters_are_422_naming_what_is_allowed(
    client: httpx.AsyncClient, viewer: dict[str, str], params: dict[str, str], reason: str
) -> None:
    response = await client.get("/api/v1/symbols", headers=viewer, params=params)

    assert response.status_code == 422
    assert reason in response.text


async def test_equity_history_oldest_first_with_exact_decimals_in_a_window(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    samples = [
        EquitySample(ts, Decimal(equity), Decimal(cash))
        for ts, equity, cash in ((30, "100000.30", "1"), (10, "99999.99", TINY), (20, QTY, "0"))
    ]
    async with db.transaction() as repo:
        await repo.add_equity_samples(NS, samples)
        await repo.add_equity_samples("live", [EquitySample(15, Decimal(1), Decimal(1))])

    body = await get(client, viewer, "equity", **{"from": "10", "to": "30"})
    newest = await get(client, viewer, "equity", sort="-ts", limit="1")

    assert body["items"] == [
        {"ts": 10, "equity": "99999.99", "cash": TINY},
        {"ts": 20, "equity": QTY, "cash": "0"},
    ]
    assert body["total"] == 2
    assert newest["items"] == [{"ts": 30, "equity": "100000.30", "cash": "1"}]


async def test_equity_of_another_namespace_and_bad_window(
    db: Database, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    async with db.transaction() as repo:
        await repo.add_equity_samples("live", [EquitySample(15, Decimal(2), Decimal(1))])

    live = await get(client, viewer, "equity", namespace="live")
    backwards = await client.get(
        "/api/v1/equity", headers=viewer, params={"from": "20", "to": "10"}
    )

    assert live["items"] == [{"ts": 15, "equity": "2", "cash": "1"}]
    assert backwards.status_code == 422
    assert "'from' (20) must be before 'to' (10)" in backwards.text


def backtest_saved_by_the_cli(data_dir: str) -> str:
    """A real run: bundled GOOGL candles imported, sma_cross backtested and stored."""
    from typer.testing import CliRunner

    from tickmesh.cli import app

    runner = CliRunner()
    for args in (
        ["data", "import", "bundled:GOOGL_1d", "--data-dir", data_dir],
        ["backtest", "-s", "sma_cross", "--symbols", "GOOGL", "--timeframe", "1d",
         "--data-dir", data_dir, "--json"],
    ):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return RunStore(Path(data_dir) / "runs").runs()[0].run_id


async def test_a_stored_run_report_downloads_as_one_offline_html_file(
    client: httpx.AsyncClient, viewer: dict[str, str], settings: Settings
) -> None:
    run_id = backtest_saved_by_the_cli(settings.data_dir)

    response = await client.get(f"/api/v1/backtests/{run_id}/report", headers=viewer)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-disposition"] == f'attachment; filename="report-{run_id}.html"'
    assert "sandbox" in response.headers["content-security-policy"]
    page = response.text
    assert f"sma_cross on GOOGL 1d (run {run_id})" in page
    assert "LightweightCharts" in page  # the chart library is inside the file
    assert "http://" not in page.replace("http://www.w3.org", "")  # nothing fetched from outside


async def test_a_report_whose_candles_changed_since_the_run_is_refused_with_409(
    client: httpx.AsyncClient, viewer: dict[str, str], settings: Settings
) -> None:
    run_id = backtest_saved_by_the_cli(settings.data_dir)
    store = CandleStore(settings.data_dir)
    c = store.read("GOOGL", "1d", None, None)
    store.write("GOOGL", "1d", Candles(c.ts_open, c.open, c.high, c.low, c.close * 1.01, c.volume),
                replace=True)  # fmt: skip

    response = await client.get(f"/api/v1/backtests/{run_id}/report", headers=viewer)

    assert response.status_code == 409
    assert "changed since it ran" in response.json()["detail"]


async def test_the_report_of_an_unknown_run_is_404(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    response = await client.get(
        "/api/v1/backtests/01ARZ3NDEKTSV4RRFFQ69G5FAV/report", headers=viewer
    )

    assert response.status_code == 404
