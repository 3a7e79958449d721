"""Snapshot cache: the latest value under a key, written by one service and read by others.

:class:`MemoryCache` (in-process, the default) is the reference; :class:`RedisCache` keeps the
same contract on a Redis server that several processes share (``pip install 'tickmesh[redis]'``).
Values are bytes; an event is stored msgpack-encoded with the bus codec and read back, typed, with
:meth:`Cache.get_event`. Key names follow seed 003 and are built by :class:`CacheKeys`, never by
hand, so every service agrees on them. A value may carry a time to live (heartbeats do: a service
that stops beating drops out of ``keys(CacheKeys.heartbeat_pattern())`` by itself).

``keys(pattern)`` takes Redis glob patterns on both backends: ``*``, ``?``, ``[abc]``, ``[a-z]``,
``[^x]`` and ``\\`` escapes; an unclosed ``[`` is refused rather than guessed at. Keys are ASCII
in practice; Redis matches bytes, so a ``?`` against a non-ASCII character would differ.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TypeVar
from urllib.parse import urlparse

from tickmesh.core.clock import Clock, LiveClock
from tickmesh.core.errors import ConfigError, DataError, DecodeError, RetryableError
from tickmesh.model import Event, decode, encode
from tickmesh.topics import validate_namespace

E = TypeVar("E", bound=Event)

_GLOB_SPECIALS = frozenset("*?[]\\")
_NS_PER_MS = 1_000_000


def escape_glob(text: str) -> str:
    """``text`` as a glob pattern that matches exactly ``text``."""
    return "".join(f"\\{char}" if char in _GLOB_SPECIALS else char for char in text)


class CacheKeys:
    """The cache's key names (seed 003), one function per kind of value.

    A namespace is validated like a bus namespace; the other parts (symbols, strategy and service
    ids) may contain ``:`` (``NSE:INFY``) but not glob characters, so patterns stay exact.
    """

    @staticmethod
    def snapshot(symbol: str) -> str:
        """The latest market snapshot of ``symbol`` (shared by every namespace)."""
        return f"market:snapshot:{_part('symbol', symbol)}"

    @staticmethod
    def portfolio(namespace: str, strategy_id: str) -> str:
        """The latest portfolio snapshot of one strategy in ``namespace``."""
        return f"{validate_namespace(namespace)}:portfolio:{_part('strategy_id', strategy_id)}"

    @staticmethod
    def positions(namespace: str, symbol: str) -> str:
        """The latest positions in ``symbol`` held in ``namespace``."""
        return f"{validate_namespace(namespace)}:positions:{_part('symbol', symbol)}"

    @staticmethod
    def heartbeat(service: str) -> str:
        """A service's liveness; write it with a TTL a little above the beat interval."""
        return f"svc:hb:{_part('service', service)}"

    @staticmethod
    def snapshot_pattern() -> str:
        return "market:snapshot:*"

    @staticmethod
    def portfolio_pattern(namespace: str) -> str:
        return f"{validate_namespace(namespace)}:portfolio:*"

    @staticmethod
    def positions_pattern(namespace: str) -> str:
        return f"{validate_namespace(namespace)}:positions:*"

    @staticmethod
    def heartbeat_pattern() -> str:
        return "svc:hb:*"

    @staticmethod
    def last_part(key: str, pattern: str) -> str:
        """What ``*`` stood for when ``key`` came from ``keys(pattern)`` of a pattern above
        (the symbol, strategy id or service), however many ``:`` it contains."""
        head = pattern.removesuffix("*")
        if head == pattern or not key.startswith(head):
            raise ValueError(f"cache key {key!r} does not come from pattern {pattern!r}")
        return key[len(head) :]


def _part(name: str, value: str) -> str:
    if not value or not value.isprintable() or value != value.strip():
        raise ValueError(f"cache key part {name}={value!r}: must be printable, non-empty text")
    if _GLOB_SPECIALS & set(value):
        raise ValueError(f"cache key part {name}={value!r}: must not contain * ? [ ] or \\")
    return value


