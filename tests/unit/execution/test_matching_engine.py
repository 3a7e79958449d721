from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from tickmesh.core.stamp import Stamper
from tickmesh.execution import OpenOrder, PaperConfig, PaperMatchingEngine
from tickmesh.model import (
    Bar,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderIntent,
    OrderPartiallyFilled,
    OrderRejected,
    OrderType,
    Side,
    Tick,
    encode,
)
from tickmesh.model.instrument import Instrument

D = Decimal
BTC = Instrument(symbol="BTC", price_increment=D("0.01"), size_increment=D("0.001"))


def make_engine(cash: str = "10000", **config: object) -> PaperMatchingEngine:
    return PaperMatchingEngine(
        PaperConfig(**config),  # type: ignore[arg-type]
        Stamper.deterministic("paper", "paper"),
        {"BTC": BTC},
        starting_cash=D(cash),
    )


def intent(
    order_id: str = "o1",
    side: Side = Side.BUY,
    quantity: str = "2",
    ts: int = 1_000,
    limit: str | None = None,
    ref_price: float = 100.0,
) -> OrderIntent:
    return OrderIntent(
        event_id=f"e-{order_id}",
        ts_event=ts,
        ts_init=ts,
        correlation_id=f"corr-{order_id}",
        order_id=order_id,
        signal_id=f"s-{order_id}",
        strategy_id="strat",
        symbol="BTC",
        side=side,
        quantity=D(quantity),
        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
        limit_price=D(limit) if limit else None,
        ref_price=ref_price,
    )


def tick(price: float, ts: int = 2_000, size: float = 10.0) -> Tick:
    return Tick(event_id=f"t{ts}", ts_event=ts, ts_init=ts, symbol="BTC", price=price, size=size)


