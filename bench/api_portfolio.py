"""Requests/s and latency of ``GET /api/v1/portfolio`` at 50 concurrent clients while the pipeline
runs, and what that load costs the pipeline (its events/s with and without the clients).

The server is a child process running the platform with its API the way ``tickmesh run`` builds
them (``Platform.open`` + the CLI's own ``_start_api`` on one event loop, SQLite store), replaying
synthetic ticks as fast as it can for the whole run. The clients (``httpx.AsyncClient``, one
keep-alive pool of ``--clients`` connections) run in other processes, so their work does not
share the server's event loop. Timeline: warm-up, ``--baseline`` s without clients, ``--duration``
s under load, ``--baseline`` s without clients again; the pipeline's events/s is read from the
server's own progress counter, sampled every 50 ms by a task on the server's loop; how late
that task wakes up is printed as the loop lag (how long the replay holds the loop between
yields, which is what every request waits on).

The served-platform harness here (``ServedPlatform``, ``ClientProcess``, the ``--serve`` role) is
also used by ``sse_fanout.py``.

Run: ``.venv/bin/python bench/api_portfolio.py [--duration 20] [--clients 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import psutil
from machine import describe_machine

SCRIPT = Path(__file__).resolve()
CONFIG_NAME = "tickmesh.toml"
REPORT_NAME = "server.json"
STAMPS_NAME = "publish-stamps.npz"
PASSWORD = "bench-password-123"
SAMPLE_EVERY_S = 0.05

CONFIG = """\
data_dir = "{data_dir}"
db_url = "sqlite:///{db}"

[[feed.sources]]
kind = "synthetic"
symbols = {symbols}
seed = 7
ticks = {ticks}
interval_ms = {interval_ms}

