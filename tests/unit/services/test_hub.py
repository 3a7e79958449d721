"""The stream hub: pipeline events become numbered stream items, the newest are kept for
resuming, and a subscriber that falls behind is cut without holding anyone else up.

Events go in the way the platform sends them: published on a deterministic memory bus whose
:class:`SyncHost` runs the :class:`HubService`. The factories and :class:`Pipeline` here are
shared with the API's stream tests.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from tickmesh import topics
from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.model import (
    Bar,
    DenyReason,
    Event,
    Fill,
    OrderAccepted,
    OrderDenied,
    OrderFilled,
    OrderPartiallyFilled,
    PortfolioSnapshot,
    PositionSnapshot,
    RiskState,
    Side,
    Signal,
    TradingState,
)
from tickmesh.services.hub import (
    STREAMS,
    HubClosedError,
    HubLimits,
    HubService,
    StreamHub,
    StreamLimitError,
)
from tickmesh.services.runtime import SyncHost

NS = "paper"
D = Decimal


def bar(n: int, timeframe: str = "1m", symbol: str = "BTC") -> Bar:
    return Bar(
        event_id=f"bar-{timeframe}-{n}", ts_event=n, ts_init=n, namespace="", symbol=symbol,
        timeframe=timeframe, ts_open=n, open=100.0 + n, high=101.0 + n, low=99.0 + n,
        close=100.5 + n, volume=2.5,
    )  # fmt: skip


def accepted(n: int) -> OrderAccepted:
    return OrderAccepted(
        event_id=f"acc-{n}", ts_event=n, ts_init=n, namespace=NS, order_id=f"o{n}",
        strategy_id="sma:BTC", symbol="BTC", side=Side.BUY, quantity=D("0.5"),
    )  # fmt: skip


def fill(n: int, quantity: str = "0.5", price: str = "100.10") -> Fill:
    return Fill(
        event_id=f"fill-{n}", ts_event=n, ts_init=n, namespace=NS, fill_id=f"f{n}",
        order_id=f"o{n}", strategy_id="sma:BTC", symbol="BTC", side=Side.BUY,
        quantity=D(quantity), price=D(price), fee=D("0.0001"),
    )  # fmt: skip


def filled(n: int) -> OrderFilled:
    return OrderFilled(
        event_id=f"filled-{n}", ts_event=n, ts_init=n, namespace=NS, order_id=f"o{n}",
        strategy_id="sma:BTC", symbol="BTC", side=Side.BUY, fill=fill(n), filled_quantity=D("0.5"),
    )  # fmt: skip


def partially_filled(n: int) -> OrderPartiallyFilled:
    return OrderPartiallyFilled(
        event_id=f"part-{n}", ts_event=n, ts_init=n, namespace=NS, order_id=f"o{n}",
        strategy_id="sma:BTC", symbol="BTC", side=Side.BUY, fill=fill(n, "0.2"),
        filled_quantity=D("0.2"), leaves_quantity=D("0.3"),
    )  # fmt: skip


def position(n: int, k: int) -> PositionSnapshot:
    return PositionSnapshot(
        event_id=f"pos-{n}-{k}", ts_event=n, ts_init=n, namespace=NS,
        strategy_id=f"strategy-{k}:SYMBOL{k}", symbol=f"SYMBOL{k}", quantity=D("1.123456789"),
        avg_price=D("100.25"), last_price=D("101.5"), realized_pnl=D("12.5"),
        unrealized_pnl=D("1.25"),
    )  # fmt: skip


def snapshot(n: int, positions: int = 0) -> PortfolioSnapshot:
    """A namespace snapshot; ``positions`` makes it as large as a busy account's."""
    held = tuple(position(n, k) for k in range(positions))
    return PortfolioSnapshot(
        event_id=f"snap-{n}", ts_event=n, ts_init=n, namespace=NS, cash=D("1000.10"),
        equity=D("1100.20"), realized_pnl=D(0), unrealized_pnl=D("1"), fees=D("0.01"),
        gross_exposure=D("101"), net_exposure=D("101"), open_positions=positions, positions=held,
    )  # fmt: skip


def risk(n: int) -> RiskState:
    return RiskState(
        event_id=f"risk-{n}", ts_event=n, ts_init=n, namespace=NS, state=TradingState.HALTED,
        reason="manual", equity=D("1000"), peak_equity=D("1200"), drawdown_pct=16.7,
    )  # fmt: skip


def denied(n: int) -> OrderDenied:
    return OrderDenied(
        event_id=f"deny-{n}", ts_event=n, ts_init=n, namespace=NS, signal_id=f"sig-{n}",
        strategy_id="sma:BTC", symbol="BTC", side=Side.SELL, reason=DenyReason.TRADING_HALTED,
        detail="halted by an operator",
    )  # fmt: skip