def bar(
    open_: float, high: float, low: float, close: float, ts_open: int = 2_000, volume: float = 10.0
) -> Bar:
    return Bar(
        event_id=f"b{ts_open}",
        ts_event=ts_open + 60,
        ts_init=ts_open + 60,
        symbol="BTC",
        timeframe="1m",
        ts_open=ts_open,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


def only_fill(events: list[Event]) -> OrderFilled:
    assert len(events) == 1
    assert isinstance(events[0], OrderFilled)
    return events[0]


# --- acceptance and rejection --------------------------------------------------------------


def test_buy_within_cash_is_accepted_with_correlation() -> None:
    engine = make_engine()

    events = engine.on_intent(intent())

    assert len(events) == 1
    assert isinstance(events[0], OrderAccepted)
    assert events[0].quantity == D(2)
    assert events[0].correlation_id == "corr-o1"
    assert events[0].namespace == "paper"


def test_buy_costing_more_than_cash_is_rejected_insufficient_cash() -> None:
    engine = make_engine(cash="150", slippage_bps=5)

    events = engine.on_intent(intent(quantity="1.5"))

    assert isinstance(events[0], OrderRejected)
    assert events[0].reason.startswith("INSUFFICIENT_CASH")


def test_buy_exactly_affordable_with_slippage_and_fee_is_accepted() -> None:
    engine = make_engine(cash="200.3001", fee_bps=10, slippage_bps=5)

    events = engine.on_intent(intent())  # 2 x 100 x 1.0005 = 200.1, fee 0.2001

    assert isinstance(events[0], OrderAccepted)


def test_working_buy_reserves_cash_from_the_next_buy() -> None:
    engine = make_engine(cash="300")
    engine.on_intent(intent("o1", limit="90"))

    events = engine.on_intent(intent("o2", quantity="1.5"))

    assert isinstance(events[0], OrderRejected)
    assert events[0].reason.startswith("INSUFFICIENT_CASH")
    assert engine.account().available_cash == D(120)


def test_sell_without_position_is_rejected_insufficient_position() -> None:
    engine = make_engine()

    events = engine.on_intent(intent(side=Side.SELL))

    assert isinstance(events[0], OrderRejected)
    assert events[0].reason.startswith("INSUFFICIENT_POSITION")


def test_sell_without_position_is_accepted_when_short_allowed() -> None:
    engine = make_engine(allow_short=True)

    events = engine.on_intent(intent(side=Side.SELL))

    assert isinstance(events[0], OrderAccepted)


def test_second_sell_beyond_position_left_by_working_sell_is_rejected() -> None:
    engine = make_engine()
    engine.restore(D(0), {"BTC": D(3)})
    engine.on_intent(intent("o1", side=Side.SELL, limit="120"))

    events = engine.on_intent(intent("o2", side=Side.SELL, quantity="1.5"))

    assert isinstance(events[0], OrderRejected)
    assert events[0].reason.startswith("INSUFFICIENT_POSITION")


@pytest.mark.parametrize("quantity", ["0", "-1", "0.0005"])
def test_quantity_not_on_size_grid_is_rejected_invalid_quantity(quantity: str) -> None:
    engine = make_engine()

    events = engine.on_intent(intent(quantity=quantity))

    assert isinstance(events[0], OrderRejected)
    assert events[0].reason.startswith("INVALID_QUANTITY")


def test_market_buy_without_any_price_is_rejected_no_reference_price() -> None:
    engine = make_engine()

    events = engine.on_intent(intent(ref_price=0.0))

    assert isinstance(events[0], OrderRejected)
    assert events[0].reason.startswith("NO_REFERENCE_PRICE")


def test_market_buy_without_ref_price_uses_last_seen_price() -> None:
    engine = make_engine(cash="150")
    engine.on_tick(tick(100.0, ts=500))

    events = engine.on_intent(intent(ref_price=0.0))

    assert isinstance(events[0], OrderRejected)
    assert events[0].reason.startswith("INSUFFICIENT_CASH")


def test_duplicate_order_id_is_ignored() -> None:
    engine = make_engine()
    engine.on_intent(intent())
    engine.on_tick(tick(100.0))

    again = engine.on_intent(intent())
    later = engine.on_tick(tick(100.0, ts=3_000))

    assert again == []
    assert later == []
    assert engine.account().positions == {"BTC": D(2)}


def test_duplicate_of_rejected_order_is_ignored() -> None:
    engine = make_engine(cash="1")
    engine.on_intent(intent())

    assert engine.on_intent(intent()) == []


# --- market orders -------------------------------------------------------------------------


def test_market_buy_fills_at_next_tick_with_slippage_and_fee() -> None:
    engine = make_engine(fee_bps=10, slippage_bps=5)
    engine.on_intent(intent())

    filled = only_fill(engine.on_tick(tick(100.0, ts=2_000)))

    fill = filled.fill
    assert (fill.price, fill.quantity, fill.fee) == (D("100.05"), D(2), D("0.21"))
    assert (fill.fill_id, fill.order_id, fill.strategy_id) == ("o1-1", "o1", "strat")
    assert fill.ts_event == filled.ts_event == 2_000
    assert fill.correlation_id == filled.correlation_id == "corr-o1"
    assert filled.filled_quantity == D(2)
    assert engine.account().cash == D("10000") - D("200.10") - D("0.21")
    assert engine.account().positions == {"BTC": D(2)}


def test_market_sell_receives_less_by_slippage() -> None:
    engine = make_engine(fee_bps=10, slippage_bps=5)
    engine.restore(D(0), {"BTC": D(1)})
    engine.on_intent(intent(side=Side.SELL, quantity="1"))

    fill = only_fill(engine.on_tick(tick(100.0))).fill

    assert (fill.price, fill.fee) == (D("99.95"), D("0.10"))
    assert engine.account().cash == D("99.85")
    assert engine.account().positions == {}


def test_slipped_price_is_rounded_to_price_increment() -> None:
    engine = make_engine(slippage_bps=3)
    engine.on_intent(intent(quantity="1"))

    fill = only_fill(engine.on_tick(tick(123.45))).fill

    assert fill.price == D("123.49")  # 123.45 x 1.0003 = 123.487035


def test_tick_before_the_intent_does_not_fill() -> None:
    engine = make_engine()
    engine.on_intent(intent(ts=1_000))

    assert engine.on_tick(tick(100.0, ts=999)) == []


def test_market_buy_fills_at_next_bar_open() -> None:
    engine = make_engine(slippage_bps=5)
    engine.on_intent(intent(ts=2_000))

    fill = only_fill(engine.on_bar(bar(101.0, 110.0, 90.0, 105.0, ts_open=2_000))).fill

    assert fill.price == D("101.05")
    assert fill.ts_event == 2_060


def test_latency_delays_tick_fill_until_order_is_live() -> None:
    engine = make_engine(latency_ns=500)
    engine.on_intent(intent(ts=1_000))

    early = engine.on_tick(tick(100.0, ts=1_499))
    on_time = engine.on_tick(tick(101.0, ts=1_500))

    assert early == []
    assert only_fill(on_time).fill.price == D("101.00")


def test_latency_skips_bar_that_opened_before_order_was_live() -> None:
    engine = make_engine(latency_ns=30)
    engine.on_intent(intent(ts=2_000))

    opened_early = engine.on_bar(bar(100.0, 101.0, 99.0, 100.5, ts_open=2_000))
    next_bar = engine.on_bar(bar(102.0, 103.0, 101.0, 102.5, ts_open=2_060))

    assert opened_early == []
    assert only_fill(next_bar).fill.price == D("102.00")


def test_fill_on_bar_ignores_ticks() -> None:
    engine = make_engine(fill_on="bar")
    engine.on_intent(intent())

    assert engine.on_tick(tick(100.0)) == []
    assert only_fill(engine.on_bar(bar(100.0, 100.0, 100.0, 100.0))).fill.price == D(100)


def test_fill_on_tick_ignores_bars() -> None:
    engine = make_engine(fill_on="tick")
    engine.on_intent(intent())

    assert engine.on_bar(bar(100.0, 100.0, 100.0, 100.0)) == []
    assert len(engine.on_tick(tick(100.0, ts=3_000))) == 1


def test_other_symbol_does_not_fill() -> None:
    engine = make_engine()
    engine.on_intent(intent())
    eth = Tick(event_id="x", ts_event=2_000, ts_init=2_000, symbol="ETH", price=1.0, size=1.0)

    assert engine.on_tick(eth) == []


# --- limit orders --------------------------------------------------------------------------


def test_limit_buy_waits_until_tick_reaches_limit_then_fills_at_tick_price() -> None:
    engine = make_engine(slippage_bps=5)
    engine.on_intent(intent(limit="99"))

    above = engine.on_tick(tick(99.5, ts=2_000))
    below = engine.on_tick(tick(98.5, ts=3_000))

    assert above == []
    assert only_fill(below).fill.price == D("98.50")


@pytest.mark.parametrize(
    ("open_", "low", "expected"),
    [(100.0, 98.0, "99"), (97.0, 96.0, "97.00")],
)
def test_limit_buy_on_bar_fills_at_better_of_open_and_limit(
    open_: float, low: float, expected: str
) -> None:
    engine = make_engine()
    engine.on_intent(intent(limit="99"))

    fill = only_fill(engine.on_bar(bar(open_, 101.0, low, 100.0))).fill

    assert fill.price == D(expected)


def test_limit_buy_on_bar_not_reaching_limit_keeps_working() -> None:
    engine = make_engine()
    engine.on_intent(intent(limit="99"))

    assert engine.on_bar(bar(100.0, 101.0, 99.01, 100.0)) == []
    assert len(engine.open_orders()) == 1


@pytest.mark.parametrize(
    ("open_", "high", "expected"),
    [(100.0, 102.0, "101"), (103.0, 104.0, "103.00")],
)
def test_limit_sell_on_bar_fills_at_better_of_open_and_limit(
    open_: float, high: float, expected: str
) -> None:
    engine = make_engine()
    engine.restore(D(0), {"BTC": D(2)})
    engine.on_intent(intent(side=Side.SELL, limit="101"))

    fill = only_fill(engine.on_bar(bar(open_, high, 99.0, 100.0))).fill

    assert fill.price == D(expected)


def test_limit_sell_tick_below_limit_does_not_fill() -> None:
    engine = make_engine()
    engine.restore(D(0), {"BTC": D(2)})
    engine.on_intent(intent(side=Side.SELL, limit="101"))

    assert engine.on_tick(tick(100.99)) == []


# --- partial fills -------------------------------------------------------------------------


def test_participation_cap_fills_in_parts_summing_exactly_to_order() -> None:
    engine = make_engine(participation="0.1", fee_bps=10)
    engine.on_intent(intent(quantity="2.5"))

    events = [e for ts in (2_000, 3_000, 4_000) for e in engine.on_tick(tick(100.0, ts=ts))]

    first, second, last = events
    assert isinstance(first, OrderPartiallyFilled)
    assert isinstance(second, OrderPartiallyFilled)
    assert isinstance(last, OrderFilled)
    assert [first.filled_quantity, first.leaves_quantity] == [D(1), D("1.5")]
    assert [second.filled_quantity, second.leaves_quantity] == [D(2), D("0.5")]
    fills = [first.fill, second.fill, last.fill]
    assert [f.fill_id for f in fills] == ["o1-1", "o1-2", "o1-3"]
    assert sum(f.quantity for f in fills) == D("2.5") == last.filled_quantity
    assert engine.open_orders() == ()


def test_participation_cap_floors_to_size_increment() -> None:
    engine = make_engine(participation="0.1")
    engine.on_intent(intent(quantity="1"))

    events = engine.on_tick(tick(100.0, size=1.23456))

    assert isinstance(events[0], OrderPartiallyFilled)
    assert events[0].fill.quantity == D("0.123")


def test_zero_volume_gives_no_fill_when_participation_is_set() -> None:
    engine = make_engine(participation="0.5")
    engine.on_intent(intent())

    assert engine.on_bar(bar(100.0, 100.0, 100.0, 100.0, volume=0.0)) == []


def test_zero_volume_fills_whole_order_without_participation_cap() -> None:
    engine = make_engine()
    engine.on_intent(intent())

    assert only_fill(engine.on_tick(tick(100.0, size=0.0))).fill.quantity == D(2)


# --- cancel, restore, determinism ----------------------------------------------------------


def test_cancel_working_order_reports_filled_quantity_then_is_noop() -> None:
    engine = make_engine(participation="0.1")
    engine.on_intent(intent(quantity="2"))
    engine.on_tick(tick(100.0, size=5.0))

    first = engine.cancel("o1", 5_000)
    second = engine.cancel("o1", 5_001)

    assert isinstance(first[0], OrderCanceled)
    assert first[0].filled_quantity == D("0.5")
    assert first[0].correlation_id == "corr-o1"
    assert second == []
    assert engine.account().available_cash == engine.account().cash


def test_cancel_all_cancels_every_working_order_in_acceptance_order() -> None:
    engine = make_engine()
    engine.on_intent(intent("a", limit="50"))
    engine.on_intent(intent("b", limit="60"))

    events = engine.cancel_all(9_000, "HALT")

    assert [(e.order_id, e.reason) for e in events if isinstance(e, OrderCanceled)] == [
        ("a", "HALT"),
        ("b", "HALT"),
    ]
    assert engine.on_tick(tick(10.0)) == []


def test_orders_fill_in_acceptance_order_on_same_tick() -> None:
    engine = make_engine(cash="100000")
    for oid in ("z", "a", "m"):
        engine.on_intent(intent(oid))

    events = engine.on_tick(tick(100.0))

    assert [e.order_id for e in events if isinstance(e, OrderFilled)] == ["z", "a", "m"]


def test_restored_open_order_continues_fill_ids_and_ignores_its_duplicate() -> None:
    engine = make_engine(participation="0.1")
    engine.on_intent(intent(quantity="2"))
    engine.on_tick(tick(100.0, size=10.0))
    saved = engine.open_orders()
    account = engine.account()
    restarted = make_engine()

    restarted.restore(account.cash, account.positions, saved, known_order_ids=["old"])

    assert restarted.on_intent(intent(quantity="2")) == []
    assert restarted.on_intent(intent("old")) == []
    filled = only_fill(restarted.on_tick(tick(100.0, ts=3_000, size=10.0)))
    assert filled.fill.fill_id == "o1-2"
    assert restarted.account().positions == {"BTC": D(2)}


def test_open_order_round_trips_through_saved_form() -> None:
    engine = make_engine()
    engine.on_intent(intent(limit="90"))

    (saved,) = engine.open_orders()

    assert saved == OpenOrder(intent=intent(limit="90"))


def script(engine: PaperMatchingEngine) -> list[bytes]:
    events: list[Event] = []
    events += engine.on_intent(intent("a", quantity="3"))
    events += engine.on_intent(intent("b", quantity="1", limit="99.5"))
    events += engine.on_tick(tick(100.0, ts=2_000, size=12.0))
    events += engine.on_bar(bar(99.0, 101.0, 98.0, 100.0, ts_open=3_000, volume=8.0))
    events += engine.on_intent(intent("c", side=Side.SELL, quantity="1", ts=4_000))
    events += engine.on_tick(tick(101.0, ts=5_000, size=20.0))
    events += engine.cancel_all(6_000, "END")
    return [encode(e) for e in events]


def test_same_inputs_give_byte_identical_events() -> None:
    first = script(make_engine(fee_bps=7, slippage_bps=2, participation="0.2"))
    second = script(make_engine(fee_bps=7, slippage_bps=2, participation="0.2"))

    assert len(first) > 5
    assert first == second


# --- all-in orders, sized at the fill ------------------------------------------------------


def all_in(order_id: str = "a1", side: Side = Side.BUY, estimate: str = "1") -> OrderIntent:
    return msgspec.structs.replace(intent(order_id, side, estimate), equity_fraction=D(1))


def test_all_in_buy_spends_the_cash_at_the_fill_price_fees_included() -> None:
    engine = make_engine(cash="1000", fee_bps=20)
    engine.on_intent(all_in(estimate="99"))  # an estimate above what cash buys is no rejection

    fill = only_fill(engine.on_bar(bar(120.0, 125.0, 119.0, 121.0))).fill

    # 1000 / (120 x 1.002) = 8.3166... -> 8.316 (size increment 0.001)
    assert fill.quantity == D("8.316")
    assert fill.price == D("120.00")
    assert engine.account().cash == D("1000") - D("8.316") * 120 - fill.fee
    assert engine.account().cash >= 0


def test_all_in_buy_after_a_close_in_the_same_bar_uses_the_cash_the_close_freed() -> None:
    engine = make_engine(cash="0")
    engine.restore(D("0"), {"BTC": D("10")})
    engine.on_intent(intent("c1", Side.SELL, "10"))
    engine.on_intent(all_in("a1"))

    events = engine.on_bar(bar(50.0, 51.0, 49.0, 50.0))

    fills = [e.fill for e in events if isinstance(e, OrderFilled)]
    assert [(f.side, f.quantity) for f in fills] == [(Side.SELL, D(10)), (Side.BUY, D(10))]


def test_all_in_buy_without_cash_for_one_increment_is_canceled_with_the_reason() -> None:
    engine = make_engine(cash="0.01")
    engine.on_intent(all_in())

    (event,) = engine.on_bar(bar(100.0, 101.0, 99.0, 100.0))

    assert isinstance(event, OrderCanceled)
    assert event.reason.startswith("INSUFFICIENT_CASH")
    assert engine.open_orders() == ()


def test_all_in_fraction_outside_zero_to_one_is_rejected() -> None:
    engine = make_engine()

    (event,) = engine.on_intent(msgspec.structs.replace(intent(), equity_fraction=D("1.5")))

    assert isinstance(event, OrderRejected)
    assert "equity_fraction must be in (0, 1]" in event.reason
