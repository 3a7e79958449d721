"""The deterministic synchronous mode of the memory bus (backtests and replays)."""

from __future__ import annotations

from tickmesh.bus.backends.memory import MemoryBus, log_digest
from tickmesh.core.stamp import Stamper
from tickmesh.model import DeadLetter, Heartbeat, ServiceError, Tick


def run_pipeline(n: int) -> tuple[str, list[bytes]]:
    sink, digest = log_digest()
    payloads: list[bytes] = []

    def record(topic: str, key: str, payload: bytes) -> None:
        sink(topic, key, payload)
        payloads.append(payload)

    bus = MemoryBus(partitions=3, retention=64, log_sink=record)
    stamp = Stamper.deterministic("doubler", seed=7)

    def doubler(topic: str, event: object) -> None:
        assert isinstance(event, Tick)
        stamp.clock.advance_to(event.ts_event)  # type: ignore[attr-defined]
        bus.publish_nowait(
            "out",
            Tick(
                **stamp(event.ts_event), symbol=event.symbol, price=event.price * 2, size=event.size
            ),
            event.symbol,
        )

    bus.attach(["in"], "doubler", doubler)
    bus.attach(["out"], "sink", lambda t, e: None)
    feed = Stamper.deterministic("feed", seed=7)
    for i in range(n):
        bus.publish_nowait(
            "in", Tick(**feed(i * 1000), symbol=f"S{i % 3}", price=1.0 + i, size=1.0), f"S{i % 3}"
        )
        bus.run_until_idle()
    return digest(), payloads


def test_same_input_twice_gives_byte_identical_event_log() -> None:
    first, second = run_pipeline(500), run_pipeline(500)

    assert first[0] == second[0]
    assert first[1] == second[1]
    assert len(first[1]) == 1000


def test_sync_dispatch_runs_handlers_in_publish_order() -> None:
    bus = MemoryBus()
    seen: list[tuple[str, int]] = []
    bus.attach(["a", "b"], "g", lambda t, e: seen.append((t, e.ts_event)))
    for n in range(3):
        bus.publish_nowait(
            "a" if n % 2 else "b", Heartbeat(event_id=str(n), ts_event=n, ts_init=n, service="s")
        )

    handled = bus.run_until_idle()

    assert handled == 3
    assert seen == [("b", 0), ("a", 1), ("b", 2)]


def test_failing_sync_handler_is_retried_then_dead_lettered_and_flow_continues() -> None:
    bus = MemoryBus()
    calls: list[int] = []
    dead: list[BaseException] = []

    def handler(topic: str, event: object) -> None:
        assert isinstance(event, Heartbeat)
        calls.append(event.ts_event)
        if event.ts_event == 1:
            raise ValueError("bad beat")

    bus.attach(["t"], "g", handler, max_deliver=3, on_dead=lambda t, e, exc: dead.append(exc))
    for n in range(3):
        bus.publish_nowait("t", Heartbeat(event_id=str(n), ts_event=n, ts_init=n, service="s"))
    bus.run_until_idle()

    letters = [e for e in bus.retained("system.dlq") if isinstance(e, DeadLetter)]
    assert calls == [0, 1, 1, 1, 2]
    assert len(dead) == 1
    assert (letters[0].attempts, letters[0].error) == (3, "ValueError: bad beat")
    assert not isinstance(letters[0], ServiceError)
