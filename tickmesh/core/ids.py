"""Sortable unique ids: ULID layout, 48-bit millisecond time + 80 bits of entropy, base32.

Live sessions draw entropy from the OS; deterministic sessions use a seeded generator so the same
input gives the same ids, which is what makes a replay after a crash produce identical fills.
"""

from __future__ import annotations

import base64
import os
import random

from tickmesh.core.clock import Clock

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_MASK = (1 << 80) - 1


_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


def encode_ulid(ms: int, entropy: int) -> str:
    """26 base32 characters of the 130-bit number (2 leading zero bits, 48 time, 80 entropy).

    The bits are placed at the top of 17 bytes so the standard base32 codec (in C) does the
    5-bit grouping; its alphabet is then translated to Crockford's.
    """
    value = ((ms & ((1 << 48) - 1)) << 80) | (entropy & _RANDOM_MASK)
    raw = base64.b32encode((value << 6).to_bytes(17, "big"))[:26]
    return raw.translate(_TO_CROCKFORD).decode()


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
