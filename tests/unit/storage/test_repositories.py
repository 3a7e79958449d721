"""Round trips, idempotency and ordering of the repositories."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickmesh.core.stamp import Stamper
from tickmesh.model import (
    Bar,
    DenyReason,
    OrderDenied,
    PositionSnapshot,
    RiskState,
    Side,
    Signal,
    TradingState,
)
from tickmesh.storage import Database, SessionRecord, SessionStatus, StoredPosition

from .conftest import NS, make_fill

TWENTY_EIGHT_DIGITS = "1234567890.123456789012345678"
TINY = "0.0000000000000000000000000001"


async def test_fill_decimals_round_trip_exactly(db: Database, stamper: Stamper) -> None:
    fill = make_fill(
        stamper,
        "f1",
        1,
        quantity=TWENTY_EIGHT_DIGITS,
        price=str(Decimal("0.1") + Decimal("0.2")),
        fee=TINY,
    )

    async with db.transaction() as repo:
        await repo.add_fills([fill], NS)
    async with db.reader() as repo:
        (loaded,) = await repo.load_fills(NS)

    assert loaded == fill
    assert loaded.price == Decimal("0.3")
    assert str(loaded.quantity) == TWENTY_EIGHT_DIGITS
    assert str(loaded.fee) == "1E-28"


async def test_trailing_zeros_and_exponents_survive_storage(db: Database) -> None:
    values = [
        Decimal("1.500"),
        Decimal("-0.00"),
        Decimal("1E+5"),
        Decimal("99999999999999999999.9"),
    ]

    async with db.transaction() as repo:
        for index, value in enumerate(values):
            await repo.set_account(f"ns{index}", value, value, index)
    async with db.reader() as repo:
        loaded = [(await repo.load_account(f"ns{index}")) for index in range(len(values))]

    assert [str(account.cash) for account in loaded if account] == [str(v) for v in values]


async def test_same_fill_added_twice_is_stored_once(db: Database, stamper: Stamper) -> None:
    fill = make_fill(stamper, "f1", 1)

    async with db.transaction() as repo:
        await repo.add_fills([fill], NS)
    async with db.transaction() as repo:
        await repo.add_fills([fill, fill], NS)
    async with db.reader() as repo:
        fills = await repo.load_fills(NS)

    assert fills == [fill]


async def test_redelivered_fill_with_changed_fields_keeps_first(
    db: Database, stamper: Stamper
) -> None:
    first = make_fill(stamper, "f1", 1, quantity="1")
    redelivered = make_fill(stamper, "f1", 1, quantity="2")

    async with db.transaction() as repo:
        await repo.add_fills([first], NS)
        await repo.add_fills([redelivered], NS)
        (stored,) = await repo.load_fills(NS)

    assert stored.quantity == Decimal("1")


async def test_load_fills_orders_by_time_then_fill_id(db: Database, stamper: Stamper) -> None:
    fills = [
        make_fill(stamper, "c", 20),
        make_fill(stamper, "b", 10),
        make_fill(stamper, "a", 20),
        make_fill(stamper, "z", 5),
    ]

    async with db.transaction() as repo:
        await repo.add_fills(fills, NS)
        loaded = await repo.load_fills(NS)

    assert [fill.fill_id for fill in loaded] == ["z", "b", "a", "c"]


async def test_load_fills_keeps_namespaces_apart(db: Database, stamper: Stamper) -> None:
    async with db.transaction() as repo:
        await repo.add_fills([make_fill(stamper, "p1", 1)], NS)
        await repo.add_fills([make_fill(stamper, "l1", 1)], "live")
        paper = await repo.load_fills(NS)

    assert [fill.fill_id for fill in paper] == ["p1"]


async def test_list_fills_pages_newest_first(db: Database, stamper: Stamper) -> None:
    fills = [make_fill(stamper, f"f{index}", index) for index in range(5)]

    async with db.transaction() as repo:
        await repo.add_fills(fills, NS)
        first_page = await repo.list_fills(NS, limit=2)
        second_page = await repo.list_fills(NS, limit=2, offset=2)

    assert [fill.fill_id for fill in first_page] == ["f4", "f3"]
    assert [fill.fill_id for fill in second_page] == ["f2", "f1"]


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (10, -1)])
async def test_list_with_bad_page_raises(db: Database, limit: int, offset: int) -> None:
    async with db.reader() as repo:
        with pytest.raises(ValueError, match=r"limit|offset"):
            await repo.list_fills(NS, limit=limit, offset=offset)


async def test_fills_linked_to_session_are_stored(db: Database, stamper: Stamper) -> None:
    session = SessionRecord(
        id="s1", namespace=NS, started_at=1, status=SessionStatus.RUNNING, start_cash=Decimal(1)
    )

    async with db.transaction() as repo:
        await repo.create_session(session)
        await repo.add_fills([make_fill(stamper, "f1", 1)], NS, session_id="s1")
        fills = await repo.load_fills(NS)

    assert len(fills) == 1


def _bar(stamper: Stamper, ts_open: int, close: float = 101.5) -> Bar:
    return Bar(
        **stamper(ts_open + 60),
        symbol="BTC-USD",
        timeframe="1m",
        ts_open=ts_open,
        open=100.0,
        high=102.25,
        low=99.0,
        close=close,
        volume=0.1 + 0.2,
        trade_count=7,
    )


async def test_bars_round_trip_and_ignore_duplicates(db: Database) -> None:
    stamper = Stamper.deterministic("bars")
    bars = [_bar(stamper, 120), _bar(stamper, 0), _bar(stamper, 60)]

    async with db.transaction() as repo:
        await repo.add_bars(bars)
        await repo.add_bars([_bar(stamper, 0, close=1.0)])
        loaded = await repo.load_bars("BTC-USD", "1m")

    assert loaded == [bars[1], bars[2], bars[0]]


async def test_load_bars_window_is_half_open(db: Database) -> None:
    stamper = Stamper.deterministic("bars")
    async with db.transaction() as repo:
        await repo.add_bars([_bar(stamper, ts) for ts in (0, 60, 120, 180)])
        window = await repo.load_bars("BTC-USD", "1m", start_ns=60, end_ns=180)

    assert [bar.ts_open for bar in window] == [60, 120]


def _signal(stamper: Stamper, ts: int) -> Signal:
    return Signal(
        **stamper(ts),
        strategy_id="sma-1",
        strategy="sma_cross",
        symbol="BTC-USD",
        side=Side.SELL,
        price=101.5,
        quantity=Decimal("0.30"),
        reason="cross down",
    )


async def test_signals_round_trip_newest_first_once(db: Database, stamper: Stamper) -> None:
    signals = [_signal(stamper, 1), _signal(stamper, 2)]

    async with db.transaction() as repo:
        await repo.add_signals(signals, NS)
        await repo.add_signals(signals, NS)
        listed = await repo.list_signals(NS)

    assert listed == [signals[1], signals[0]]


async def test_rejections_round_trip_once(db: Database, stamper: Stamper) -> None:
    denial = OrderDenied(
        **stamper(5),
        signal_id="sig-1",
        strategy_id="sma-1",
        symbol="BTC-USD",
        side=Side.BUY,
        reason=DenyReason.MAX_POSITION,
        detail="would hold 3 > 2",
    )

    async with db.transaction() as repo:
        await repo.add_rejections([denial, denial], NS)
        listed = await repo.list_rejections(NS)

    assert listed == [denial]


def _position(stamper: Stamper, symbol: str, quantity: str) -> PositionSnapshot:
    return PositionSnapshot(
        **stamper(1),
        strategy_id="sma-1",
        symbol=symbol,
        quantity=Decimal(quantity),
        avg_price=Decimal("100.05"),
        last_price=Decimal("101"),
        realized_pnl=Decimal("-0.1"),
        unrealized_pnl=Decimal("0.95"),
    )


async def test_replace_positions_leaves_exactly_the_new_set(db: Database, stamper: Stamper) -> None:
    async with db.transaction() as repo:
        await repo.replace_positions(
            NS, [_position(stamper, "BTC-USD", "1"), _position(stamper, "ETH-USD", "2")], ts=1
        )
        await repo.replace_positions(NS, [_position(stamper, "ETH-USD", "0.5")], ts=2)
        positions = await repo.load_positions(NS)

    assert positions == [
        StoredPosition(
            strategy_id="sma-1",
            symbol="ETH-USD",
            quantity=Decimal("0.5"),
            avg_price=Decimal("100.05"),
            realized_pnl=Decimal("-0.1"),
            ts=2,
        )
    ]


async def test_account_set_twice_keeps_latest(db: Database) -> None:
    async with db.transaction() as repo:
        await repo.set_account(NS, Decimal("10000"), Decimal("10000"), ts=1)
        await repo.set_account(NS, Decimal("10000"), Decimal("9899.95"), ts=2)
        account = await repo.load_account(NS)
        missing = await repo.load_account("live")

    assert account is not None
    assert (account.cash, account.starting_cash, account.ts) == (
        Decimal("9899.95"),
        Decimal("10000"),
        2,
    )
    assert missing is None


async def test_risk_state_saved_then_loaded(db: Database, stamper: Stamper) -> None:
    halted = RiskState(
        **stamper(9),
        state=TradingState.HALTED,
        reason="drawdown 12% > 10%",
        peak_equity=Decimal("10500.25"),
    )

    async with db.transaction() as repo:
        assert await repo.load_risk_state(NS) is None
        await repo.save_risk_state(NS, halted)
        loaded = await repo.load_risk_state(NS)

    assert loaded is not None
    assert (loaded.state, loaded.reason, loaded.peak_equity, loaded.ts) == (
        TradingState.HALTED,
        "drawdown 12% > 10%",
        Decimal("10500.25"),
        9,
    )


async def test_session_lifecycle_latest_is_newest(db: Database) -> None:
    first = SessionRecord(
        id="s1", namespace=NS, started_at=1, status=SessionStatus.RUNNING, start_cash=Decimal(1)
    )
    second = SessionRecord(
        id="s2",
        namespace=NS,
        started_at=5,
        status=SessionStatus.RUNNING,
        start_cash=Decimal("10000.00"),
        config_fingerprint="abc",
        seed=42,
        start_positions={"sma-1:BTC-USD": Decimal("0.25")},
    )

    async with db.transaction() as repo:
        await repo.create_session(first)
        await repo.finish_session("s1", SessionStatus.CRASHED, ended_at=4)
        await repo.create_session(second)
        await repo.create_session(second)
        latest = await repo.latest_session(NS)
        sessions = await repo.list_sessions(NS)

    assert latest == second
    assert [(s.id, s.status, s.ended_at) for s in sessions] == [
        ("s2", SessionStatus.RUNNING, None),
        ("s1", SessionStatus.CRASHED, 4),
    ]


async def test_finish_session_as_running_is_refused(db: Database) -> None:
    async with db.transaction() as repo:
        with pytest.raises(ValueError, match="status"):
            await repo.finish_session("s1", SessionStatus.RUNNING, ended_at=1)


async def test_checkpoint_set_moves_forward(db: Database) -> None:
    async with db.transaction() as repo:
        await repo.set_checkpoint("replay:btc", "100", ts=1)
        await repo.set_checkpoint("replay:btc", "250", ts=2)
        checkpoint = await repo.get_checkpoint("replay:btc")

    assert checkpoint is not None
    assert (checkpoint.position, checkpoint.ts) == ("250", 2)


async def test_money_column_given_a_float_is_refused(db: Database) -> None:
    from sqlalchemy.exc import StatementError

    with pytest.raises(StatementError, match="Decimal"):
        async with db.transaction() as repo:
            await repo.set_account(NS, 0.1, Decimal(1), ts=1)  # type: ignore[arg-type]


NOW_NS = 1_700_000_000_123_456_789  # an epoch timestamp in nanoseconds: needs 61 bits
INT64_MAX = (1 << 63) - 1


async def test_nanosecond_timestamps_beyond_int32_round_trip(
    db: Database, stamper: Stamper
) -> None:
    fill = make_fill(stamper, "f1", NOW_NS)
    bar = _bar(Stamper.deterministic("bars"), NOW_NS)
    session = SessionRecord(
        id="s1",
        namespace=NS,
        started_at=NOW_NS,
        status=SessionStatus.RUNNING,
        start_cash=Decimal(1),
        seed=INT64_MAX,
    )

    async with db.transaction() as repo:
        await repo.add_fills([fill], NS)
        await repo.add_bars([bar])
        await repo.create_session(session)
        await repo.finish_session("s1", SessionStatus.COMPLETED, ended_at=INT64_MAX)
    async with db.reader() as repo:
        loaded_fills = await repo.load_fills(NS)
        loaded_bars = await repo.load_bars("BTC-USD", "1m", start_ns=NOW_NS)
        stored_session = await repo.latest_session(NS)

    assert loaded_fills == [fill]
    assert loaded_bars == [bar]
    assert stored_session is not None
    assert (stored_session.started_at, stored_session.seed, stored_session.ended_at) == (
        NOW_NS,
        INT64_MAX,
        INT64_MAX,
    )


# Mixed case and punctuation: code-point order puts "A" < "B" < "_" < "a" < "b"; an English
# locale collation would give "a", "A", "a-1", "a_1", "b", "B" instead.
MIXED_IDS = ["b", "B", "a_1", "a", "A", "a-1", "Z9", "z"]


async def test_same_time_fills_tie_break_by_code_point_on_every_backend(
    db: Database, stamper: Stamper
) -> None:
    fills = [make_fill(stamper, fill_id, 7) for fill_id in MIXED_IDS]

    async with db.transaction() as repo:
        await repo.add_fills(fills, NS)
        replay_order = [fill.fill_id for fill in await repo.load_fills(NS)]
        newest_first = [fill.fill_id for fill in await repo.list_fills(NS, limit=100)]

    assert replay_order == sorted(MIXED_IDS)
    assert newest_first == sorted(MIXED_IDS, reverse=True)


async def test_positions_listed_by_code_point_on_every_backend(
    db: Database, stamper: Stamper
) -> None:
    positions = [_position(stamper, symbol, "1") for symbol in MIXED_IDS]

    async with db.transaction() as repo:
        await repo.replace_positions(NS, positions, ts=1)
        listed = [position.symbol for position in await repo.load_positions(NS)]

    assert listed == sorted(MIXED_IDS)


async def test_same_time_signals_and_sessions_list_by_code_point(
    db: Database, stamper: Stamper
) -> None:
    signals = [
        Signal(
            event_id=event_id,
            ts_event=3,
            ts_init=3,
            strategy_id="sma-1",
            strategy="sma_cross",
            symbol="BTC-USD",
            side=Side.BUY,
            price=1.0,
        )
        for event_id in MIXED_IDS
    ]
    sessions = [
        SessionRecord(
            id=session_id,
            namespace=NS,
            started_at=3,
            status=SessionStatus.RUNNING,
            start_cash=Decimal(1),
        )
        for session_id in MIXED_IDS
    ]

    async with db.transaction() as repo:
        await repo.add_signals(signals, NS)
        for session in sessions:
            await repo.create_session(session)
        listed_signals = [signal.event_id for signal in await repo.list_signals(NS)]
        listed_sessions = [session.id for session in await repo.list_sessions(NS)]

    assert listed_signals == sorted(MIXED_IDS, reverse=True)
    assert listed_sessions == sorted(MIXED_IDS, reverse=True)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda repo: repo.set_account("n" * 33, Decimal(1), Decimal(1), ts=1), "longer than 32"),
        (lambda repo: repo.set_checkpoint("feed", "pos\x00ition", ts=1), "NUL"),
        (lambda repo: repo.set_checkpoint("feed", "1", ts=1.5), "take int"),
        (lambda repo: repo.set_checkpoint("feed", "1", ts=1 << 63), "64-bit"),
        (lambda repo: repo.set_checkpoint("feed", 42, ts=1), "take str"),
        (lambda repo: repo.set_account(NS, Decimal("NaN"), Decimal(1), ts=1), "finite"),
        (lambda repo: repo.set_account(NS, Decimal("-Infinity"), Decimal(1), ts=1), "finite"),
    ],
    ids=["too-long", "nul", "float-ts", "ts-overflow", "int-text", "nan", "infinity"],
)
async def test_value_postgresql_would_refuse_is_refused_on_every_backend(
    db: Database, write: Any, message: str
) -> None:
    from sqlalchemy.exc import StatementError

    with pytest.raises(StatementError, match=message):
        async with db.transaction() as repo:
            await write(repo)

    async with db.reader() as repo:
        assert await repo.get_checkpoint("feed") is None


money = st.decimals(allow_nan=False, allow_infinity=False, places=None)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cash=money, starting=money)
async def test_any_finite_decimal_round_trips_exactly(
    db: Database, cash: Decimal, starting: Decimal
) -> None:
    async with db.transaction() as repo:
        await repo.set_account(NS, starting, cash, ts=1)
    async with db.reader() as repo:
        account = await repo.load_account(NS)

    assert account is not None
    assert (str(account.cash), str(account.starting_cash)) == (str(cash), str(starting))