class Cache(ABC):
    """Latest-value storage shared by services. Subclasses implement the ``_`` methods; the
    public ones check their arguments identically for every backend."""

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when it is absent or has expired."""
        return await self._get(_checked_key(key))

    async def get_event(self, key: str, kind: type[E]) -> E | None:
        """The event under ``key``; :class:`DecodeError` when it is not a ``kind``."""
        data = await self.get(key)
        if data is None:
            return None
        event = decode(data)
        if not isinstance(event, kind):
            raise DecodeError(
                f"cache key {key!r} holds a {type(event).__name__}, not a {kind.__name__}"
            )
        return event

    async def set(self, key: str, value: bytes | Event, *, ttl: float | None = None) -> None:
        """Store ``value`` (bytes, or an event to encode) under ``key``, replacing what was there
        and its TTL; with ``ttl`` (seconds, millisecond resolution) it expires by itself."""
        await self._set(_checked_key(key), _payload(value), _ttl_ms(ttl))

    async def delete(self, *keys: str) -> int:
        """Remove ``keys``; returns how many existed."""
        checked = [_checked_key(key) for key in keys]
        return await self._delete(checked) if checked else 0

    async def keys(self, pattern: str = "*") -> list[str]:
        """The live keys matching the glob ``pattern``, sorted."""
        matcher = glob_regex(pattern)
        return sorted(await self._keys(pattern, matcher))

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @abstractmethod
    async def _get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def _set(self, key: str, data: bytes, ttl_ms: int | None) -> None: ...

    @abstractmethod
    async def _delete(self, keys: list[str]) -> int: ...

    @abstractmethod
    async def _keys(self, pattern: str, matcher: re.Pattern[str]) -> Iterable[str]:
        """Live keys matching ``pattern``; ``matcher`` is the same pattern as a regex."""


def _checked_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"cache key must be non-empty text, got {key!r}")
    return key


def _payload(value: bytes | Event) -> bytes:
    if isinstance(value, Event):
        return encode(value)
    if isinstance(value, bytes):
        return value
    raise TypeError(f"cache values are bytes or events, got {type(value).__name__}")


def _ttl_ms(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"cache ttl is seconds as a number, got {ttl!r}")
    if not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"cache ttl must be a positive number of seconds, got {ttl!r}")
    return max(1, math.ceil(ttl * 1000))


class MemoryCache(Cache):
    """The in-process cache; expiry follows the clock it is given (wall clock by default)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock if clock is not None else LiveClock()
        self._values: dict[str, tuple[bytes, int | None]] = {}

    async def _get(self, key: str) -> bytes | None:
        return self._live().get(key)

    async def _set(self, key: str, data: bytes, ttl_ms: int | None) -> None:
        expires = None if ttl_ms is None else self._clock.now_ns() + ttl_ms * _NS_PER_MS
        self._values[key] = (data, expires)

    async def _delete(self, keys: list[str]) -> int:
        live = self._live()
        removed = {key for key in keys if key in live}
        for key in removed:
            del self._values[key]
        return len(removed)

    async def _keys(self, pattern: str, matcher: re.Pattern[str]) -> set[str]:
        return {key for key in self._live() if matcher.fullmatch(key)}

    async def close(self) -> None:
        """Nothing to release; the values stay readable, as after a Redis client closes."""

    def _live(self) -> dict[str, bytes]:
        """Drop expired entries; what is left, by key."""
        now = self._clock.now_ns()
        expired = [k for k, (_, at) in self._values.items() if at is not None and at <= now]
        for key in expired:
            del self._values[key]
        return {key: data for key, (data, _) in self._values.items()}


