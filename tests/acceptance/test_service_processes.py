"""``tickmesh service NAME``: the pipeline one service per process ends as ``tickmesh run``.

Each test runs ``tickmesh run`` on database A, then the seven services as subprocesses over a
real broker on database B, and compares the stored fills, positions and account.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tickmesh.bus import SubscribeOptions, create_bus
from tickmesh.services.sequencer import LOG_TOPIC

from .conftest import Workdir, clean_env, query

pytestmark = pytest.mark.integration

TICKS = 4_000  # 7 fills, one position still open at the end
SERVICES = ("feed", "bars", "strategies", "risk", "execution", "portfolio", "recorder")
DEADLINE_S = 80.0


class Cluster:
    """The seven service processes of one run, each restartable with the same command."""

    def __init__(self, workdir: Workdir, config: Path, url: str, prefix: str) -> None:
        self.workdir, self.config, self.url, self.prefix = workdir, config, url, prefix
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.killed: list[str] = []

    def command(self, name: str) -> list[str]:
        return [
            sys.executable, "-m", "tickmesh.cli", "service", name, "--config", str(self.config),
            "--db", f"sqlite:///{self.workdir.db}", "--bus", self.url, "--bus-prefix", self.prefix,
            "--alive-file", str(self.alive(name)),
        ]  # fmt: skip

    def alive(self, name: str) -> Path:
        return self.workdir.path / f"{name}.alive"

    def start(self, name: str) -> None:
        log = (self.workdir.path / f"{name}.log").open("a")
        self.procs[name] = subprocess.Popen(
            self.command(name),
            cwd=self.workdir.path,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )

    def kill(self, name: str) -> bool:
        """SIGKILL ``name`` and start it again; False when it had already exited."""
        proc = self.procs[name]
        if proc.poll() is not None:
            return False
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        self.killed.append(name)
        self.start(name)
        return True

    def wait(self) -> dict[str, dict[str, Any]]:
        """Every process's JSON summary, once all exited (each must exit 0)."""
        deadline = time.monotonic() + DEADLINE_S
        summaries = {}
        for name, proc in self.procs.items():
            out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 1.0))
            errors = (self.workdir.path / f"{name}.log").read_text()[-2000:]
            assert proc.returncode == 0, f"{name} exited {proc.returncode}\n{errors}"
            summaries[name] = json.loads(out.strip().splitlines()[-1])
        return summaries

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


async def kill_at_log_lengths(cluster: Cluster, victims: list[str], at: list[int]) -> None:
    """Kill ``victims[i]`` once the log holds ``at[i]`` entries (then restart it)."""
    bus = create_bus(cluster.url, prefix=cluster.prefix)
    await bus.start()
    group = f"watch-{uuid.uuid4().hex[:8]}"
    sub = bus.subscribe([LOG_TOPIC], group, "watch", SubscribeOptions(start="earliest"))
    try:
        deadline = time.monotonic() + DEADLINE_S
        for victim, length in zip(victims, at, strict=True):
            while await bus.lag(group, LOG_TOPIC) < length:
                assert time.monotonic() < deadline, f"the log never reached {length} entries"
                await asyncio.sleep(0.01)
            assert cluster.kill(victim), f"{victim} had exited before its kill"
    finally:
        await sub.close()
        await bus.delete_group(group, [LOG_TOPIC])
        await bus.close()


async def _purge(url: str, prefix: str) -> None:
    bus = create_bus(url, prefix=prefix)
    await bus.start()
    try:
        await bus.purge()
    finally:
        await bus.close()


@pytest.fixture
def reference(tmp_path_factory: pytest.TempPathFactory) -> Workdir:
    """``tickmesh run --until-exhausted`` of the same config, on its own database."""
    alone = Workdir(tmp_path_factory.mktemp("reference"))
    summary = alone.run_json("--config", str(alone.config(ticks=TICKS)))
    assert summary["fills"] >= 5
    assert summary["open_positions"] >= 1
    return alone


def cluster_on(server: str, workdir: Workdir) -> Iterator[Cluster]:
    url = servers.require(server)
    prefix = f"svc-{uuid.uuid4().hex[:10]}"
    cluster = Cluster(workdir, workdir.config(ticks=TICKS), url, prefix)
    try:
        yield cluster
    finally:
        cluster.stop()
        asyncio.run(_purge(url, prefix))


@pytest.fixture
def redis_cluster(workdir: Workdir) -> Iterator[Cluster]:
    yield from cluster_on("redis", workdir)


@pytest.fixture
def nats_cluster(workdir: Workdir) -> Iterator[Cluster]:
    yield from cluster_on("nats", workdir)


def fills(db: Path) -> list[tuple[Any, ...]]:
    """Every column but the session id (it names the session by its wall-clock start)."""
    return query(
        db,
        "SELECT fill_id, event_id, namespace, order_id, strategy_id, symbol, side, quantity, "
        "price, fee, liquidity, ts_event, ts_init, source, correlation_id FROM fills "
        "ORDER BY ts_event, fill_id",
    )


def portfolio(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    positions = query(db, "SELECT * FROM positions ORDER BY strategy_id, symbol")
    return positions, query(db, "SELECT * FROM accounts")


def assert_same_record(got: Workdir, want: Workdir) -> None:
    assert fills(got.db) == fills(want.db)
    assert portfolio(got.db) == portfolio(want.db)
    assert query(got.db, "SELECT status FROM sessions") == [("completed",)]


def run_all(cluster: Cluster) -> dict[str, dict[str, Any]]:
    for name in SERVICES:
        cluster.start(name)
    return cluster.wait()


def test_services_over_redis_end_with_the_one_process_fills_and_portfolio(
    redis_cluster: Cluster, reference: Workdir
) -> None:
    summaries = run_all(redis_cluster)

    assert_same_record(redis_cluster.workdir, reference)
    assert summaries["feed"]["conflicts"] == 0
    assert all(summaries[n]["divergences"] == 0 for n in SERVICES[1:])
    assert all(redis_cluster.alive(n).exists() for n in SERVICES)  # healthcheck files touched
    print(f"redis: {summaries['feed']['entries_per_s']:.0f} log entries/s")


def test_services_over_nats_end_with_the_one_process_fills_and_portfolio(
    nats_cluster: Cluster, reference: Workdir
) -> None:
    summaries = run_all(nats_cluster)

    assert_same_record(nats_cluster.workdir, reference)
    assert summaries["feed"]["conflicts"] == 0
    print(f"nats: {summaries['feed']['entries_per_s']:.0f} log entries/s")


@pytest.fixture(params=["redis", "nats"])
def any_cluster(request: pytest.FixtureRequest, workdir: Workdir) -> Iterator[Cluster]:
    yield from cluster_on(request.param, workdir)


def test_services_killed_and_restarted_lose_and_duplicate_no_fill(
    any_cluster: Cluster, reference: Workdir
) -> None:
    cluster = any_cluster
    rng = random.Random(23)
    victims = ["feed", "recorder", *rng.sample(SERVICES[1:5], 3)]
    rng.shuffle(victims)
    at = sorted(rng.sample(range(200, TICKS * 9 // 10), len(victims)))
    for name in SERVICES:
        cluster.start(name)

    asyncio.run(kill_at_log_lengths(cluster, victims, at))
    summaries = cluster.wait()

    assert sorted(cluster.killed) == sorted(victims)
    assert summaries["feed"]["recovered"] > 0  # the last feed took over a log it had not written
    assert_same_record(cluster.workdir, reference)
    assert len({row[0] for row in fills(cluster.workdir.db)}) == len(fills(reference.db))
