"""The bus contract suite: every backend runs these tests unchanged.

A backend joins by adding a factory to ``BACKENDS``. Backends that need a server read its URL
from the environment (see ``tests/servers.py``) and skip when it is unreachable (fail when
TICKMESH_REQUIRE_SERVICES=1). Each test gets its own bus prefix, purged afterwards, so runs never
see each other's streams on a shared server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests import servers
from tickmesh.bus import Bus, MemoryBus, create_bus

BusFactory = Callable[[], Awaitable[Bus]]


async def _memory() -> Bus:
    return MemoryBus(partitions=4, retention=1_000)


def _server(name: str) -> BusFactory:
    async def make() -> Bus:
        url = servers.require(name)
        return create_bus(url, prefix=f"ct-{uuid.uuid4().hex[:10]}")

    return make


BACKENDS: dict[str, BusFactory] = {
    "memory": _memory,
    "redis": _server("redis"),
    "nats": _server("nats"),
    "kafka": _server("kafka"),
}


@pytest.fixture(params=sorted(BACKENDS))
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    backend = await BACKENDS[request.param]()
    await backend.start()
    try:
        yield backend
    finally:
        try:
            await backend.purge()
        finally:
            await backend.close()


@pytest.fixture
def topic() -> str:
    return f"test.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def group() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"