class Pipeline:
    """The platform's way in: a deterministic memory bus with a SyncHost running the service."""

    def __init__(self, hub: StreamHub, timeframes: tuple[str, ...] = ("1m", "5m")) -> None:
        self.bus = MemoryBus(partitions=1, retention=64)
        self.host = SyncHost(self.bus)
        self.service = HubService(hub, NS, timeframes)
        self.host.add(self.service)
        self.host.start()

    def push(self, event: Event, topic: str | None = None) -> None:
        """Publish ``event`` where the pipeline would and run every handler."""
        where = topic if topic is not None else topics.topic_for(event, NS)
        self.bus.publish_nowait(where, event, topics.key_for(event))
        self.host.run_until_idle()


def small_hub(ring: int = 8, queue: int = 4, per_user: int = 2) -> StreamHub:
    return StreamHub(HubLimits(ring_size=ring, queue_size=queue, max_per_user=per_user), 0)


# --- the service --------------------------------------------------------------------------------


def test_pipeline_events_become_items_of_their_streams_in_order() -> None:
    hub = small_hub(ring=32, queue=16)
    pipeline = Pipeline(hub)
    sub = hub.subscribe("vera", STREAMS)

    for event in (bar(1), bar(2, "5m"), accepted(3), filled(4), snapshot(5), risk(6), denied(7)):
        pipeline.push(event)

    got = [(i.id, i.stream, i.event.event_id) for i in sub.take()]
    assert got == [
        (1, "bars", "bar-1m-1"),
        (2, "bars", "bar-5m-2"),
        (3, "orders", "acc-3"),
        (4, "orders", "filled-4"),
        (5, "fills", "filled-4"),
        (6, "portfolio", "snap-5"),
        (7, "risk", "risk-6"),
        (8, "rejections", "deny-7"),
    ]


def test_partial_fills_are_fills_and_order_events() -> None:
    hub = small_hub()
    pipeline = Pipeline(hub)
    sub = hub.subscribe("vera", ["fills"])

    pipeline.push(partially_filled(1))

    assert [(i.stream, i.event.event_id) for i in sub.take()] == [("fills", "part-1")]
    assert hub.last_id == 2


def test_unconfigured_timeframes_and_other_topics_are_not_streamed() -> None:
    hub = small_hub()
    pipeline = Pipeline(hub, timeframes=("1m",))

    pipeline.push(bar(1, "1h"))
    signal = Signal(
        event_id="s1", ts_event=1, ts_init=1, strategy_id="sma:BTC", strategy="sma",
        symbol="BTC", side=Side.BUY, price=1.0,
    )  # fmt: skip
    pipeline.push(signal)

    assert hub.published == 0
    assert topics.bars("1h") not in pipeline.service.inputs()


def test_item_data_is_the_event_json_with_exact_decimal_strings() -> None:
    hub = small_hub()

    item = hub.publish("fills", filled(1))

    body = json.loads(item.data)
    assert body["type"] == "OrderFilled"
    assert body["fill"]["quantity"] == "0.5"
    assert body["fill"]["price"] == "100.10"
    assert b"\n" not in item.data


def test_status_reports_subscribers_items_and_cuts() -> None:
    hub = small_hub(queue=1)
    pipeline = Pipeline(hub)
    hub.subscribe("vera", ["bars"])
    hub.subscribe("otto", ["risk"])

    pipeline.push(bar(1))
    pipeline.push(bar(2))

    assert pipeline.service.status() == {
        "stream_subscribers": 1,
        "stream_items": 2,
        "stream_buffered": 2,
        "stream_cut": 1,
    }
    assert pipeline.service.heartbeat(5).counters["stream_cut"] == 1.0


# --- resuming -------------------------------------------------------------------------------------


def test_resume_gives_exactly_the_buffered_items_after_the_id_in_the_chosen_streams() -> None:
    hub = small_hub(ring=8)
    for n in range(1, 7):
        hub.publish("bars" if n % 2 else "risk", bar(n))

    sub = hub.subscribe("vera", ["bars"], after=2)

    assert sub.reset is None
    assert [i.id for i in sub.backlog] == [3, 5]


def test_resume_from_just_before_the_oldest_buffered_item_loses_nothing() -> None:
    hub = small_hub(ring=4)
    for n in range(1, 11):
        hub.publish("bars", bar(n))

    sub = hub.subscribe("vera", ["bars"], after=6)

    assert sub.reset is None
    assert [i.id for i in sub.backlog] == [7, 8, 9, 10]


def test_resume_from_an_id_older_than_the_ring_asks_for_a_reset() -> None:
    hub = small_hub(ring=4)
    for n in range(1, 11):
        hub.publish("bars", bar(n))

    sub = hub.subscribe("vera", ["bars"], after=5)

    assert sub.backlog == []
    assert sub.reset is not None
    assert "no longer buffered" in sub.reset
    assert sub.resume_id == 10


