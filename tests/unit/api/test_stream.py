"""The live event stream over a real server: uvicorn on 127.0.0.1, an httpx client reading the
body as it arrives, and events pushed through the pipeline's :class:`HubService` by the test
(on the same event loop, as the platform does)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.services.test_hub import Pipeline, accepted, bar, filled, risk, snapshot
from tickmesh.api import stream as stream_module
from tickmesh.api.stream import COOKIE_NAME, StreamOptions, install
from tickmesh.services.api_server import ApiServer
from tickmesh.services.hub import HubLimits, StreamHub
from tickmesh.storage import Database
from tickmesh.storage.users import UserStore

STREAM = "/api/v1/stream"
TICKET = "/api/v1/stream/ticket"
COOKIE = "/api/v1/stream/cookie"
ALLOWED = "bars, fills, orders, portfolio, risk, rejections"
OPTIONS = StreamOptions(keepalive_s=0.2, ticket_ttl_s=30.0, goodbye_timeout_s=2.0, retry_ms=500)


class Monotonic:
    """The ticket clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Message:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


class Events:
    """Parses a ``text/event-stream`` body as it arrives; comments are counted, not returned."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.comments = 0
        self.retry: int | None = None

    async def next(self, timeout: float = 5.0) -> Message:
        async with asyncio.timeout(timeout):
            return await self._message()

    async def next_comment(self, timeout: float = 5.0) -> None:
        seen = self.comments
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                self._field(line, {})
                if self.comments > seen:
                    return
        raise EOFError("the stream ended")

    async def rest(self, timeout: float = 10.0) -> list[Message]:
        """Every message until the server ends the stream."""
        got: list[Message] = []
        async with asyncio.timeout(timeout):
            while True:
                try:
                    got.append(await self._message())
                except EOFError:
                    return got

    async def _message(self) -> Message:
        fields: dict[str, str] = {}
        async for line in self._lines:
            if line == "" and fields:
                return Message(
                    fields.get("event", "message"), fields.get("data", ""), fields.get("id")
                )
            self._field(line, fields)
        raise EOFError("the stream ended")

    def _field(self, line: str, fields: dict[str, str]) -> None:
        if line.startswith(":"):
            self.comments += 1
            return
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "retry":
            self.retry = int(value)
        elif name:
            fields[name] = value


@pytest.fixture
def options(request: pytest.FixtureRequest) -> StreamOptions:
    chosen: StreamOptions = getattr(request, "param", OPTIONS)
    return chosen


@pytest.fixture
def hub() -> StreamHub:
    return StreamHub(HubLimits(ring_size=16, queue_size=16, max_per_user=2), first_id=0)


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def pipeline(hub: StreamHub) -> Pipeline:
    return Pipeline(hub)


@pytest.fixture
async def server(
    app: FastAPI, hub: StreamHub, options: StreamOptions, monotonic: Monotonic
) -> AsyncIterator[ApiServer]:
    install(app, hub, options, clock=monotonic)
    running = ApiServer(app, "127.0.0.1", 0)
    await running.start()
    try:
        yield running
    finally:
        hub.close("the test is over")
        await running.stop()


@pytest.fixture
async def http(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def stuck(server: ApiServer) -> Iterator[socket.socket]:
    """A raw connection with a tiny receive buffer, for a client that does not read; closed
    before the server stops, so a failing test cannot leave the server waiting on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((server.host, server.port))
        yield sock


@asynccontextmanager
async def opened(
    http: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: str
) -> AsyncIterator[Events]:
    async with http.stream("GET", STREAM, headers=headers, params=params) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Events(response)


