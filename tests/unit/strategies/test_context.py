"""The context turns buy/sell/close into Signal events and tracks the position from fills."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.strategies.support import fill
from tickmesh.core.stamp import Stamper
from tickmesh.model import Side
from tickmesh.strategies import StrategyContext


def make_context() -> StrategyContext:
    return StrategyContext(
        Stamper.deterministic("strategies", namespace="paper"),
        strategy_id="sma_cross:ETH-USD",
        strategy="sma_cross",
        symbol="ETH-USD",
        timeframe="5m",
    )


def test_buy_emits_signal_priced_and_timed_by_current_event() -> None:
    ctx = make_context()
    ctx.set_market(101.5, ts_event=7_000)

    ctx.buy(reason="why", stop_distance=2.5, quantity=Decimal("0.3"))
    [signal] = ctx.take_signals()

    assert (signal.side, signal.price, signal.ts_event) == (Side.BUY, 101.5, 7_000)
    assert (signal.strategy_id, signal.strategy, signal.symbol, signal.timeframe) == (
        "sma_cross:ETH-USD", "sma_cross", "ETH-USD", "5m",
    )  # fmt: skip
    assert (signal.quantity, signal.stop_distance, signal.reason) == (Decimal("0.3"), 2.5, "why")
    assert (signal.source, signal.namespace) == ("strategies", "paper")
    assert signal.correlation_id == signal.event_id
    assert not signal.reduce_only


def test_take_signals_empties_the_queue() -> None:
    ctx = make_context()
    ctx.set_market(1.0, 1)
    ctx.sell()

    first, second = ctx.take_signals(), ctx.take_signals()

    assert [s.side for s in first] == [Side.SELL]
    assert second == []


def test_close_when_flat_emits_nothing() -> None:
    ctx = make_context()
    ctx.set_market(1.0, 1)

    ctx.close(reason="exit")

    assert ctx.take_signals() == []


@pytest.mark.parametrize(
    ("fill_side", "close_side"), [(Side.BUY, Side.SELL), (Side.SELL, Side.BUY)]
)
def test_close_flattens_whole_position_reduce_only(fill_side: Side, close_side: Side) -> None:
    ctx = make_context()
    ctx.apply_fill(fill("sma_cross:ETH-USD", fill_side, "1.25", symbol="ETH-USD"))
    ctx.set_market(1.0, 1)

    ctx.close(reason="exit")
    [signal] = ctx.take_signals()

    assert (signal.side, signal.quantity, signal.reduce_only) == (close_side, Decimal("1.25"), True)


def test_fills_move_position_exactly() -> None:
    ctx = make_context()

    ctx.apply_fill(fill("x", Side.BUY, "0.1"))
    ctx.apply_fill(fill("x", Side.BUY, "0.2"))
    ctx.apply_fill(fill("x", Side.SELL, "0.3"))

    assert ctx.position == Decimal("0.0")
    assert ctx.flat


def test_signal_before_any_market_data_raises() -> None:
    ctx = make_context()

    with pytest.raises(RuntimeError, match="need a price"):
        ctx.buy()


@pytest.mark.parametrize("quantity", [Decimal(0), Decimal("-1"), 1.5])
def test_non_positive_or_float_quantity_raises(quantity) -> None:
    ctx = make_context()
    ctx.set_market(1.0, 1)

    with pytest.raises(ValueError, match="quantity"):
        ctx.buy(quantity=quantity)
