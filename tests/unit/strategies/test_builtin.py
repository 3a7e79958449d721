"""Each built-in strategy on a small hand-made series whose crossings are worked out by hand.

Fills are applied right after each signal (an instant fill), so ``while flat`` / ``while long``
conditions see the position the signal asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tests.unit.strategies.support import bars, fill, summary
from tickmesh.core.stamp import Stamper
from tickmesh.model import Bar, Event, Side, Signal
from tickmesh.strategies import StrategyRunner

BUY, SELL = Side.BUY, Side.SELL


def run(
    name: str, params: dict[str, object], series: Sequence[Bar], *, fills: bool = True
) -> list[Event]:
    runner = StrategyRunner(Stamper.deterministic("strategies"))
    strategy_id = runner.add(name, "BTC-USD", params)
    emitted: list[Event] = []
    for n, b in enumerate(series):
        for i, event in enumerate(runner.on_bar(b)):
            emitted.append(event)
            if fills and isinstance(event, Signal):
                qty = str(event.quantity or Decimal(1))
                runner.on_fill(fill(strategy_id, event.side, qty, fill_id=f"{n}.{i}"))
    return emitted


# fast SMA(2) / slow SMA(5): below on bars 4-5, above on 6-8, below on 9-12, above on 13
SMA_CLOSES = [5, 4, 3, 2, 1, 2, 4, 6, 5, 2, 1, 1, 4, 6]
SMA_PARAMS = {"fast": 2, "slow": 5}


def test_sma_cross_buys_on_cross_up_and_closes_on_cross_down() -> None:
    events = run("sma_cross", SMA_PARAMS, bars(SMA_CLOSES))

    assert summary(events) == [(6, BUY, False), (9, SELL, True), (13, BUY, False)]


def test_sma_cross_when_flat_ignores_cross_down() -> None:
    events = run("sma_cross", SMA_PARAMS, bars(SMA_CLOSES), fills=False)

    assert summary(events) == [(6, BUY, False), (13, BUY, False)]


def test_sma_cross_allow_short_reverses_close_then_open() -> None:
    params = {**SMA_PARAMS, "allow_short": True}

    events = run("sma_cross", params, bars(SMA_CLOSES))

    assert summary(events) == [
        (6, BUY, False),
        (9, SELL, True),
        (9, SELL, False),
        (13, BUY, True),
        (13, BUY, False),
    ]


def test_sma_cross_signal_carries_bar_price_and_reason() -> None:
    series = bars(SMA_CLOSES)

    [first, *_] = run("sma_cross", SMA_PARAMS, series)

    assert isinstance(first, Signal)
    assert (first.price, first.ts_event, first.timeframe) == (4.0, series[6].ts_event, "1m")
    assert (first.strategy_id, first.strategy) == ("sma_cross:BTC-USD", "sma_cross")
    assert first.reason == "fast SMA crossed above slow"


def test_sma_cross_equal_averages_are_not_a_cross() -> None:
    # SMA(2)/SMA(5) on 2,2,2,...: equal, so the rise starts from a touch, not from below.
    events = run("sma_cross", SMA_PARAMS, bars([2, 2, 2, 2, 2, 5, 6]))

    assert events == []


# RSI(2), Wilder: bar 2 -> 100, 3 -> 50, 4 -> 12.5 (crosses below 30), 5 -> 41.7, 6 -> 80.6
RSI_CLOSES = [10, 11, 12, 11, 8, 9, 12, 13]


def test_rsi_reversion_buys_on_cross_below_lower_and_closes_above_upper() -> None:
    events = run("rsi_reversion", {"period": 2}, bars(RSI_CLOSES))

    assert summary(events) == [(4, BUY, False), (6, SELL, True)]


def test_rsi_reversion_staying_oversold_does_not_buy_again() -> None:
    events = run("rsi_reversion", {"period": 2}, bars([10, 11, 12, 11, 8, 7, 6, 5]), fills=False)

    assert summary(events) == [(4, BUY, False)]


# Donchian entry=3 / exit=2 on bars with high = low = close:
# bar 3 closes 7 above the previous-3 high 6 -> buy; bar 5 closes 4 below the previous-2 low 6
# -> close; bar 7 closes 8 above the previous-3 high 6 -> buy.
DONCHIAN_CLOSES = [5, 6, 5, 7, 6, 4, 3, 8]


def test_donchian_breakout_enters_above_previous_high_and_exits_below_previous_low() -> None:
    events = run("donchian_breakout", {"entry": 3, "exit": 2}, bars(DONCHIAN_CLOSES))

    assert summary(events) == [(3, BUY, False), (5, SELL, True), (7, BUY, False)]


def test_donchian_breakout_while_long_does_not_add() -> None:
    events = run("donchian_breakout", {"entry": 2, "exit": 2}, bars([1, 1, 2, 3, 4, 5]))

    assert summary(events) == [(2, BUY, False)]


def test_builtins_default_params_construct() -> None:
    runner = StrategyRunner(Stamper.deterministic("strategies"))

    for name in ("sma_cross", "rsi_reversion", "donchian_breakout"):
        runner.add(name, "BTC-USD")

    assert [s.params for s in runner.status()] == [
        {"fast": 10, "slow": 20, "allow_short": False},
        {"period": 14, "lower": 30, "upper": 70},
        {"entry": 20, "exit": 10},
    ]
