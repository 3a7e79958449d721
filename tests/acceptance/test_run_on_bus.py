"""``tickmesh run --bus``: the one-process platform publishing everything on a real broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests import servers
from tickmesh.bus import SubscribeOptions, create_bus
from tickmesh.model import OrderFilled

from .conftest import Workdir

pytestmark = pytest.mark.integration


async def fills_on(url: str, prefix: str) -> list[OrderFilled]:
    bus = create_bus(url, prefix=prefix)
    await bus.start()
    sub = bus.subscribe(["paper.orders.events"], "check", "c", SubscribeOptions(start="earliest"))
    seen = []
    try:
        while batch := await sub.fetch(512, timeout=1.0):
            seen += [d.event for d in batch if isinstance(d.event, OrderFilled)]
            for d in batch:
                await d.ack()
    finally:
        await sub.close()
        await bus.purge()
        await bus.close()
    return seen


def test_run_over_redis_equals_the_memory_run_and_publishes_every_fill(
    workdir: Workdir, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = servers.require("redis")
    prefix = f"acc-{uuid.uuid4().hex[:8]}"
    cfg = workdir.config(ticks=6_000)
    reference = Workdir(tmp_path_factory.mktemp("reference"))

    on_bus = workdir.run_json("--config", str(cfg), "--bus", url, "--bus-prefix", prefix)
    alone = reference.run_json("--config", str(reference.config(ticks=6_000)))
    published = asyncio.run(fills_on(url, prefix))

    assert on_bus["equity"] == alone["equity"]
    assert on_bus["fills"] == alone["fills"] > 0
    assert sorted(f.fill.fill_id for f in published) == sorted(r[0] for r in workdir.fills())
    assert on_bus["forwarded_to_bus"] > on_bus["fills"]


def test_unreachable_bus_exits_2_naming_it(workdir: Workdir) -> None:
    proc = workdir.run(
        "run", "--until-exhausted", "--bus", "redis://127.0.0.1:1/0", "--config",
        str(workdir.config(ticks=100)), check=False,
    )  # fmt: skip

    assert proc.returncode == 2
    assert "redis://127.0.0.1:1/0 is unreachable" in " ".join(proc.stderr.split())


async def cache_contents(url: str, prefix: str) -> dict[str, bytes | None]:
    from tickmesh.storage import open_cache

    cache = open_cache(url, prefix)
    try:
        keys = await cache.keys()
        values = {key: await cache.get(key) for key in keys}
        await cache.delete(*keys)
    finally:
        await cache.close()
    return values


def test_run_keeps_the_latest_state_in_the_redis_cache_under_the_seed_keys(
    workdir: Workdir,
) -> None:
    url = servers.require("redis")
    prefix = f"acc-{uuid.uuid4().hex[:8]}"
    small = workdir.config(ticks=3_000).read_text()
    cfg = workdir.path / "cached.toml"
    cfg.write_text(f'cache_url = "{url}"\nbus_prefix = "{prefix}"\n{small}')

    summary = workdir.run_json("--config", str(cfg))
    stored = asyncio.run(cache_contents(url, prefix))

    assert {"market:snapshot:SYN1", "market:snapshot:SYN2", "paper:portfolio:all"} <= set(stored)
    assert {"svc:hb:bars", "svc:hb:risk", "svc:hb:execution"} <= set(stored)
    assert summary["fills"] > 0
