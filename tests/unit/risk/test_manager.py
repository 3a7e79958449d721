"""The intent risk emits, how working orders and fills move exposure, closes and denials."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tickmesh.model import DenyReason, OrderPartiallyFilled, OrderType, Side

from .support import SYMBOL, Desk, open_limits


def test_intent_carries_signal_identity_and_a_new_order_id() -> None:
    desk = Desk()
    desk.tick(100.0)

    intent = desk.intent(quantity="2")

    assert intent.order_id
    assert intent.order_id != intent.event_id
    assert intent.signal_id != intent.order_id
    assert intent.correlation_id == intent.signal_id
    assert (intent.symbol, intent.side, intent.strategy_id) == (SYMBOL, Side.BUY, "s1")
    assert intent.order_type is OrderType.MARKET
    assert intent.limit_price is None
    assert intent.ref_price == 100.0
    assert intent.namespace == "paper"


def test_intent_keeps_an_existing_correlation_id() -> None:
    desk = Desk()
    desk.tick(100.0)

    intent = desk.intent(quantity="2", correlation_id="chain-1")

    assert intent.correlation_id == "chain-1"


def test_two_intents_get_distinct_order_ids() -> None:
    desk = Desk()
    desk.tick(100.0)

    first, second = desk.intent(quantity="1"), desk.intent(quantity="1", ts=desk.now + 1)

    assert first.order_id != second.order_id


def test_denial_names_the_numbers() -> None:
    desk = Desk(open_limits(max_order_quantity=Decimal(10)))
    desk.tick(100.0)

    denial = desk.denied(quantity="11")

    assert denial.detail == "quantity 11 > max_order_quantity 10"
    assert denial.correlation_id == denial.signal_id


def test_signal_without_market_data_is_denied_no_market_data() -> None:
    desk = Desk()

    denial = desk.denied(quantity="1")

    assert denial.reason is DenyReason.NO_MARKET_DATA


def test_working_order_counts_toward_position_limit() -> None:
    desk = Desk(open_limits(max_position_quantity=Decimal(10)))
    desk.tick(100.0)
    desk.intent(quantity="6")

    denial = desk.denied(quantity="5")

    assert denial.reason is DenyReason.MAX_POSITION


def test_canceled_order_frees_its_exposure() -> None:
    desk = Desk(open_limits(max_position_quantity=Decimal(10)))
    desk.tick(100.0)
    working = desk.intent(quantity="6")
    desk.accept(working)
    desk.cancel(working)

    intent = desk.intent(quantity="10")

    assert intent.quantity == Decimal(10)


def test_partial_fill_moves_quantity_from_working_to_position() -> None:
    desk = Desk()
    desk.tick(100.0)
    working = desk.intent(quantity="6")
    desk.accept(working)

    desk.partial_fill(working, "2", leaves="4")

    assert desk.risk.book.position("s1", SYMBOL) == Decimal(2)
    assert desk.risk.book.working(SYMBOL, Side.BUY) == Decimal(4)


def test_accepted_after_partial_fill_does_not_restore_filled_quantity() -> None:
    desk = Desk()
    desk.tick(100.0)
    working = desk.intent(quantity="6")
    desk.partial_fill(working, "2", leaves="4")

    desk.accept(working)

    assert desk.risk.book.working(SYMBOL, Side.BUY) == Decimal(4)


def test_fill_ends_the_working_order() -> None:
    desk = Desk()
    desk.tick(100.0)
    working = desk.intent(quantity="6")

    desk.fill(Side.BUY, "6", order_id=working.order_id)

    assert desk.risk.book.working(SYMBOL, Side.BUY) == Decimal(0)
    assert desk.risk.book.position("s1", SYMBOL) == Decimal(6)


def test_redelivered_fill_is_applied_once() -> None:
    desk = Desk()
    desk.tick(100.0)
    working = desk.intent(quantity="6")
    fill_event = desk.make_fill(Side.BUY, "2", "100", SYMBOL, "s1", working.order_id)

    event = OrderPartiallyFilled(
        **desk.feed(desk.now),
        order_id=working.order_id,
        strategy_id="s1",
        symbol=SYMBOL,
        side=Side.BUY,
        fill=fill_event,
        filled_quantity=Decimal(2),
        leaves_quantity=Decimal(4),
    )

    desk.risk.on_order_event(event)
    desk.risk.on_order_event(event)

    assert desk.risk.book.position("s1", SYMBOL) == Decimal(2)


def test_positions_net_across_strategies_for_position_limit() -> None:
    desk = Desk(open_limits(max_position_quantity=Decimal(10)))
    desk.tick(100.0)
    desk.fill(Side.BUY, "8", strategy_id="a")

    denial = desk.denied(quantity="3", strategy_id="b")

    assert denial.reason is DenyReason.MAX_POSITION


def test_close_passes_limits_even_when_over_them() -> None:
    desk = Desk(open_limits(max_position_quantity=Decimal(5), max_gross_exposure=Decimal(100)))
    desk.tick(100.0)
    desk.fill(Side.BUY, "8")

    intent = desk.intent(Side.SELL, quantity="8")

    assert intent.quantity == Decimal(8)


def test_reduce_only_closes_the_strategys_whole_position() -> None:
    desk = Desk()
    desk.tick(100.0)
    desk.fill(Side.BUY, "5", strategy_id="s1")
    desk.fill(Side.BUY, "7", strategy_id="s2")

    intent = desk.intent(Side.SELL, reduce_only=True)

    assert intent.quantity == Decimal(5)
    assert intent.reduce_only


def test_reduce_only_with_quantity_closes_part_of_the_position() -> None:
    desk = Desk()
    desk.tick(100.0)
    desk.fill(Side.SELL, "5")

    intent = desk.intent(Side.BUY, reduce_only=True, quantity="2")

    assert intent.quantity == Decimal(2)


@pytest.mark.parametrize(
    ("held", "side"),
    [(None, Side.SELL), (Side.BUY, Side.BUY), (Side.SELL, Side.SELL)],
    ids=["flat", "long-buy", "short-sell"],
)
def test_reduce_only_that_cannot_reduce_is_denied_nothing_to_close(
    held: Side | None, side: Side
) -> None:
    desk = Desk()
    desk.tick(100.0)
    if held is not None:
        desk.fill(held, "5")

    denial = desk.denied(side, reduce_only=True)

    assert denial.reason is DenyReason.NOTHING_TO_CLOSE


def test_reduce_only_while_a_close_is_working_is_denied_nothing_to_close() -> None:
    desk = Desk()
    desk.tick(100.0)
    desk.fill(Side.BUY, "5")
    desk.intent(Side.SELL, reduce_only=True)

    denial = desk.denied(Side.SELL, reduce_only=True, ts=desk.now + 1)

    assert denial.reason is DenyReason.NOTHING_TO_CLOSE


def test_stale_check_uses_newest_data_of_the_signal_symbol() -> None:
    desk = Desk(open_limits(stale_after_ns=1000))
    desk.tick(100.0, ts=desk.now - 5000)
    desk.tick(100.0, symbol="ETH-USD")

    denial = desk.denied(quantity="1")

    assert denial.reason is DenyReason.STALE_DATA
