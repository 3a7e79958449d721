"""tail: prints messages as JSON lines from its own group, without disturbing the services."""

from __future__ import annotations

import json
from decimal import Decimal

from tickmesh.bus import MemoryBus
from tickmesh.model import Fill, Side
from tickmesh.services.tail import tail


def fill() -> Fill:
    return Fill(
        event_id="f1",
        ts_event=5,
        ts_init=5,
        fill_id="f1",
        order_id="o1",
        strategy_id="s",
        symbol="BTC",
        side=Side.BUY,
        quantity=Decimal("0.5"),
        price=Decimal("100.25"),
    )


async def test_tail_prints_each_message_as_json_with_exact_decimals() -> None:
    bus = MemoryBus()
    lines: list[str] = []
    await bus.publish("paper.orders.events", fill(), key="o1")

    count = await tail(bus, ["paper.orders.events"], "t", lines.append, start="earliest", limit=1)

    line = json.loads(lines[0])
    assert count == 1
    assert (line["topic"], line["key"], line["type"]) == ("paper.orders.events", "o1", "Fill")
    assert line["event"]["price"] == "100.25"


async def test_tail_shows_a_malformed_payload_instead_of_dead_lettering_it() -> None:
    bus = MemoryBus()
    lines: list[str] = []
    await bus.publish_raw("market.ticks", b"\xc1junk", key="x")

    await tail(bus, ["market.ticks"], "tail", lines.append, start="earliest", limit=1)

    line = json.loads(lines[0])
    assert "malformed" in line["error"]
    assert line["payload_b64"] == "wWp1bms="
    assert bus.retained("system.dlq") == []


async def test_tail_in_its_own_group_leaves_the_services_messages_alone() -> None:
    bus = MemoryBus()
    service = bus.subscribe(["market.ticks"], "bars", "b1")
    await bus.publish("paper.orders.events", fill(), key="o1")
    await bus.publish("market.ticks", fill(), key="o1")

    await tail(bus, ["market.ticks"], "tail-x", [].append, start="earliest", limit=1)

    assert len(await service.fetch(10, timeout=0.5)) == 1