async def refused_with(
    http: httpx.AsyncClient,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """The answer to a stream request expected to be refused; fails at once, instead of waiting
    on an endless body, when the stream opens."""
    async with http.stream("GET", STREAM, headers=headers, params=params) as response:
        assert response.status_code != 200, "the stream opened"
        await response.aread()
    return response


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - server-side state with nothing to await
            await asyncio.sleep(0.01)


async def get_ticket(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await http.post(TICKET, headers=headers)
    assert response.status_code == 200, response.text
    value: str = response.json()["ticket"]
    return value


# --- live events and resuming ---------------------------------------------------------------------


async def test_a_client_receives_live_bars_and_fills_in_order(
    http: httpx.AsyncClient, pipeline: Pipeline, viewer: dict[str, str]
) -> None:
    async with opened(http, viewer, topics="bars,fills") as events:
        for event in (bar(1), accepted(2), filled(2), bar(3, "5m")):
            pipeline.push(event)
        got = [await events.next() for _ in range(3)]

    assert events.retry == 500
    assert [(m.id, m.event, m.json()["event_id"]) for m in got] == [
        ("1", "bars", "bar-1m-1"),
        ("4", "fills", "filled-2"),
        ("5", "bars", "bar-5m-3"),
    ]
    fill = got[1].json()
    assert (fill["type"], fill["fill"]["quantity"], fill["fill"]["price"]) == (
        "OrderFilled",
        "0.5",
        "100.10",
    )
    assert got[2].json()["close"] == 103.5


async def test_reconnecting_with_last_event_id_gets_exactly_the_missed_events(
    http: httpx.AsyncClient,
    hub: StreamHub,
    pipeline: Pipeline,
    viewer: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stream_module, "CHUNK_ITEMS", 2)  # the backlog spans two sends
    async with opened(http, viewer, topics="bars") as events:
        for n in (1, 2, 3):
            pipeline.push(bar(n))
        seen = [await events.next() for _ in range(3)]
    await until(lambda: hub.subscribers == 0)
    for event in (bar(4), risk(5), bar(6), bar(7)):
        pipeline.push(event)

    resumed = {**viewer, "Last-Event-ID": str(seen[-1].id)}
    async with opened(http, resumed, topics="bars") as events:
        missed = [await events.next() for _ in range(3)]
        pipeline.push(bar(8))
        live = await events.next()

    assert [m.json()["event_id"] for m in seen] == ["bar-1m-1", "bar-1m-2", "bar-1m-3"]
    assert [(m.id, m.json()["event_id"]) for m in missed] == [
        ("4", "bar-1m-4"),
        ("6", "bar-1m-6"),
        ("7", "bar-1m-7"),
    ]
    assert (live.id, live.json()["event_id"]) == ("8", "bar-1m-8")


async def test_an_id_older_than_the_buffer_gets_a_reset_then_live_events(
    http: httpx.AsyncClient, pipeline: Pipeline, viewer: dict[str, str]
) -> None:
    for n in range(1, 21):
        pipeline.push(bar(n))

    async with opened(http, {**viewer, "Last-Event-ID": "2"}, topics="bars") as events:
        reset = await events.next()
        pipeline.push(bar(21))
        live = await events.next()

    assert (reset.event, reset.id) == ("reset", "20")
    assert "no longer buffered (the oldest kept is 5)" in reset.json()["reason"]
    assert (live.event, live.id) == ("bars", "21")


async def test_idle_streams_get_keep_alive_comments(
    http: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    async with opened(http, viewer) as events:
        await events.next_comment(timeout=2.0)
        await events.next_comment(timeout=2.0)

    assert events.comments >= 2


async def test_closing_the_hub_tells_clients_why_and_ends_their_streams(
    http: httpx.AsyncClient, hub: StreamHub, viewer: dict[str, str]
) -> None:
    async with opened(http, viewer) as events:
        hub.close("the server is stopping")
        rest = await events.rest()
    refused = await refused_with(http, headers=viewer)

    assert [(m.event, m.id, m.json()) for m in rest] == [
        ("disconnect", None, {"reason": "the server is stopping"})
    ]
    assert refused.status_code == 503
    assert "the server is stopping" in refused.json()["detail"]


# --- slow clients ---------------------------------------------------------------------------------


async def test_a_slow_client_is_cut_with_a_reason_while_another_gets_everything(
    http: httpx.AsyncClient, hub: StreamHub, pipeline: Pipeline, viewer: dict[str, str]
) -> None:
    async with (
        http.stream("GET", STREAM, headers=viewer, params={"topics": "portfolio"}) as slow,
        opened(http, viewer, topics="portfolio") as fast,
    ):
        received = await _push_until_cut(hub, pipeline, fast)
        pipeline.push(snapshot(len(received) + 1))
        after_cut = await fast.next()
        slow_got = await Events(slow).rest()

    pushed = [str(n) for n in range(1, len(received) + 1)]
    assert [m.id for m in received] == pushed
    assert after_cut.id == str(len(received) + 1)
    assert slow_got[-1].event == "disconnect"
    assert slow_got[-1].json()["reason"].startswith("slow client: 16 events were waiting")
    slow_ids = [m.id for m in slow_got[:-1]]
    assert slow_ids == pushed[: len(slow_ids)]
    assert len(slow_ids) < len(pushed) - 16


@pytest.mark.parametrize(
    "options", [StreamOptions(keepalive_s=0.2, goodbye_timeout_s=0.1)], indirect=True
)
async def test_a_client_that_never_reads_is_disconnected(
    stuck: socket.socket,
    hub: StreamHub,
    pipeline: Pipeline,
    viewer: dict[str, str],
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tickmesh.api.stream")
    request = f"GET {STREAM}?topics=portfolio HTTP/1.1\r\nHost: test\r\n"
    stuck.sendall(f"{request}Authorization: {viewer['Authorization']}\r\n\r\n".encode())
    await until(lambda: hub.subscribers == 1)
    async with opened(http, viewer, topics="portfolio") as fast:
        await _push_until_cut(hub, pipeline, fast)
    await until(lambda: "client not reading; closing it" in caplog.text)
    closed = await asyncio.to_thread(_read_until_closed, stuck)

    assert closed.startswith(b"HTTP/1.1 200")
    assert b"event: disconnect" not in closed
    assert not closed.endswith(b"\r\n0\r\n\r\n")


async def _push_until_cut(hub: StreamHub, pipeline: Pipeline, fast: Events) -> list[Message]:
    """Push large snapshots one at a time, each read by ``fast``, until the hub cuts a client."""
    received: list[Message] = []
    for n in range(1, 3_000):
        pipeline.push(snapshot(n, positions=60))
        received.append(await fast.next())
        if hub.cut:
            return received
    raise AssertionError("no client was cut")


def _read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(10.0)
    chunks: list[bytes] = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# --- authentication, tickets, limits --------------------------------------------------------------


async def test_a_ticket_opens_one_stream_once(
    http: httpx.AsyncClient, pipeline: Pipeline, viewer: dict[str, str]
) -> None:
    issued = await http.post(TICKET, headers=viewer)
    ticket = issued.json()["ticket"]
    async with opened(http, None, ticket=ticket, topics="risk") as events:
        pipeline.push(risk(1))
        got = await events.next()
    reused = await refused_with(http, params={"ticket": ticket})

    assert issued.headers["cache-control"] == "no-store"
    assert issued.json()["expires_in"] == 30.0
    assert (got.event, got.json()["event_id"]) == ("risk", "risk-1")
    assert reused.status_code == 401
    assert "already used" in reused.json()["detail"]


async def test_a_ticket_resumes_with_the_last_event_id_query(
    http: httpx.AsyncClient, pipeline: Pipeline, viewer: dict[str, str]
) -> None:
    for n in (1, 2, 3):
        pipeline.push(bar(n))
    ticket = await get_ticket(http, viewer)

    async with opened(http, None, ticket=ticket, last_event_id="1") as events:
        got = [await events.next() for _ in range(2)]

    assert [m.id for m in got] == ["2", "3"]


async def test_an_expired_ticket_is_refused_with_the_reason(
    http: httpx.AsyncClient, monotonic: Monotonic, viewer: dict[str, str]
) -> None:
    first, second = await get_ticket(http, viewer), await get_ticket(http, viewer)

    monotonic.now += 29.9
    async with opened(http, None, ticket=first) as events:
        await events.next_comment()
    monotonic.now += 0.1
    expired = await refused_with(http, params={"ticket": second})

    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


async def test_a_ticket_of_a_since_disabled_user_is_refused(
    http: httpx.AsyncClient, db: Database, viewer: dict[str, str]
) -> None:
    ticket = await get_ticket(http, viewer)
    async with db.transaction() as repo:
        await UserStore(repo.conn).disable_user("vera", now=2)

    refused = await refused_with(http, params={"ticket": ticket})

    assert refused.status_code == 401
    assert "disabled" in refused.json()["detail"]


@pytest.mark.parametrize(
    "options", [StreamOptions(keepalive_s=0.2, recheck_s=0.2, goodbye_timeout_s=1.0)], indirect=True
)
async def test_an_open_stream_of_a_user_disabled_meanwhile_ends_with_the_reason(
    http: httpx.AsyncClient, db: Database, viewer: dict[str, str]
) -> None:
    async with opened(http, viewer) as events:
        async with db.transaction() as repo:
            await UserStore(repo.conn).disable_user("vera", now=2)
        rest = await events.rest()

    assert [(m.event, m.json()) for m in rest] == [
        ("disconnect", {"reason": "user 'vera' is disabled or no longer exists"})
    ]


async def test_the_stream_cookie_alone_opens_the_stream_for_its_user(
    http: httpx.AsyncClient, pipeline: Pipeline, viewer: dict[str, str]
) -> None:
    issued = await http.post(COOKIE, headers=viewer)

    async with opened(http, topics="bars") as events:
        pipeline.push(bar(1))
        got = await events.next()

    assert issued.status_code == 200
    assert issued.json() == {"expires_in": 300}
    assert issued.headers["cache-control"] == "no-store"
    assert (got.event, got.json()["event_id"]) == ("bars", "bar-1m-1")


async def test_a_bearer_token_wins_over_a_bad_stream_cookie(
    http: httpx.AsyncClient, pipeline: Pipeline, viewer: dict[str, str]
) -> None:
    with_cookie = {**viewer, "Cookie": f"{COOKIE_NAME}=tampered"}

    async with opened(http, with_cookie, topics="bars") as events:
        pipeline.push(bar(1))
        got = await events.next()

    assert got.id == "1"


@pytest.mark.parametrize(
    ("headers", "params", "reason"),
    [
        ({}, {}, "not authenticated"),
        ({"Authorization": "Bearer not-a-token"}, {}, "token malformed"),
        ({}, {"ticket": "made-up"}, "unknown stream ticket"),
    ],
)
async def test_unauthenticated_stream_requests_get_401_with_the_reason(
    http: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str], reason: str
) -> None:
    response = await refused_with(http, headers=headers, params=params)

    assert response.status_code == 401
    assert reason in response.json()["detail"]


async def test_tickets_need_an_access_token(http: httpx.AsyncClient) -> None:
    response = await http.post(TICKET)

    assert response.status_code == 401


async def test_a_token_and_a_ticket_together_are_refused(
    http: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    ticket = await get_ticket(http, viewer)

    response = await refused_with(http, headers=viewer, params={"ticket": ticket})

    assert response.status_code == 400
    assert "not both" in response.json()["detail"]


async def test_one_stream_over_the_per_user_cap_gets_429_until_one_closes(
    http: httpx.AsyncClient, hub: StreamHub, viewer: dict[str, str], operator: dict[str, str]
) -> None:
    async with opened(http, viewer), opened(http, viewer):
        refused = await refused_with(http, headers=viewer)
        async with opened(http, operator) as other:
            await other.next_comment()
    await until(lambda: hub.streams_of("vera") == 0)
    async with opened(http, viewer) as again:
        await again.next_comment()

    assert refused.status_code == 429
    assert "already has 2 open event streams (the limit is 2)" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("params", "headers", "reason"),
    [
        ({"topics": "bars,ticks"}, {}, f"unknown topics 'ticks'; choose from {ALLOWED}"),
        ({"topics": " , "}, {}, f"topics names no stream; choose from {ALLOWED}"),
        ({}, {"Last-Event-ID": "abc"}, "must be a non-negative integer"),
        ({"last_event_id": "-3"}, {}, "must be a non-negative integer"),
    ],
)
async def test_bad_stream_parameters_get_422_naming_what_is_allowed(
    http: httpx.AsyncClient,
    viewer: dict[str, str],
    params: dict[str, str],
    headers: dict[str, str],
    reason: str,
) -> None:
    response = await refused_with(http, headers={**viewer, **headers}, params=params)

    assert response.status_code == 422
    assert reason in response.json()["detail"]