class RedisCache(Cache):
    """The cache on a Redis server; every key is stored under ``prefix`` (``""`` for none), so
    deployments or test runs sharing a server do not see each other's keys."""

    def __init__(self, url: str, prefix: str = "") -> None:
        self._redis = _import_redis()
        try:
            self._client = self._redis.asyncio.Redis.from_url(url)
        except ValueError as exc:
            raise ConfigError(f"cache url {url!r}: {exc}") from None
        self.prefix = prefix

    async def _get(self, key: str) -> bytes | None:
        with self._errors():
            value: bytes | None = await self._client.get(self.prefix + key)
        return value

    async def _set(self, key: str, data: bytes, ttl_ms: int | None) -> None:
        with self._errors():
            await self._client.set(self.prefix + key, data, px=ttl_ms)

    async def _delete(self, keys: list[str]) -> int:
        with self._errors():
            removed: int = await self._client.delete(*(self.prefix + key for key in set(keys)))
        return removed

    async def _keys(self, pattern: str, matcher: re.Pattern[str]) -> set[str]:
        found: set[str] = set()
        with self._errors():
            async for raw in self._scan(escape_glob(self.prefix) + pattern):
                found.add(raw.decode()[len(self.prefix) :])
        return found

    def _scan(self, match: str) -> AsyncIterator[bytes]:
        iterator: AsyncIterator[bytes] = self._client.scan_iter(match=match, count=1000)
        return iterator

    async def close(self) -> None:
        await self._client.aclose()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Connection trouble may pass (retry); a key of another Redis type needs a person."""
        exceptions = self._redis.exceptions
        try:
            yield
        except (exceptions.ConnectionError, exceptions.TimeoutError) as exc:
            raise RetryableError(f"redis cache unavailable: {exc}") from exc
        except exceptions.ResponseError as exc:
            raise DataError(f"redis cache refused the command: {exc}") from exc


def _import_redis() -> ModuleType:
    try:
        import redis
        import redis.asyncio
        import redis.exceptions
    except ImportError:
        raise ConfigError(
            "RedisCache needs the redis client library, which is not installed; "
            "run: pip install 'tickmesh[redis]'"
        ) from None
    return redis


_CACHES: dict[str, Callable[[str, str], Cache]] = {
    "memory": lambda _url, _prefix: MemoryCache(),
    "redis": RedisCache,
    "rediss": RedisCache,
    "unix": RedisCache,
}


def open_cache(url: str = "memory://", prefix: str = "") -> Cache:
    """The cache for ``url``: ``memory://`` or ``redis://host:port/db`` (also ``rediss://``)."""
    scheme = urlparse(url).scheme
    factory = _CACHES.get(scheme)
    if factory is None:
        known = ", ".join(f"{name}://" for name in _CACHES)
        raise ConfigError(f"cache url {url!r}: unknown scheme {scheme!r}; use one of {known}")
    return factory(url, prefix)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex that fully matches what the Redis glob ``pattern`` matches."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"cache key pattern must be non-empty text, got {pattern!r}")
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        part, index = _glob_token(pattern, index)
        parts.append(part)
    return re.compile("".join(parts), re.DOTALL)


def _glob_token(pattern: str, index: int) -> tuple[str, int]:
    char = pattern[index]
    if char == "*":
        return ".*", index + 1
    if char == "?":
        return ".", index + 1
    if char == "[":
        return _glob_class(pattern, index + 1)
    if char == "\\" and index + 1 < len(pattern):
        return re.escape(pattern[index + 1]), index + 2
    return re.escape(char), index + 1


def _glob_class(pattern: str, index: int) -> tuple[str, int]:
    negate = pattern.startswith("^", index)
    index += negate
    members: list[str] = []
    while index < len(pattern) and pattern[index] != "]":
        member, index = _class_member(pattern, index)
        members.append(member)
    if index >= len(pattern):
        raise ValueError(f"cache key pattern {pattern!r}: '[' has no closing ']'")
    if not members:
        return ("." if negate else "(?!)"), index + 1
    return f"[{'^' if negate else ''}{''.join(members)}]", index + 1


def _class_member(pattern: str, index: int) -> tuple[str, int]:
    char = pattern[index]
    if char == "\\" and index + 1 < len(pattern):
        return re.escape(pattern[index + 1]), index + 2
    if index + 2 < len(pattern) and pattern[index + 1] == "-" and pattern[index + 2] != "]":
        low, high = sorted((char, pattern[index + 2]))
        return f"{re.escape(low)}-{re.escape(high)}", index + 3
    return re.escape(char), index + 1


__all__ = [
    "Cache",
    "CacheKeys",
    "MemoryCache",
    "RedisCache",
    "escape_glob",
    "glob_regex",
    "open_cache",
]
