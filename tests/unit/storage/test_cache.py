"""The cache contract, run unchanged against the in-memory cache and a real Redis server.

Each Redis test works under a prefix of its own and deletes every key under it afterwards, so
runs sharing the server (database 15) never see each other.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import redis.asyncio

from tests import servers
from tickmesh.core.clock import SimulatedClock
from tickmesh.core.errors import ConfigError, DataError, DecodeError, RetryableError
from tickmesh.core.stamp import Stamper
from tickmesh.model import Heartbeat, PortfolioSnapshot, PositionSnapshot
from tickmesh.storage import Cache, CacheKeys, MemoryCache, RedisCache, open_cache
from tickmesh.storage.cache import escape_glob, glob_regex

NS = "paper"
BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
        return
    async with redis_prefix() as (url, prefix):
        backend = RedisCache(url, prefix=prefix)
        try:
            yield backend
        finally:
            await backend.close()


class redis_prefix:  # noqa: N801 - used like a function: ``async with redis_prefix() as ...``
    """A unique key prefix on the test Redis; every key under it is deleted on exit."""

    async def __aenter__(self) -> tuple[str, str]:
        self.url = servers.require("redis")
        self.prefix = f"tmtest:{uuid.uuid4().hex[:12]}:"
        return self.url, self.prefix

    async def __aexit__(self, *exc_info: object) -> None:
        client = redis.asyncio.Redis.from_url(self.url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{self.prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


def _portfolio(stamper: Stamper, cash: str) -> PortfolioSnapshot:
    position = PositionSnapshot(
        **stamper(1),
        strategy_id="sma-1",
        symbol="BTC-USD",
        quantity=Decimal("0.123456789012345678"),
        avg_price=Decimal("100.05"),
        last_price=Decimal("101"),
        realized_pnl=Decimal("-0.1"),
        unrealized_pnl=Decimal("0.95"),
    )
    return PortfolioSnapshot(
        **stamper(2),
        strategy_id="sma-1",
        cash=Decimal(cash),
        equity=Decimal("10000.00"),
        realized_pnl=Decimal("0"),
        unrealized_pnl=Decimal("0.95"),
        fees=Decimal("0.0000001"),
        gross_exposure=Decimal("12.3"),
        net_exposure=Decimal("12.3"),
        open_positions=1,
        positions=(position,),
    )


@pytest.fixture
def stamper() -> Stamper:
    return Stamper.deterministic("cache-test", NS)


# --- contract -------------------------------------------------------------------------------


async def test_set_then_get_returns_the_bytes(cache: Cache) -> None:
    await cache.set("market:snapshot:BTC-USD", b"\x00\x01payload")

    assert await cache.get("market:snapshot:BTC-USD") == b"\x00\x01payload"


async def test_get_of_missing_key_is_none(cache: Cache) -> None:
    assert await cache.get("market:snapshot:NOPE") is None


async def test_set_again_replaces_the_value(cache: Cache) -> None:
    await cache.set("k", b"one")
    await cache.set("k", b"two")

    assert await cache.get("k") == b"two"


async def test_event_round_trips_typed_with_exact_decimals(cache: Cache, stamper: Stamper) -> None:
    snapshot = _portfolio(stamper, "9899.950000000000000001")
    key = CacheKeys.portfolio(NS, "sma-1")

    await cache.set(key, snapshot)
    loaded = await cache.get_event(key, PortfolioSnapshot)

    assert loaded == snapshot
    assert loaded is not None
    assert str(loaded.cash) == "9899.950000000000000001"


async def test_get_event_of_other_type_raises_decode_error(cache: Cache, stamper: Stamper) -> None:
    await cache.set("k", _portfolio(stamper, "1"))

    with pytest.raises(DecodeError, match="PortfolioSnapshot, not a Heartbeat"):
        await cache.get_event("k", Heartbeat)


async def test_get_event_of_garbage_raises_decode_error(cache: Cache) -> None:
    await cache.set("k", b"\xc1 not msgpack")

    with pytest.raises(DecodeError):
        await cache.get_event("k", PortfolioSnapshot)


async def test_get_event_of_missing_key_is_none(cache: Cache) -> None:
    assert await cache.get_event("missing", PortfolioSnapshot) is None


async def test_delete_removes_and_counts_only_existing_keys(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.set("b", b"2")

    removed = await cache.delete("a", "b", "c", "a")

    assert removed == 2
    assert (await cache.get("a"), await cache.get("b")) == (None, None)
    assert await cache.delete() == 0


async def test_keys_by_pattern_lists_matches_sorted(cache: Cache) -> None:
    for key in [
        CacheKeys.portfolio(NS, "sma-2"),
        CacheKeys.portfolio(NS, "sma-1"),
        CacheKeys.portfolio("live", "sma-1"),
        CacheKeys.positions(NS, "BTC-USD"),
        CacheKeys.snapshot("NSE:INFY"),
    ]:
        await cache.set(key, b"x")

    assert await cache.keys(CacheKeys.portfolio_pattern(NS)) == [
        "paper:portfolio:sma-1",
        "paper:portfolio:sma-2",
    ]
    assert await cache.keys(CacheKeys.snapshot_pattern()) == ["market:snapshot:NSE:INFY"]
    assert len(await cache.keys()) == 5


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("k?", ["k*", "k1", "k2", "ka"]),
        ("k[12]", ["k1", "k2"]),
        ("k[0-1]", ["k1"]),
        ("k[^1]", ["k*", "k2", "ka"]),
        ("k\\*", ["k*"]),
        ("k[\\*]", ["k*"]),
        ("*a*", ["ka"]),
        ("k[]", []),
        ("nothing*", []),
    ],
)
async def test_keys_glob_features_match_redis(
    cache: Cache, pattern: str, expected: list[str]
) -> None:
    for key in ["k1", "k2", "ka", "k*", "k12"]:
        await cache.set(key, b"x")

    assert await cache.keys(pattern) == expected


async def test_value_with_ttl_expires(cache: Cache) -> None:
    key = CacheKeys.heartbeat("feed")
    await cache.set(key, b"1700000000", ttl=0.15)
    alive = await cache.get(key)

    await asyncio.sleep(0.4)

    assert alive == b"1700000000"
    assert await cache.get(key) is None
    assert await cache.keys(CacheKeys.heartbeat_pattern()) == []


async def test_set_without_ttl_clears_an_earlier_ttl(cache: Cache) -> None:
    await cache.set("k", b"short", ttl=0.15)
    await cache.set("k", b"forever")

    await asyncio.sleep(0.4)

    assert await cache.get("k") == b"forever"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.set("", b"x"), ValueError),
        (lambda c: c.set("k", "text"), TypeError),
        (lambda c: c.set("k", b"x", ttl=0), ValueError),
        (lambda c: c.set("k", b"x", ttl=-1.0), ValueError),
        (lambda c: c.set("k", b"x", ttl=float("inf")), ValueError),
        (lambda c: c.get(""), ValueError),
        (lambda c: c.keys("k[12"), ValueError),
        (lambda c: c.keys(""), ValueError),
    ],
    ids=[
        "empty-key",
        "str-value",
        "zero-ttl",
        "negative-ttl",
        "inf-ttl",
        "get-empty",
        "open-[",
        "empty-pattern",
    ],
)
async def test_bad_arguments_raise_the_same_error_on_every_backend(
    cache: Cache, call: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await call(cache)  # type: ignore[operator]


# --- memory only ----------------------------------------------------------------------------


async def test_memory_ttl_follows_the_injected_clock() -> None:
    clock = SimulatedClock(start_ns=1_000_000_000)
    cache = MemoryCache(clock)
    await cache.set("svc:hb:feed", b"1", ttl=5)

    clock.advance_to(clock.now_ns() + 4_999_000_000)
    before = await cache.get("svc:hb:feed")
    clock.advance_to(clock.now_ns() + 1_000_000)
    after = await cache.get("svc:hb:feed")

    assert (before, after) == (b"1", None)


async def test_memory_caches_are_independent() -> None:
    first, second = MemoryCache(), MemoryCache()

    await first.set("k", b"1")

    assert await second.get("k") is None


# --- redis only -----------------------------------------------------------------------------


@pytest.mark.integration
async def test_redis_stores_under_prefix_with_seed_key_names(stamper: Stamper) -> None:
    async with redis_prefix() as (url, prefix):
        cache = RedisCache(url, prefix=prefix)
        await cache.set(CacheKeys.positions(NS, "BTC-USD"), b"p")
        raw = redis.asyncio.Redis.from_url(url)
        try:
            stored = await raw.get(f"{prefix}paper:positions:BTC-USD")
        finally:
            await raw.aclose()
            await cache.close()

    assert stored == b"p"


@pytest.mark.integration
async def test_redis_prefixes_keep_deployments_apart() -> None:
    async with redis_prefix() as (url, first_prefix), redis_prefix() as (_, second_prefix):
        first, second = RedisCache(url, first_prefix), RedisCache(url, second_prefix)
        try:
            await first.set("svc:hb:feed", b"1")
            seen_by_second = (await second.get("svc:hb:feed"), await second.keys())
            seen_by_first = await first.keys()
        finally:
            await first.close()
            await second.close()

    assert seen_by_second == (None, [])
    assert seen_by_first == ["svc:hb:feed"]


@pytest.mark.integration
async def test_redis_prefix_with_glob_characters_is_matched_literally() -> None:
    async with redis_prefix() as (url, prefix):
        star = RedisCache(url, prefix=f"{prefix}[*]")
        other = RedisCache(url, prefix=f"{prefix}x")
        try:
            await other.set("k", b"other")
            await star.set("k", b"star")
            listed = await star.keys()
        finally:
            await star.close()
            await other.close()

    assert listed == ["k"]


@pytest.mark.integration
async def test_redis_ttl_is_set_on_the_server() -> None:
    async with redis_prefix() as (url, prefix):
        cache = RedisCache(url, prefix=prefix)
        await cache.set("svc:hb:feed", b"1", ttl=30)
        raw = redis.asyncio.Redis.from_url(url)
        try:
            ttl_ms = await raw.pttl(f"{prefix}svc:hb:feed")
        finally:
            await raw.aclose()
            await cache.close()

    assert 29_000 < ttl_ms <= 30_000


@pytest.mark.integration
async def test_redis_key_of_another_type_raises_data_error() -> None:
    async with redis_prefix() as (url, prefix):
        raw = redis.asyncio.Redis.from_url(url)
        await raw.hset(f"{prefix}market:snapshot:BTC-USD", mapping={"bid": "1"})
        cache = RedisCache(url, prefix=prefix)
        try:
            with pytest.raises(DataError, match="WRONGTYPE"):
                await cache.get(CacheKeys.snapshot("BTC-USD"))
        finally:
            await raw.aclose()
            await cache.close()


async def test_redis_unreachable_raises_retryable_error() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0")  # nothing listens on port 1

    with pytest.raises(RetryableError, match="unavailable"):
        await cache.get("k")
    await cache.close()


def test_redis_cache_without_redis_installed_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what an absent package looks like

    with pytest.raises(ConfigError, match=r"pip install 'tickmesh\[redis\]'"):
        RedisCache("redis://127.0.0.1:6379/15")


# --- keys and urls ----------------------------------------------------------------------------


def test_cache_keys_follow_the_seed_names() -> None:
    assert CacheKeys.snapshot("BTC-USD") == "market:snapshot:BTC-USD"
    assert CacheKeys.portfolio("paper", "sma-1") == "paper:portfolio:sma-1"
    assert CacheKeys.positions("live", "NSE:INFY") == "live:positions:NSE:INFY"
    assert CacheKeys.heartbeat("risk") == "svc:hb:risk"


@pytest.mark.parametrize(
    "make",
    [
        lambda: CacheKeys.portfolio("Paper", "sma-1"),
        lambda: CacheKeys.portfolio("pa:per", "sma-1"),
        lambda: CacheKeys.positions("paper", ""),
        lambda: CacheKeys.snapshot("BTC*"),
        lambda: CacheKeys.heartbeat("feed\n"),
        lambda: CacheKeys.heartbeat(" feed"),
    ],
)
def test_cache_keys_refuse_ambiguous_parts(make: object) -> None:
    with pytest.raises(ValueError, match=r"namespace|cache key part"):
        make()  # type: ignore[operator]


def test_last_part_recovers_what_the_wildcard_stood_for() -> None:
    key = CacheKeys.positions("paper", "NSE:INFY")

    assert CacheKeys.last_part(key, CacheKeys.positions_pattern("paper")) == "NSE:INFY"
    with pytest.raises(ValueError, match="does not come from"):
        CacheKeys.last_part(key, CacheKeys.heartbeat_pattern())


def test_escape_glob_matches_only_the_text_itself() -> None:
    text = "a*b?[c]\\d"

    matcher = glob_regex(escape_glob(text))

    assert matcher.fullmatch(text)
    assert not matcher.fullmatch("aXb?[c]\\d")


def test_open_cache_picks_backend_by_url() -> None:
    assert isinstance(open_cache(), MemoryCache)
    assert isinstance(open_cache("redis://127.0.0.1:6379/15", prefix="x:"), RedisCache)
    with pytest.raises(ConfigError, match="unknown scheme 'nats'"):
        open_cache("nats://127.0.0.1:4222")
