"""``tickmesh service api``: the API alone, beside a pipeline that runs in another process."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from typing import Any

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import servers
from tickmesh.bus import SubscribeOptions, create_bus
from tickmesh.model import Bar, Command, CommandType

from .conftest import Workdir, clean_env

pytestmark = pytest.mark.integration
PASSWORD = "a-long-password"


def start_api(workdir: Workdir, url: str, prefix: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "tickmesh.cli", "service", "api", "--bus", url,
           "--bus-prefix", prefix, "--db", f"sqlite:///{workdir.db}", "--port", "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=workdir.path, env=clean_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "serving on http://127.0.0.1:PORT"
    if not line.startswith("serving on "):
        proc.kill()
        raise AssertionError(f"no URL: {line!r}\n{proc.communicate()}")
    return proc, line.split()[-1]


async def exercise(base: str, url: str, prefix: str) -> tuple[int, list[str], list[Command], str]:
    bus = create_bus(url, prefix=prefix)
    await bus.start()
    commands = bus.subscribe(["ops.commands"], "check", "c", SubscribeOptions(start="earliest"))
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            login = await client.post("/api/v1/token/login",
                                      json={"username": "ops", "password": PASSWORD})  # fmt: skip
            auth = {"authorization": f"Bearer {login.json()['access_token']}"}
            portfolio = (await client.get("/api/v1/portfolio", headers=auth)).status_code
            halted = await client.post("/api/v1/ops/halt", headers=auth, json={"reason": "test"})
            assert halted.status_code == 202, halted.text
            streamed = await stream_one_bar(client, auth, bus)
            metrics = (await client.get("/metrics")).text
        got: list[Command] = []
        while not got:
            batch = await commands.fetch(16, timeout=5.0)
            assert batch, "no command reached the bus"
            got += [d.event for d in batch if isinstance(d.event, Command)]
        return portfolio, streamed, got, metrics
    finally:
        await commands.close()
        await bus.close()


async def purge(url: str, prefix: str) -> None:
    bus = create_bus(url, prefix=prefix)
    await bus.start()
    await bus.purge()
    await bus.close()


async def stream_one_bar(client: httpx.AsyncClient, auth: dict[str, str], bus: Any) -> list[str]:
    """Open the live stream, publish a bar on the bus the way the pipeline does, read it back."""
    lines: list[str] = []
    async with client.stream("GET", "/api/v1/stream?topics=bars", headers=auth) as response:
        assert response.status_code == 200
        await asyncio.sleep(1.0)  # the API's consumer group joins at the newest message
        ts = 1_700_000_060_000_000_000
        bar = Bar(event_id="b1", ts_event=ts, ts_init=ts, symbol="SYN1", timeframe="1m",
                  ts_open=ts - 60_000_000_000, open=1.0, high=2.0, low=0.5, close=1.5,
                  volume=10.0)  # fmt: skip
        await bus.publish("market.bars.1m", bar, "SYN1")
        # tickmesh service NAME publishes on the sequenced log instead, the topic in a header
        logged = msgspec.structs.replace(bar, event_id="b2", symbol="SYN2")
        headers = {"tm-seq": "0", "tm-topic": "market.bars.1m", "tm-root-ts": str(ts)}
        await bus.publish("pipeline.log", logged, "pipeline", headers)
        async with asyncio.timeout(20):
            async for line in response.aiter_lines():
                lines.append(line)
                if sum(line.startswith("data:") for line in lines) == 2:
                    break
    return lines


@pytest.mark.parametrize("server", ["redis", "nats"])
def test_api_alone_serves_reads_sends_halt_on_the_bus_and_streams_what_the_bus_carries(
    workdir: Workdir, server: str
) -> None:
    url = servers.require(server)
    prefix = f"svc-{uuid.uuid4().hex[:8]}"
    workdir.run("admin", "user", "add", "ops", "--role", "operator", "--password-stdin",
                "--db", f"sqlite:///{workdir.db}", input_text=PASSWORD + "\n")  # fmt: skip
    proc, base = start_api(workdir, url, prefix)
    try:
        portfolio, streamed, commands, metrics = asyncio.run(exercise(base, url, prefix))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        asyncio.run(purge(url, prefix))

    assert proc.returncode == 0, err
    assert portfolio == 200
    assert "event: bars" in streamed
    data = [json.loads(line[5:]) for line in streamed if line.startswith("data:")]
    assert sorted((d["symbol"], d["close"]) for d in data) == [("SYN1", 1.5), ("SYN2", 1.5)]
    assert [c.command for c in commands] == [CommandType.HALT]
    assert commands[0].args.get("reason", "test") == "test"
    series = {s.name: s for f in text_string_to_metric_families(metrics) for s in f.samples}
    assert series["tickmesh_service_events_in_total"].value >= 1  # the bar, from the bus
    assert series["tickmesh_stream_items_total"].value >= 1
    assert "tickmesh_stream_subscribers" in series


def test_api_alone_on_the_in_process_bus_is_refused_with_the_fix(workdir: Workdir) -> None:
    proc = workdir.run("service", "api", "--bus", "memory://", "--db",
                       f"sqlite:///{workdir.db}", check=False)  # fmt: skip

    assert proc.returncode == 2
    assert "needs a shared bus" in proc.stderr
    assert "--bus redis://" in proc.stderr
