"""Who is in a consumer group on one topic, across processes: one JetStream KV entry per
(group, topic) holding ``{member: last seen (wall-clock ns)}``, updated compare-and-set.

The memory bus's rule, shared by every process: a member is live while it keeps fetching
(``seen`` is stamped by fetch, written at most every ``interval``), and partition ``p`` belongs to
``live[i]`` with ``p % len(live) == i``, members sorted by name so every process computes the
same assignment. A member is declared dead ``ack_wait + 2 * interval`` after it was last seen:
by then the broker has expired every message it held, so they are redelivered (in order) before
anything newer reaches the member that takes the partition over. Members of this process see
each other's joins and leaves at once; other processes see them at their next sync (members of
different processes are assumed to have clocks in step, well within ``ack_wait``).

Remote members are judged against the time of our last successful sync, never against the wall
clock alone: a process cut off from the broker does not declare everybody else dead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], None]

_NS = 1_000_000_000
_MAX_INTERVAL_S = 2.0
_CAS_ATTEMPTS = 20


class MembershipError(RuntimeError):
    """The membership entry could not be written (too many concurrent writers)."""


class Roster:
    """The members of one (group, topic), shared by this process's subscriptions to it.
    ``spawn`` runs background syncs (the bus cancels them when it closes)."""

    def __init__(self, kv: KeyValue, key: str, ack_wait_s: float, spawn: Spawn) -> None:
        self._kv = kv
        self._key = key
        self._spawn = spawn
        self.interval_s = min(ack_wait_s / 4, _MAX_INTERVAL_S)
        self._threshold = int((ack_wait_s + 2 * self.interval_s) * _NS)
        self._members: dict[str, int] = {}
        self._local: dict[str, int] = {}
        self._leaving: set[str] = set()
        self._synced_at = 0
        self._next_sync = 0.0
        self._syncing = False
        self._lock = asyncio.Lock()

    def touch(self, consumer: str) -> None:
        """``consumer`` is fetching: stamp it, and sync in the background when due."""
        self._stamp(consumer)
        now = asyncio.get_running_loop().time()
        if now >= self._next_sync and not self._syncing:
            self._syncing = True
            self._next_sync = now + self.interval_s
            self._spawn(self._background_sync())

    def _stamp(self, consumer: str) -> None:
        self._local[consumer] = self._members[consumer] = time.time_ns()

    def assigned(self, consumer: str, partitions: int) -> list[int]:
        """The partitions ``consumer`` reads now."""
        live = self.live() or [consumer]
        if consumer not in live:
            return []
        idx, n = live.index(consumer), len(live)
        return [p for p in range(partitions) if p % n == idx]

    def live(self) -> list[str]:
        now = time.time_ns()
        as_of = min(now, self._synced_at + int(self.interval_s * _NS))
        return sorted(
            member
            for member, seen in self._members.items()
            if (now if member in self._local else as_of) - seen <= self._threshold
        )

    async def join(self, consumer: str) -> None:
        """Register ``consumer`` and learn the other members before it fetches anything."""
        self._leaving.discard(consumer)
        self._stamp(consumer)
        await self.sync()

    async def leave(self, consumer: str) -> None:
        """Remove ``consumer`` so the others take its partitions over at their next sync."""
        self._local.pop(consumer, None)
        self._members.pop(consumer, None)
        self._leaving.add(consumer)
        await self.sync()

    async def sync(self) -> None:
        """Write our members' stamps and read everybody else's (compare-and-set loop)."""
        async with self._lock:
            for _ in range(_CAS_ATTEMPTS):
                if await self._sync_once():
                    return
        raise MembershipError(f"membership entry {self._key!r}: too many concurrent writers")

    async def _sync_once(self) -> bool:
        now = time.time_ns()
        leaving = set(self._leaving)
        try:
            entry = await self._kv.get(self._key)
            remote, revision = self._decode(entry.value), entry.revision
        except KeyNotFoundError:
            remote, revision = {}, None
        merged = self._merge(remote, leaving, now)
        data = json.dumps(merged, separators=(",", ":")).encode()
        try:
            if revision is None:
                await self._kv.create(self._key, data)
            else:
                await self._kv.update(self._key, data, last=revision)
        except KeyWrongLastSequenceError:
            return False
        self._leaving -= leaving
        self._members = self._merge(merged, self._leaving, now)
        self._synced_at = now
        return True

    def _merge(self, remote: dict[str, int], leaving: set[str], now: int) -> dict[str, int]:
        """Remote stamps minus members that left or are long dead, plus our own stamps (which
        fetches may have moved on while a sync was in flight)."""
        horizon = now - 4 * self._threshold
        merged = {m: seen for m, seen in remote.items() if m not in leaving and seen >= horizon}
        for member, seen in self._local.items():
            merged[member] = max(seen, merged.get(member, 0))
        return merged

    def _decode(self, value: bytes | None) -> dict[str, int]:
        """The stored member map; anything malformed counts as empty (and is overwritten)."""
        try:
            raw = json.loads(value or b"{}")
            return {str(m): int(seen) for m, seen in raw.items()}
        except (ValueError, TypeError, AttributeError):
            log.warning("membership entry %s is malformed; rewriting it", self._key)
            return {}

    async def _background_sync(self) -> None:
        try:
            await self.sync()
        except (NatsError, MembershipError, TimeoutError) as exc:
            log.warning("membership sync of %s failed (retrying): %r", self._key, exc)
        finally:
            self._syncing = False