[[strategies]]
name = "donchian_breakout"
symbols = {symbols}
timeframe = "1m"
"""


# --- the workload ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """What the served platform replays: synthetic ticks at speed 0, donchian on 1m bars."""

    symbols: int
    interval_ms: float
    ticks: int

    @property
    def names(self) -> list[str]:
        return [f"SYN{i + 1}" for i in range(self.symbols)]

    def describe(self) -> str:
        per_bar = 60_000 / (self.interval_ms * self.symbols)
        return (
            f"feed: synthetic ticks, {self.symbols} symbols taking turns, one tick every "
            f"{self.interval_ms:g} ms of market time (~{per_bar:,.0f} ticks per 1m bar per "
            f"symbol), replayed at speed 0 (as fast as possible; {self.ticks:,} ticks available);"
            " donchian_breakout on 1m bars; SQLite store"
        )


def add_feed_options(parser: argparse.ArgumentParser, interval_ms: float) -> None:
    parser.add_argument("--symbols", type=int, default=3)
    parser.add_argument(
        "--interval-ms",
        type=float,
        default=interval_ms,
        help="market time between two ticks of the stream (sets the bar rate)",
    )
    parser.add_argument(
        "--ticks", type=int, default=200_000_000, help="feed length (must outlast the run)"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument(
        "--baseline",
        type=float,
        default=10.0,
        help="seconds measured without clients, before and again after the load",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")


def prepare_workdir(workdir: Path, feed: Feed, users: Iterable[str]) -> Path:
    """Config, migrated SQLite store and viewer ``users`` (password :data:`PASSWORD`)."""
    db = workdir / "state.db"
    config = workdir / CONFIG_NAME
    config.write_text(
        CONFIG.format(
            data_dir=workdir / "data",
            db=db,
            symbols=json.dumps(feed.names),
            ticks=feed.ticks,
            interval_ms=feed.interval_ms,
        )
    )
    asyncio.run(_add_users(f"sqlite:///{db}", list(users)))
    return config


async def _add_users(url: str, names: list[str]) -> None:
    """As ``tickmesh admin user add`` does; one hash serves every user (same password)."""
    from tickmesh.api.auth import Passwords
    from tickmesh.api.config import ApiSettings
    from tickmesh.core.clock import LiveClock
    from tickmesh.storage import Database
    from tickmesh.storage.users import Role, UserStore

    hashed = Passwords.from_settings(ApiSettings()).hash(PASSWORD)
    async with Database(url) as database:
        await database.migrate()
        async with database.transaction() as repo:
            for name in names:
                await UserStore(repo.conn).add_user(name, Role.VIEWER, hashed, LiveClock().now_ns())


# --- the server child: the platform and its API, as ``tickmesh run`` builds them --------------


class PublishStamps:
    """The monotonic time at which the hub was handed each item of ``streams``.

    The hub keeps no publish time (items carry the event, whose ``ts_init`` is replay time on the
    platform's simulated clock), so this wraps ``publish`` on the hub instance."""

    def __init__(self, hub: Any, streams: frozenset[str]) -> None:
        from tickmesh.services.hub import STREAMS

        self.ids = array("q")
        self.times = array("q")
        self.streams = array("b")  # index in STREAMS
        codes = {name: STREAMS.index(name) for name in streams}
        original = hub.publish

        def publish(stream: str, event: Any) -> Any:
            now = time.monotonic_ns()
            item = original(stream, event)
            if stream in codes:
                self.ids.append(item.id)
                self.times.append(now)
                self.streams.append(codes[stream])
            return item

        hub.publish = publish

    def save(self, path: Path) -> None:
        np.savez(
            path, ids=np.array(self.ids), times=np.array(self.times), streams=np.array(self.streams)
        )


def raise_stream_cap(hub: Any, cap: int) -> dict[str, int]:
    """Raise the hub's per-user open-stream cap (``HubLimits.max_per_user``, from the setting
    ``api.stream_max_per_user``) on the running hub, for this bench's many clients."""
    before = hub.limits.max_per_user
    if cap > before:
        hub.limits = replace(hub.limits, max_per_user=cap)
    return {"default": before, "used": hub.limits.max_per_user}


async def _sample(platform: Any, into: list[tuple[int, int, int, int]]) -> None:
    """(time, events replayed, stream subscribers, how late this wake-up came): the lateness
    is the event loop's lag, i.e. how long other work (the replay) held the loop."""
    period_ns = int(SAMPLE_EVERY_S * 1e9)
    due = time.monotonic_ns()
    while True:
        now = time.monotonic_ns()
        into.append((now, platform.progress.events, platform.hub.subscribers, now - due))
        due = now + period_ns
        await asyncio.sleep(SAMPLE_EVERY_S)


async def _drive(platform: Any, port: int) -> dict[str, Any]:
    """Replay until the parent writes a line (or closes stdin); returns the figures."""
    samples: list[tuple[int, int, int, int]] = []
    run = asyncio.create_task(platform.run(until_exhausted=False))
    sampler = asyncio.create_task(_sample(platform, samples))
    print(f"READY {port}", flush=True)
    stop = asyncio.create_task(asyncio.to_thread(sys.stdin.readline))
    await asyncio.wait({run, stop}, return_when=asyncio.FIRST_COMPLETED)
    platform.request_stop()
    summary = await run
    sampler.cancel()
    return {
        "samples": samples,
        "exhausted": platform.progress.exhausted,
        "events": summary["events"],
        "fills": summary["fills"],
        "hub": platform.hub.status(),
    }


async def serve(workdir: Path, stream_cap: int, stamp_streams: frozenset[str]) -> None:
    import logging

    from tickmesh.cli import _start_api
    from tickmesh.config import load_settings
    from tickmesh.services.logs import configure_logging
    from tickmesh.services.platform import Platform

    settings = load_settings(workdir / CONFIG_NAME)
    configure_logging(settings.log_level, "text")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    platform = await Platform.open(settings)
    server = None
    try:
        server = await _start_api(platform, settings, ("127.0.0.1", 0))
        cap = raise_stream_cap(platform.hub, stream_cap)
        stamps = PublishStamps(platform.hub, stamp_streams) if stamp_streams else None
        report = {**await _drive(platform, server.port), "stream_cap": cap}
    finally:
        if server is not None:
            platform.hub.close("the server is stopping")
            await server.stop()
        await platform.close()
    (workdir / REPORT_NAME).write_text(json.dumps(report))
    if stamps is not None:
        stamps.save(workdir / STAMPS_NAME)
    print("DONE", flush=True)


def serve_main(args: argparse.Namespace) -> None:
    streams = frozenset(s for s in args.stamp_streams.split(",") if s)
    asyncio.run(serve(Path(args.serve), args.stream_cap, streams))


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--serve", metavar="WORKDIR", help=argparse.SUPPRESS)
    parser.add_argument("--stream-cap", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stamp-streams", default="", help=argparse.SUPPRESS)


# --- the parent's handles on its children ------------------------------------------------------


def _read_line(proc: subprocess.Popen[str], what: str, log: Path | None = None) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{what} ended early (exit {proc.wait()})\n{tail}")
    return line.strip()


def _send(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


class ServedPlatform:
    """The server child (``--serve``): started by ``start``, stopped by ``stop`` (which returns
    its report); CPU time read with ``cpu_seconds`` while it runs."""

    def __init__(self, script: Path, workdir: Path, extra: list[str]) -> None:
        self.workdir = workdir
        self.log = workdir / "server.log"
        self._command = [sys.executable, str(script), "--serve", str(workdir), *extra]
        self._log_file: IO[str] | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log_file, text=True,
        )  # fmt: skip
        line = _read_line(self.proc, "the server", self.log)
        self.url = f"http://127.0.0.1:{line.split()[1]}"
        return self.url

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def login(self, username: str) -> str:
        import httpx

        body = {"username": username, "password": PASSWORD}
        answer = httpx.post(f"{self.url}/api/v1/token/login", json=body, timeout=60)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def stop(self) -> dict[str, Any]:
        assert self.proc is not None
        _send(self.proc, "STOP")
        _read_line(self.proc, "the server", self.log)
        self.proc.wait(timeout=60)
        report: dict[str, Any] = json.loads((self.workdir / REPORT_NAME).read_text())
        report["log_problems"] = [
            line
            for line in self.log.read_text().splitlines()
            if any(f" {level} " in line for level in ("WARNING", "ERROR", "CRITICAL"))
        ]
        return report

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._log_file is not None:
            self._log_file.close()


class ClientProcess:
    """One client child (``--client``): takes its JSON config on stdin, says READY, then obeys
    one more line (GO / STOP) and answers with a JSON result line."""

    def __init__(self, script: Path, config: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), "--client"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        _send(self.proc, json.dumps(config))

    def wait_ready(self) -> None:
        line = _read_line(self.proc, "a client process")
        if line != "READY":
            raise RuntimeError(f"a client process said {line!r}")

    def tell(self, line: str) -> None:
        _send(self.proc, line)

    def result(self) -> dict[str, Any]:
        line = _read_line(self.proc, "a client process")
        self.proc.wait(timeout=60)
        result: dict[str, Any] = json.loads(line)
        return result


# --- what the samples say -----------------------------------------------------------------------


@dataclass
class Window:
    label: str
    start_ns: int
    end_ns: int
    server_cpu_s: float = 0.0

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


def events_per_s(samples: list[list[int]], window: Window) -> float:
    """The pipeline's rate over ``window``, from the server's (time, events) samples."""
    ts = np.array([s[0] for s in samples], dtype=np.float64)
    events = np.array([s[1] for s in samples], dtype=np.float64)
    done = np.interp([window.start_ns, window.end_ns], ts, events)
    return float(done[1] - done[0]) / window.seconds


def loop_lag_ms(samples: list[list[int]], window: Window) -> str:
    """p50/p99 of how late the server's sampler woke up inside ``window``."""
    lags = [s[3] / 1e6 for s in samples if window.start_ns <= s[0] <= window.end_ns]
    if not lags:
        return "-"
    return f"{np.percentile(lags, 50):.1f}/{np.percentile(lags, 99):.1f} ms"


class Timeline:
    """Windows marked in the parent, with the server's CPU time spent in each."""

    def __init__(self, server: ServedPlatform) -> None:
        self.server = server
        self.windows: list[Window] = []

    def measure(self, label: str, seconds: float) -> Window:
        """Sleep through a window of ``seconds`` (nothing else happening in this process)."""
        window = self.begin(label)
        time.sleep(seconds)
        return self.end(window)

    def begin(self, label: str) -> Window:
        window = Window(label, time.monotonic_ns(), 0, -self.server.cpu_seconds())
        self.windows.append(window)
        return window

    def end(self, window: Window) -> Window:
        window.end_ns = time.monotonic_ns()
        window.server_cpu_s += self.server.cpu_seconds()
        return window


def pipeline_lines(
    samples: list[list[int]], windows: list[Window], loaded: str, unit: str
) -> list[str]:
    """Events/s and server CPU per window, and the ratio loaded / mean of the unloaded ones."""
    rates = {w.label: events_per_s(samples, w) for w in windows}
    lines = [
        f"  {w.label:<24} {w.seconds:6.1f} s  {rates[w.label]:>10,.0f} {unit}/s   "
        f"server CPU {100 * w.server_cpu_s / w.seconds:4.0f} % of one core   "
        f"loop lag p50/p99 {loop_lag_ms(samples, w)}"
        for w in windows
    ]
    quiet = [rates[w.label] for w in windows if w.label != loaded]
    ratio = rates[loaded] / statistics.mean(quiet)
    spread = (max(quiet) - min(quiet)) / statistics.mean(quiet)
    lines.append(
        f"  ratio under load / without: {ratio:.2f}  (the two unloaded windows differ by "
        f"{100 * spread:.0f} %: that much is noise)"
    )
    return lines


def percentile_ms(values: Any, q: float) -> float:
    return float(np.percentile(values, q)) * 1e3 if len(values) else math.nan


def cores_line(client_procs: int) -> str:
    cores = os.cpu_count()
    return (
        f"cores: {cores} (os.cpu_count()). The server process (pipeline + API on one event loop) "
        f"and {client_procs} client process(es) share them, with other work running on this "
        "machine: figures are noisy (compare windows of the same run)."
    )


# --- the portfolio clients (child side) ---------------------------------------------------------


@dataclass
class Tally:
    latencies: array[float]
    errors: Counter[str]
    finished_ns: int = 0


async def _get_loop(client: Any, end_ns: int, tally: Tally) -> None:
    import httpx

    while time.monotonic_ns() < end_ns:
        started = time.perf_counter()
        try:
            answer = await client.get("/api/v1/portfolio")
        except httpx.HTTPError as exc:
            tally.errors[type(exc).__name__] += 1
            continue
        if answer.status_code == 200:
            tally.latencies.append(time.perf_counter() - started)
        else:
            tally.errors[f"HTTP {answer.status_code}"] += 1
    tally.finished_ns = max(tally.finished_ns, time.monotonic_ns())


async def portfolio_clients(config: dict[str, Any]) -> dict[str, Any]:
    import httpx

    n = config["clients"]
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    headers = {"Authorization": f"Bearer {config['token']}"}
    async with httpx.AsyncClient(
        base_url=config["url"], headers=headers, limits=limits, timeout=30
    ) as client:
        warm = await asyncio.gather(*(client.get("/api/v1/portfolio") for _ in range(n)))
        if bad := [a.status_code for a in warm if a.status_code != 200]:
            raise RuntimeError(f"warm-up requests answered {bad[:5]}")
        print("READY", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        start_ns, cpu0 = time.monotonic_ns(), time.process_time()
        tally = Tally(array("d"), Counter())
        end_ns = start_ns + int(config["seconds"] * 1e9)
        await asyncio.gather(*(_get_loop(client, end_ns, tally) for _ in range(n)))
    return {
        "start_ns": start_ns,
        "end_ns": tally.finished_ns,
        "cpu_s": time.process_time() - cpu0,
        "latencies": list(tally.latencies),
        "errors": dict(tally.errors),
    }


def client_main() -> None:
    config = json.loads(sys.stdin.readline())
    result = asyncio.run(portfolio_clients(config))
    print(json.dumps(result), flush=True)


# --- the parent -------------------------------------------------------------------------------


def spread(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def load_window(
    args: argparse.Namespace, server: ServedPlatform, token: str, timeline: Timeline
) -> list[dict[str, Any]]:
    config = {"url": server.url, "token": token, "seconds": args.duration}
    procs = [
        ClientProcess(SCRIPT, {**config, "clients": n})
        for n in spread(args.clients, args.client_procs)
    ]
    for proc in procs:
        proc.wait_ready()
    window = timeline.begin("under load")
    for proc in procs:
        proc.tell("GO")
    results = [proc.result() for proc in procs]
    timeline.end(window)
    return results


def report_requests(results: list[dict[str, Any]]) -> list[str]:
    latencies = np.concatenate([np.array(r["latencies"]) for r in results])
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r["errors"])
    seconds = (max(r["end_ns"] for r in results) - min(r["start_ns"] for r in results)) / 1e9
    cpu = sum(r["cpu_s"] for r in results)
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none"
    return [
        f"  requests: {len(latencies):,} answered 200 in {seconds:.1f} s = "
        f"{len(latencies) / seconds:,.0f} requests/s",
        f"  latency: p50 {percentile_ms(latencies, 50):.1f} ms, p99 "
        f"{percentile_ms(latencies, 99):.1f} ms, max {percentile_ms(latencies, 100):.1f} ms",
        f"  errors: {sum(errors.values())} ({shown})",
        f"  client process(es) CPU: {100 * cpu / seconds:.0f} % of one core in total",
    ]


def run(args: argparse.Namespace, workdir: Path) -> None:
    feed = Feed(args.symbols, args.interval_ms, args.ticks)
    print(feed.describe())
    print(
        f"clients: {args.clients} concurrent, httpx.AsyncClient (one keep-alive pool of "
        f"{args.clients} connections, bearer token), in {args.client_procs} separate process(es)"
    )
    print(cores_line(args.client_procs) + "\n")
    prepare_workdir(workdir, feed, ["bench"])
    server = ServedPlatform(SCRIPT, workdir, [])
    try:
        server.start()
        token = server.login("bench")
        time.sleep(args.warmup)
        timeline = Timeline(server)
        timeline.measure("without clients (before)", args.baseline)
        results = load_window(args, server, token, timeline)
        timeline.measure("without clients (after)", args.baseline)
        report = server.stop()
    finally:
        server.close()
    print(f"GET /api/v1/portfolio, {args.clients} concurrent clients, {args.duration:g} s:")
    print("\n".join(report_requests(results)))
    print("pipeline (feed events = ticks) per window:")
    print("\n".join(pipeline_lines(report["samples"], timeline.windows, "under load", "events")))
    print_server_notes(report)
    if args.api_alone:
        api_alone(args, workdir / "api-alone")


def api_alone(args: argparse.Namespace, workdir: Path) -> None:
    """The same load on a server whose replay is over (the pipeline idles, flushing once a
    second): what the API does with the event loop to itself."""
    workdir.mkdir()
    prepare_workdir(workdir, Feed(args.symbols, args.interval_ms, 20_000), ["bench"])
    server = ServedPlatform(SCRIPT, workdir, [])
    try:
        server.start()
        token = server.login("bench")
        time.sleep(args.warmup)
        timeline = Timeline(server)
        results = load_window(args, server, token, timeline)
        report = server.stop()
    finally:
        server.close()
    window = timeline.windows[0]
    cpu = 100 * window.server_cpu_s / window.seconds
    print("\nfor comparison, the same load once the replay is over (20,000 ticks, pipeline idle):")
    print("\n".join(report_requests(results)))
    print(f"  server CPU {cpu:.0f} % of one core; loop lag p50/p99 "
          f"{loop_lag_ms(report['samples'], window)}")  # fmt: skip


def print_server_notes(report: dict[str, Any]) -> None:
    print(f"server: {report['events']:,} events replayed, {report['fills']:,} fills")
    if report["exhausted"]:
        print("WARNING: the feed ran out before the end; pass a larger --ticks")
    problems = report["log_problems"]
    print(f"server log: {len(problems)} warning/error lines")
    for line in problems[:5]:
        print(f"  {line[:200]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--duration", type=float, default=20.0, help="seconds under load")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--client-procs", type=int, default=1, help="processes the clients are spread over"
    )
    parser.add_argument(
        "--api-alone",
        action="store_true",
        help="then run the same load against a server whose replay is over (pipeline idle)",
    )
    add_feed_options(parser, interval_ms=1000.0)
    add_serve_options(parser)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def bench_main(
    args: argparse.Namespace,
    title: str,
    client: Callable[[], None],
    measure: Callable[[argparse.Namespace, Path], None],
) -> None:
    """One entry point for the three roles of a bench script: the served platform (``--serve``),
    a client process (``--client``), or the bench itself, in a work directory removed after."""
    if args.serve:
        serve_main(args)
        return
    if args.client:
        client()
        return
    started = time.perf_counter()
    print(f"tickmesh bench: {title}")
    print(describe_machine())
    workdir = Path(tempfile.mkdtemp(prefix="tickmesh-bench-"))
    try:
        measure(args, workdir)
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ntotal wall time {time.perf_counter() - started:.1f} s")


def main() -> None:
    bench_main(
        parse_args(),
        "GET /api/v1/portfolio under concurrent clients, pipeline running",
        client_main,
        run,
    )


if __name__ == "__main__":
    main()
