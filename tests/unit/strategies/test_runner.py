"""The runner routes market data, keeps positions from fills and contains failing strategies."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from tests.unit.strategies.support import bar, bars, fill, summary, tick
from tickmesh.core.stamp import Stamper
from tickmesh.model import Bar, ServiceError, Side, Signal, Tick
from tickmesh.strategies import (
    Strategy,
    StrategyContext,
    StrategyInstanceConfig,
    StrategyRunner,
    StrategyStatus,
    register,
)


@register
class AlwaysBuy(Strategy):
    name = "test_always_buy"

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> None:
        ctx.buy(reason="every bar")

    def on_tick(self, tick: Tick, ctx: StrategyContext) -> None:
        ctx.sell(reason="every tick")


@register
class BuyThenExplode(Strategy):
    name = "test_buy_then_explode"

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> None:
        ctx.buy()
        raise ZeroDivisionError("boom")


def make_runner(max_errors: int = 3) -> StrategyRunner:
    return StrategyRunner(Stamper.deterministic("strategies"), max_errors=max_errors)


def test_bar_routed_only_to_matching_symbol_and_timeframe() -> None:
    runner = make_runner()
    runner.add("test_always_buy", "BTC-USD")
    runner.add("test_always_buy", "ETH-USD")
    runner.add("test_always_buy", "BTC-USD", timeframe="5m", instance_id="btc-5m")

    events = runner.on_bar(bar(1.0, symbol="BTC-USD", timeframe="5m"))

    assert [(e.strategy_id, e.symbol) for e in events if isinstance(e, Signal)] == [
        ("btc-5m", "BTC-USD")
    ]


def test_tick_routed_to_instances_on_its_symbol() -> None:
    runner = make_runner()
    runner.add("test_always_buy", "BTC-USD")
    runner.add("test_always_buy", "ETH-USD")

    events = runner.on_tick(tick(42.0, symbol="ETH-USD", ts=9))

    assert len(events) == 1
    assert isinstance(events[0], Signal)
    assert (events[0].symbol, events[0].side, events[0].price, events[0].ts_event) == (
        "ETH-USD", Side.SELL, 42.0, 9,
    )  # fmt: skip


def test_raising_strategy_loses_signals_and_reports_service_error() -> None:
    runner = make_runner()
    runner.add("test_buy_then_explode", "BTC-USD")
    b = bar(1.0)

    [event] = runner.on_bar(b)

    assert isinstance(event, ServiceError)
    assert (event.service, event.subject, event.error_type, event.message) == (
        "strategies", "test_buy_then_explode:BTC-USD", "ZeroDivisionError", "boom",
    )  # fmt: skip
    assert event.ts_event == b.ts_event


def test_raising_strategy_quarantined_after_max_errors_while_other_keeps_emitting() -> None:
    runner = make_runner(max_errors=3)
    runner.add("test_buy_then_explode", "BTC-USD")
    runner.add("test_always_buy", "BTC-USD")

    per_bar = [runner.on_bar(b) for b in bars([1, 2, 3, 4, 5])]

    kinds = [[type(e).__name__ for e in events] for events in per_bar]
    assert kinds == [["ServiceError", "Signal"]] * 3 + [["Signal"]] * 2
    last_error = per_bar[2][0]
    assert isinstance(last_error, ServiceError)
    assert last_error.message == "boom (quarantined after 3 errors)"
    broken = runner.status()[0]
    assert (broken.quarantined, broken.errors, broken.enabled) == (True, 3, True)
    assert broken.last_error == "ZeroDivisionError: boom"


def test_enable_lifts_quarantine_and_clears_errors() -> None:
    runner = make_runner(max_errors=1)
    sid = runner.add("test_buy_then_explode", "BTC-USD")
    runner.on_bar(bar(1.0))

    runner.enable(sid)
    events = runner.on_bar(bar(2.0, index=1))

    assert [type(e).__name__ for e in events] == ["ServiceError"]
    assert runner.status()[0].quarantined


def test_disabled_instance_emits_nothing_and_others_keep_trading() -> None:
    runner = make_runner()
    off = runner.add("test_always_buy", "BTC-USD", instance_id="off")
    runner.add("test_always_buy", "BTC-USD", instance_id="on")

    runner.disable(off)
    events = runner.on_bar(bar(1.0))

    assert [e.strategy_id for e in events if isinstance(e, Signal)] == ["on"]
    assert [s.enabled for s in runner.status()] == [False, True]


def test_disabled_instance_keeps_indicators_warm_for_reenable() -> None:
    runner = make_runner()
    sid = runner.add("sma_cross", "BTC-USD", {"fast": 2, "slow": 5})
    series = bars([5, 4, 3, 2, 1, 2, 4])  # fast crosses above slow on the last bar

    runner.disable(sid)
    silent = [e for b in series[:-1] for e in runner.on_bar(b)]
    runner.enable(sid)
    events = runner.on_bar(series[-1])

    assert silent == []
    assert summary(events) == [(6, Side.BUY, False)]


def test_fills_update_instance_position_and_close_uses_it() -> None:
    runner = make_runner()
    sid = runner.add("sma_cross", "BTC-USD", {"fast": 2, "slow": 5})

    runner.on_fill(fill(sid, Side.BUY, "0.75", fill_id="a"))
    runner.on_fill(fill(sid, Side.SELL, "0.25", fill_id="b"))
    events = [e for b in bars([1, 2, 3, 4, 5, 6, 7, 2]) for e in runner.on_bar(b)]

    assert runner.status()[0].position == Decimal("0.50")
    [close] = events
    assert isinstance(close, Signal)
    assert (close.side, close.reduce_only, close.quantity) == (Side.SELL, True, Decimal("0.50"))


def test_redelivered_fill_moves_position_once() -> None:
    runner = make_runner()
    sid = runner.add("test_always_buy", "BTC-USD")
    once = fill(sid, Side.BUY, "1")

    runner.on_fill(once)
    runner.on_fill(once)

    assert runner.status()[0].position == Decimal(1)


def test_fill_for_other_strategy_or_symbol_is_ignored() -> None:
    runner = make_runner()
    sid = runner.add("test_always_buy", "BTC-USD")

    runner.on_fill(fill("someone-else", Side.BUY, "1", fill_id="x"))
    runner.on_fill(fill(sid, Side.BUY, "1", symbol="ETH-USD", fill_id="y"))

    assert runner.status()[0].position == Decimal(0)


def test_status_reports_each_instance() -> None:
    runner = make_runner()
    runner.add("rsi_reversion", "ETH-USD", {"period": 7}, timeframe="15m")

    [status] = runner.status()

    assert status == StrategyStatus(
        id="rsi_reversion:ETH-USD",
        name="rsi_reversion",
        symbol="ETH-USD",
        timeframe="15m",
        params={"period": 7, "lower": 30, "upper": 70},
        enabled=True,
        quarantined=False,
        errors=0,
        position=Decimal(0),
    )


def test_instances_from_config_use_given_ids() -> None:
    configs = msgspec.convert(
        [
            {"strategy": "sma_cross", "symbol": "BTC-USD", "params": {"fast": 5, "slow": 30}},
            {"strategy": "test_always_buy", "symbol": "BTC-USD", "id": "mine", "timeframe": "1h"},
        ],
        list[StrategyInstanceConfig],
    )

    runner = StrategyRunner(Stamper.deterministic("strategies"), configs)

    assert [(s.id, s.timeframe) for s in runner.status()] == [
        ("sma_cross:BTC-USD", "1m"),
        ("mine", "1h"),
    ]


def test_instance_config_rejects_unknown_fields() -> None:
    with pytest.raises(msgspec.ValidationError, match="paramz"):
        msgspec.convert({"strategy": "x", "symbol": "y", "paramz": {}}, StrategyInstanceConfig)


def test_add_duplicate_id_raises() -> None:
    runner = make_runner()
    runner.add("sma_cross", "BTC-USD")

    with pytest.raises(ValueError, match="'sma_cross:BTC-USD' is already running"):
        runner.add("sma_cross", "BTC-USD", {"fast": 3})


def test_add_unknown_strategy_raises_listing_available() -> None:
    runner = make_runner()

    with pytest.raises(KeyError, match=r"available: .*sma_cross"):
        runner.add("nope", "BTC-USD")


def test_add_bad_params_raises_naming_parameter() -> None:
    runner = make_runner()

    with pytest.raises(ValueError, match="'fast': 1 "):
        runner.add("sma_cross", "BTC-USD", {"fast": 1})


def test_enable_unknown_id_raises_listing_running() -> None:
    runner = make_runner()
    runner.add("sma_cross", "BTC-USD")

    with pytest.raises(KeyError, match="running: sma_cross:BTC-USD"):
        runner.enable("sma_cross:ETH-USD")


def test_removed_instance_gets_no_more_bars() -> None:
    runner = make_runner()
    sid = runner.add("test_always_buy", "BTC-USD")

    runner.remove(sid)

    assert runner.on_bar(bar(1.0)) == []
    assert runner.status() == []


def test_same_input_gives_identical_events() -> None:
    def session() -> list[object]:
        runner = make_runner()
        runner.add("sma_cross", "BTC-USD", {"fast": 2, "slow": 5, "allow_short": True})
        runner.add("test_buy_then_explode", "BTC-USD")
        series = bars([5, 4, 3, 2, 1, 2, 4, 6, 5, 2, 1])
        return [msgspec.to_builtins(e) for b in series for e in runner.on_bar(b)]

    first, second = session(), session()

    assert first == second
    assert len(first) > 3
