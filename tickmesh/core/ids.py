"""Sortable unique ids: ULID layout, 48-bit millisecond time + 80 bits of entropy, base32.

Live sessions draw entropy from the OS; deterministic sessions use a seeded generator so the same
input gives the same ids, which is what makes a replay after a crash produce identical fills.
"""

from __future__ import annotations

import os
import random

from tickmesh.core.clock import Clock

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_MASK = (1 << 80) - 1


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # every 10-bit group as 2 characters
_TIME_MASK = (1 << 48) - 1


def _time_part(ms: int) -> str:
    """The first 10 characters: 2 zero bits and 48 bits of milliseconds (written out rather
    than looped: every event id goes through here)."""
    p = _PAIRS
    ms &= _TIME_MASK
    return "".join(
        (p[ms >> 40], p[(ms >> 30) & 1023], p[(ms >> 20) & 1023], p[(ms >> 10) & 1023],
         p[ms & 1023])
    )  # fmt: skip


def _entropy_part(e: int) -> str:
    """The last 16 characters: 80 bits of entropy."""
    p = _PAIRS
    return "".join(
        (p[(e >> 70) & 1023], p[(e >> 60) & 1023], p[(e >> 50) & 1023], p[(e >> 40) & 1023],
         p[(e >> 30) & 1023], p[(e >> 20) & 1023], p[(e >> 10) & 1023], p[e & 1023])
    )  # fmt: skip


def encode_ulid(ms: int, entropy: int) -> str:
    """26 Crockford base32 characters of the 130-bit number (2 leading zero bits, 48 bits of
    time, 80 of entropy): 13 groups of 10 bits, each looked up as a pair of characters."""
    return _time_part(ms) + _entropy_part(entropy & _RANDOM_MASK)


def decode_ulid_ms(ulid: str) -> int:
    """Milliseconds encoded in an id made by :func:`encode_ulid`."""
    value = 0
    for ch in ulid:
        value = (value << 5) | _ALPHABET.index(ch)
    return value >> 80


class IdGenerator:
    """Monotonic ULIDs: ids made by one generator sort in creation order.

    Within one millisecond the entropy is incremented rather than redrawn, so ordering holds
    even when many ids share a timestamp.
    """

    def __init__(self, clock: Clock, seed: int | str | None = None) -> None:
        self._clock = clock
        self._rng: random.Random | None = None if seed is None else random.Random(seed)
        self._last_ms = -1
        self._last_entropy = 0
        self._prefix = ""

    def _draw(self) -> int:
        if self._rng is None:
            return int.from_bytes(os.urandom(10), "big")
        return self._rng.getrandbits(80)

    def next_id(self) -> str:
        ms = self._clock.now_ns() // 1_000_000
        if ms <= self._last_ms:
            ms = self._last_ms
            self._last_entropy = (self._last_entropy + 1) & _RANDOM_MASK
        else:
            self._last_ms = ms
            self._prefix = _time_part(ms)
            self._last_entropy = self._draw() >> 1  # leave room to increment
        return self._prefix + _entropy_part(self._last_entropy)
