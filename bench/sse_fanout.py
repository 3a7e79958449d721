"""Delivery lag from hub publish to client of ``GET /api/v1/stream?topics=bars,fills`` at 500
concurrent SSE clients, and what they cost the pipeline (its ticks/s with and without them).

The server is the child process of ``api_portfolio.py`` (run here with ``--serve``): the
platform with its API as ``tickmesh run`` builds them, replaying synthetic ticks as fast as it
can. Two things are changed on its hub instance, neither reachable from settings: the per-user
cap on open streams (``HubLimits.max_per_user``, 4 by default) is raised to
``ceil(clients / users)``, and ``publish`` is wrapped to note ``time.monotonic_ns()`` when each
bars/fills item is handed to the hub (items keep no publish time, and an event's ``ts_init`` is
replay time on the platform's simulated clock). The clients (raw asyncio connections, bearer
tokens, a minimal SSE parser that notes ``time.monotonic_ns()`` when the read completing each
message returns) run in ``--client-procs`` other processes; CLOCK_MONOTONIC is one clock for
every process on the machine, so publish and receipt times compare directly.

Timeline: warm-up, ``--baseline`` s without clients, the clients connect (not measured),
``--duration`` s with all of them connected, 2 s more for the last items to arrive, the
clients leave, ``--baseline`` s without clients again. Lags are over the items published
inside the connected window, per client that received them.

Run: ``.venv/bin/python bench/sse_fanout.py [--clients 500] [--client-procs 4] [--duration 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import sys
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from api_portfolio import (
    STAMPS_NAME,
    ClientProcess,
    Feed,
    ServedPlatform,
    Timeline,
    Window,
    add_feed_options,
    add_serve_options,
    bench_main,
    cores_line,
    percentile_ms,
    pipeline_lines,
    prepare_workdir,
    print_server_notes,
    spread,
)

from tickmesh.services.hub import STREAMS

SCRIPT = Path(__file__).resolve()
DRAIN_S = 2.0
MESSAGE_ID = re.compile(rb"^id: (\d+)\nevent: (\w+)$", re.MULTILINE)


# --- the SSE clients (child side) -------------------------------------------------------------


@dataclass
class Receipts:
    """What one client process got: (item id, receipt time) per message per client."""

    ids: array[int] = field(default_factory=lambda: array("q"))
    times: array[int] = field(default_factory=lambda: array("q"))
    opened: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    resets: int = 0
    disconnects: int = 0
    closed_by_server: int = 0

    def note(self, block: bytes, now: int) -> None:
        for found in MESSAGE_ID.finditer(block):
            if found[2] == b"reset":
                self.resets += 1
            else:
                self.ids.append(int(found[1]))
                self.times.append(now)
        self.disconnects += block.count(b"event: disconnect\n")


def request_bytes(host: str, port: int, token: str, topics: str) -> bytes:
    return (
        f"GET /api/v1/stream?topics={topics} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()


async def _open(
    config: dict[str, Any], token: str, receipts: Receipts
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """One connection with its response head read; None (and counted) when refused."""
    host, port = config["host"], config["port"]
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request_bytes(host, port, token, config["topics"]))
    head = await reader.readuntil(b"\r\n\r\n")
    code = head.split(b" ", 2)[1].decode()
    if code != "200":
        receipts.refused[f"HTTP {code}"] += 1
        writer.close()
        return None
    receipts.opened += 1
    return reader, writer


async def _read_stream(reader: asyncio.StreamReader, receipts: Receipts) -> None:
    """Note every message as the read completing it returns (chunked framing is ignored: a
    chunk always holds whole messages, and its size lines never look like ``id:``)."""
    pending = b""
    while data := await reader.read(65536):
        now = time.monotonic_ns()
        pending += data
        cut = pending.rfind(b"\n\n")
        if cut >= 0:
            receipts.note(pending[:cut], now)
            pending = pending[cut + 2 :]
    receipts.closed_by_server += 1


async def _client(
    config: dict[str, Any], token: str, gate: asyncio.Semaphore, receipts: Receipts, ready: Any
) -> None:
    writer = None
    try:
        async with gate:
            opened = await _open(config, token, receipts)
        ready()
        if opened is None:
            return
        reader, writer = opened
        await _read_stream(reader, receipts)
    except OSError as exc:
        receipts.refused[type(exc).__name__] += 1
        ready()
    finally:
        if writer is not None:
            writer.close()


async def sse_clients(config: dict[str, Any]) -> dict[str, Any]:
    receipts = Receipts()
    gate = asyncio.Semaphore(config["connect_concurrency"])
    settled = asyncio.Event()
    left = [config["clients"]]

    def ready() -> None:
        left[0] -= 1
        if left[0] == 0:
            settled.set()

    tokens = config["tokens"]
    tasks = [
        asyncio.create_task(_client(config, tokens[i % len(tokens)], gate, receipts, ready))
        for i in range(config["clients"])
    ]
    await settled.wait()
    print("READY", flush=True)
    cpu0 = time.process_time()
    await asyncio.to_thread(sys.stdin.readline)
    cpu_s = time.process_time() - cpu0
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
    np.savez(config["out"], ids=np.array(receipts.ids), times=np.array(receipts.times))
    return {
        "opened": receipts.opened,
        "refused": dict(receipts.refused),
        "resets": receipts.resets,
        "disconnects": receipts.disconnects,
        "closed_by_server": receipts.closed_by_server,
        "cpu_s": cpu_s,
    }


def client_main() -> None:
    config = json.loads(sys.stdin.readline())
    result = asyncio.run(sse_clients(config))
    print(json.dumps(result), flush=True)


# --- the parent: lags from publish stamps and receipts ------------------------------------------


@dataclass
class Lags:
    """Every (item, client) delivery of items published in the loaded window."""

    published: Counter[str]
    expected: int
    lags_s: np.ndarray
    unmatched: int


def delivery_lags(workdir: Path, receipt_files: list[Path], window: Window, clients: int) -> Lags:
    stamps = np.load(workdir / STAMPS_NAME)
    ids, times, streams = stamps["ids"], stamps["times"], stamps["streams"]
    inside = (times >= window.start_ns) & (times <= window.end_ns)
    published = Counter(STREAMS[int(code)] for code in streams[inside])
    lags, unmatched = [], 0
    for path in receipt_files:
        got = np.load(path)
        where = np.searchsorted(ids, got["ids"]).clip(0, max(len(ids) - 1, 0))
        known = ids[where] == got["ids"] if len(ids) else np.zeros(0, dtype=bool)
        unmatched += int(np.count_nonzero(~known))
        keep = known & inside[where]
        lags.append((got["times"][keep] - times[where][keep]) / 1e9)
    every = np.concatenate(lags) if lags else np.zeros(0)
    return Lags(published, int(inside.sum()) * clients, every, unmatched)


def lag_lines(lags: Lags, window: Window) -> list[str]:
    rates = ", ".join(f"{k} {v / window.seconds:,.1f}/s" for k, v in sorted(lags.published.items()))
    delivered = len(lags.lags_s)
    return [
        f"  published in the window: {sum(lags.published.values()):,} items ({rates or 'none'})",
        f"  delivered: {delivered:,} of {lags.expected:,} (items x connected clients) = "
        f"{delivered / window.seconds:,.0f} messages/s; received ids not stamped: "
        f"{lags.unmatched}",
        f"  lag publish -> client: p50 {percentile_ms(lags.lags_s, 50):.1f} ms, p99 "
        f"{percentile_ms(lags.lags_s, 99):.1f} ms, max {percentile_ms(lags.lags_s, 100):.1f} ms",
    ]


def client_lines(results: list[dict[str, Any]], window: Window) -> list[str]:
    refused: Counter[str] = Counter()
    for r in results:
        refused.update(r["refused"])
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(refused.items())) or "none"
    cpu = sum(r["cpu_s"] for r in results)
    return [
        f"  connected: {sum(r['opened'] for r in results)}; refused: {shown}; "
        f"resets {sum(r['resets'] for r in results)}; cut by the server (disconnect events) "
        f"{sum(r['disconnects'] for r in results)}; closed by the server "
        f"{sum(r['closed_by_server'] for r in results)}",
        f"  client processes CPU: {100 * cpu / window.seconds:.0f} % of one core in total",
    ]


@dataclass
class Session:
    args: argparse.Namespace
    workdir: Path
    server: ServedPlatform
    timeline: Timeline

    def connected_window(
        self, tokens: list[str]
    ) -> tuple[Window, list[dict[str, Any]], list[Path]]:
        args, url = self.args, self.server.url
        host, port = url.removeprefix("http://").split(":")
        procs, outs = [], []
        for k, n in enumerate(spread(args.clients, args.client_procs)):
            out = self.workdir / f"receipts-{k}.npz"
            config = {
                "host": host, "port": int(port), "tokens": tokens, "clients": n,
                "topics": args.topics, "connect_concurrency": args.connect_concurrency,
                "out": str(out),
            }  # fmt: skip
            procs.append(ClientProcess(SCRIPT, config))
            outs.append(out)
        for proc in procs:
            proc.wait_ready()
        window = self.timeline.measure(f"{args.clients} clients connected", args.duration)
        time.sleep(DRAIN_S)  # what was published in the window reaches the clients
        for proc in procs:
            proc.tell("STOP")
        return window, [proc.result() for proc in procs], outs


def cap_line(cap: dict[str, int]) -> str:
    how = (
        "unchanged"
        if cap["used"] == cap["default"]
        else "raised on the hub instance, as [api] stream_max_per_user would"
    )
    return (
        f"per-user stream cap: HubLimits.max_per_user {cap['default']} by default, "
        f"{cap['used']} used here ({how})"
    )


def subscriber_line(samples: list[list[int]], window: Window) -> str:
    counts = [s[2] for s in samples if window.start_ns <= s[0] <= window.end_ns]
    return f"  hub subscribers during the window: min {min(counts)}, max {max(counts)}"


def run(args: argparse.Namespace, workdir: Path) -> None:
    feed = Feed(args.symbols, args.interval_ms, args.ticks)
    users = [f"bench{i}" for i in range(args.users)]
    cap = math.ceil(args.clients / args.users)
    print(feed.describe())
    print(
        f"clients: {args.clients} SSE connections to /api/v1/stream?topics={args.topics} "
        f"(raw asyncio, bearer tokens of {args.users} viewer user(s)), spread over "
        f"{args.client_procs} client processes"
    )
    print(cores_line(args.client_procs))
    prepare_workdir(workdir, feed, users)
    extra = ["--stream-cap", str(cap), "--stamp-streams", args.topics]
    server = ServedPlatform(SCRIPT, workdir, extra)
    try:
        server.start()
        tokens = [server.login(user) for user in users]
        time.sleep(args.warmup)
        session = Session(args, workdir, server, Timeline(server))
        session.timeline.measure("without clients (before)", args.baseline)
        window, results, outs = session.connected_window(tokens)
        time.sleep(1.0)  # the clients' connections close; not measured
        session.timeline.measure("without clients (after)", args.baseline)
        report = server.stop()
    finally:
        server.close()
    print(cap_line(report["stream_cap"]) + "\n")
    print(f"SSE fan-out, {args.clients} clients, {window.seconds:.1f} s connected:")
    print("\n".join(client_lines(results, window)))
    print(subscriber_line(report["samples"], window))
    print("\n".join(lag_lines(delivery_lags(workdir, outs, window, args.clients), window)))
    print("pipeline ticks per window:")
    label = f"{args.clients} clients connected"
    print("\n".join(pipeline_lines(report["samples"], session.timeline.windows, label, "ticks")))
    print(f"  hub: {report['hub']}")
    print_server_notes(report)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured connected")
    parser.add_argument("--clients", type=int, default=500, help="concurrent SSE connections")
    parser.add_argument("--client-procs", type=int, default=4, help="client processes")
    parser.add_argument(
        "--users",
        type=int,
        default=1,
        help="viewer users the clients log in as (round robin); the per-user stream cap is "
        "raised to ceil(clients / users) when that is above the default",
    )
    parser.add_argument("--topics", default="bars,fills", help="streams subscribed to")
    parser.add_argument(
        "--connect-concurrency", type=int, default=25, help="connects in flight per client process"
    )
    add_feed_options(parser, interval_ms=10.0)
    add_serve_options(parser)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if unknown := set(args.topics.split(",")) - set(STREAMS):
        parser.error(f"--topics: unknown {sorted(unknown)}; streams are {', '.join(STREAMS)}")
    return args


def main() -> None:
    bench_main(
        parse_args(),
        "SSE fan-out of bars and fills to many clients, pipeline running",
        client_main,
        run,
    )


if __name__ == "__main__":
    main()
