"""The pipeline one service per process (``tickmesh service NAME``) over each bus, against the
same pipeline in one process (``tickmesh run``) in the same run.

Workload: synthetic ticks (3 symbols) into 1m bars, donchian_breakout on them, risk, paper
execution, portfolio and the recorder (SQLite). The multi-process run starts the six workers, then
the feed, and times from the feed's start until every process has exited (the session is
complete and stored); ``tickmesh run`` is timed the same way, start to exit. Both end with the
same stored fills, which the script checks. Kafka runs on the librdkafka mock cluster inside this
process (confluent-kafka), a real Kafka-protocol broker on loopback.

Run: ``.venv/bin/python bench/multiprocess.py [--ticks 4000] [--buses redis,nats,kafka]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from machine import describe_machine, parse_count

SERVICES = ("bars", "strategies", "risk", "execution", "portfolio", "recorder")
CONFIG = """
[[feed.sources]]
kind = "synthetic"
symbols = ["SYN1", "SYN2", "SYN3"]
seed = 11
ticks = {ticks}
interval_ms = 1000

[[strategies]]
name = "donchian_breakout"
symbols = ["SYN1", "SYN2", "SYN3"]
timeframe = "1m"
params = {{ entry = 10, exit = 5 }}
"""
URLS = {"redis": "redis://127.0.0.1:6379/15", "nats": "nats://127.0.0.1:4222"}


def tickmesh(*args: str) -> list[str]:
    return [sys.executable, "-m", "tickmesh.cli", *args]


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TICKMESH_")}


def fills(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        columns = "fill_id, order_id, symbol, side, quantity, price, fee"
        return list(conn.execute(f"SELECT {columns} FROM fills ORDER BY fill_id"))


def one_process(work: Path, config: Path) -> tuple[float, Path]:
    db = work / "one.db"
    started = time.perf_counter()
    cmd = tickmesh("run", "--until-exhausted", "--json", "--no-api", "--no-live")
    cmd += ["--config", str(config), "--db", f"sqlite:///{db}"]
    subprocess.run(cmd, check=True, cwd=work, env=env(), capture_output=True)
    return time.perf_counter() - started, db


def services(work: Path, config: Path, bus: str, url: str) -> tuple[float, Path, dict[str, Any]]:
    db = work / f"{bus}.db"
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    common = ["--config", str(config), "--db", f"sqlite:///{db}", "--bus", url]
    common += ["--bus-prefix", prefix]
    procs = {}
    try:
        for name in SERVICES:
            procs[name] = _start(tickmesh("service", name, *common), work, name)
        started = time.perf_counter()
        procs["feed"] = _start(tickmesh("service", "feed", *common), work, "feed")
        summaries = {}
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=600)
            if proc.returncode != 0:
                log = (work / f"{name}.log").read_text()[-1500:]
                raise SystemExit(f"{bus}: {name} exited {proc.returncode}\n{log}")
            summaries[name] = json.loads(out.strip().splitlines()[-1])
        seconds = time.perf_counter() - started
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        asyncio.run(_purge(url, prefix))
    return seconds, db, summaries["feed"]


def _start(cmd: list[str], work: Path, name: str) -> subprocess.Popen[str]:
    log = (work / f"{name}.log").open("w")
    return subprocess.Popen(cmd, cwd=work, env=env(), stdout=subprocess.PIPE, stderr=log,
                            text=True)  # fmt: skip


async def _purge(url: str, prefix: str) -> None:
    from tickmesh.bus import create_bus

    bus = create_bus(url, prefix=prefix)
    await bus.start()
    await bus.purge()
    await bus.close()


def kafka_url() -> tuple[str, Any]:
    from confluent_kafka import Producer

    producer = Producer({"test.mock.num.brokers": 1})
    brokers = producer.list_topics(timeout=5).brokers
    address = ",".join(f"{b.host}:{b.port}" for b in brokers.values())
    return f"kafka://{address}", producer  # keep the producer: it owns the mock cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=parse_count, default=4_000)
    parser.add_argument("--buses", default="redis,nats,kafka")
    args = parser.parse_args()
    print(describe_machine())
    print(f"ticks={args.ticks:,}  3 symbols, donchian_breakout(10, 5) on 1m bars, SQLite store")
    print("cores are shared by every process: the seven services, the broker and this script")
    keep: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="tickmesh-bench-") as tmp:
        work = Path(tmp)
        config = work / "tickmesh.toml"
        config.write_text(CONFIG.format(ticks=args.ticks))
        seconds, db = one_process(work, config)
        expected = fills(db)
        rate = args.ticks / seconds
        print(f"\none process (tickmesh run)     {seconds:7.2f} s  {rate:9,.0f} ticks/s  "
              f"fills {len(expected)}")  # fmt: skip
        for bus in args.buses.split(","):
            if bus == "kafka":
                url, producer = kafka_url()
                keep.append(producer)
            else:
                url = URLS[bus]
            took, bus_db, feed = services(work, config, bus, url)
            same = fills(bus_db) == expected
            print(
                f"{bus:<5} 7 processes (service *)  {took:7.2f} s  {args.ticks / took:9,.0f} "
                f"ticks/s  ratio {seconds / took:.3f} of one process  fills "
                f"{len(fills(bus_db))}, equal to one process: {same}  feed: {json.dumps(feed)}"
            )


if __name__ == "__main__":
    main()