def test_resume_from_an_id_never_issued_asks_for_a_reset() -> None:
    hub = small_hub()
    hub.publish("bars", bar(1))

    sub = hub.subscribe("vera", ["bars"], after=99)

    assert sub.reset is not None
    assert "not issued" in sub.reset


def test_ids_of_an_earlier_process_are_older_than_a_new_hub() -> None:
    earlier = StreamHub()
    seen = earlier.publish("bars", bar(1)).id
    later = StreamHub()

    sub = later.subscribe("vera", ["bars"], after=seen)

    assert later.publish("bars", bar(2)).id > seen
    assert sub.reset is not None


def test_resume_at_the_newest_id_has_nothing_to_catch_up() -> None:
    hub = small_hub()
    hub.publish("bars", bar(1))

    sub = hub.subscribe("vera", ["bars"], after=hub.last_id)

    assert (sub.backlog, sub.reset) == ([], None)


# --- slow subscribers, caps, closing --------------------------------------------------------------


def test_a_full_queue_cuts_only_that_subscriber_with_a_reason() -> None:
    hub = small_hub(queue=3)
    pipeline = Pipeline(hub)
    slow = hub.subscribe("vera", ["bars"])
    reader = hub.subscribe("vera", ["bars"])

    received: list[int] = []
    for n in range(1, 11):
        pipeline.push(bar(n))
        received += [i.id for i in reader.take()]

    assert slow.end_reason is not None
    assert slow.end_reason.startswith("slow client")
    assert slow.ended.is_set()
    assert slow.pending == 0
    assert received == list(range(1, 11))
    assert reader.end_reason is None
    assert hub.subscribers == 1


def test_a_cut_subscriber_holds_its_slot_until_its_response_ends() -> None:
    hub = small_hub(queue=1, per_user=2)
    slow = hub.subscribe("vera", ["bars"])
    hub.subscribe("vera", ["bars"])
    hub.publish("bars", bar(1))
    hub.publish("bars", bar(2))

    with pytest.raises(StreamLimitError):  # both cut, both still saying goodbye
        hub.subscribe("vera", ["bars"])
    hub.unsubscribe(slow)
    again = hub.subscribe("vera", ["bars"])

    assert hub.cut == 2
    assert again.end_reason is None
    assert hub.streams_of("vera") == 2


def test_the_per_user_cap_refuses_one_more_stream_until_one_closes() -> None:
    hub = small_hub(per_user=2)
    first = hub.subscribe("vera", ["bars"])
    hub.subscribe("vera", ["bars"])

    with pytest.raises(StreamLimitError, match="limit is 2"):
        hub.subscribe("vera", ["bars"])
    other = hub.subscribe("otto", ["bars"])
    hub.unsubscribe(first)
    hub.unsubscribe(first)
    again = hub.subscribe("vera", ["bars"])

    assert other.end_reason is None
    assert again.end_reason is None
    assert hub.streams_of("vera") == 2


def test_closing_ends_every_subscription_and_refuses_new_ones() -> None:
    hub = small_hub()
    sub = hub.subscribe("vera", ["bars"])

    hub.close("server stopping")

    assert sub.end_reason == "server stopping"
    assert hub.subscribers == 0
    assert hub.streams_of("vera") == 1
    hub.unsubscribe(sub)
    assert hub.streams_of("vera") == 0
    with pytest.raises(HubClosedError, match="server stopping"):
        hub.subscribe("vera", ["bars"])


def test_unknown_streams_are_refused() -> None:
    hub = small_hub()

    with pytest.raises(ValueError, match="unknown stream"):
        hub.publish("ticks", bar(1))
    with pytest.raises(ValueError, match="unknown streams"):
        hub.subscribe("vera", ["bars", "ticks"])


@pytest.mark.parametrize("field", ["ring_size", "queue_size", "max_per_user"])
def test_limits_below_one_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        HubLimits(**{field: 0})


# --- waiting for items ----------------------------------------------------------------------------


async def test_next_batch_wakes_on_a_published_item() -> None:
    hub = small_hub()
    sub = hub.subscribe("vera", ["bars"])

    waiting = asyncio.create_task(sub.next_batch(5.0))
    await asyncio.sleep(0)
    hub.publish("bars", bar(1))
    batch = await asyncio.wait_for(waiting, 1.0)

    assert [i.id for i in batch] == [1]


async def test_next_batch_is_empty_after_the_timeout_or_once_ended() -> None:
    hub = small_hub()
    sub = hub.subscribe("vera", ["bars"])

    quiet = await sub.next_batch(0.01)
    waiting = asyncio.create_task(sub.next_batch(5.0))
    await asyncio.sleep(0)
    hub.close("stopping")
    ended = await asyncio.wait_for(waiting, 1.0)

    assert quiet == []
    assert ended == []
