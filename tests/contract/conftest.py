"""The bus contract suite: every backend runs these tests unchanged.

A backend joins by adding a factory to ``BACKENDS``; backends that need a server read its URL
from the environment and skip when it is unreachable (fail when TICKMESH_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tickmesh.bus import Bus, MemoryBus

BusFactory = Callable[[], Awaitable[Bus]]


async def _memory() -> Bus:
    return MemoryBus(partitions=4, retention=1_000)


BACKENDS: dict[str, BusFactory] = {"memory": _memory}


@pytest.fixture(params=sorted(BACKENDS))
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    backend = await BACKENDS[request.param]()
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
def topic() -> str:
    return f"test.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def group() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"
