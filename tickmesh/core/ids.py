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


def encode_ulid(ms: int, entropy: int) -> str:
    value = ((ms & ((1 << 48) - 1)) << 80) | (entropy & _RANDOM_MASK)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


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
            self._last_entropy = self._draw() >> 1  # leave room to increment
        return encode_ulid(ms, self._last_entropy)
