"""Sortable unique ids."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tickmesh.core.clock import SimulatedClock
from tickmesh.core.ids import IdGenerator, decode_ulid_ms, encode_ulid

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference_ulid(ms: int, entropy: int) -> str:
    value = (ms << 80) | entropy
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(26)))


@given(st.integers(0, (1 << 48) - 1), st.integers(0, (1 << 80) - 1))
def test_encoding_equals_the_bitwise_reference_and_decodes_back(ms: int, entropy: int) -> None:
    encoded = encode_ulid(ms, entropy)

    assert encoded == reference_ulid(ms, entropy)
    assert decode_ulid_ms(encoded) == ms


def test_ids_sort_in_creation_order_within_and_across_milliseconds() -> None:
    clock = SimulatedClock(1_700_000_000_000_000_000)
    ids = IdGenerator(clock, seed=1)
    made = []
    for step in range(500):
        made.append(ids.next_id())
        if step % 50 == 0:
            clock.advance_to(clock.now_ns() + 1_000_000)

    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_same_seed_and_clock_give_the_same_ids() -> None:
    def run() -> list[str]:
        gen = IdGenerator(SimulatedClock(5_000_000), seed="s")
        return [gen.next_id() for _ in range(20)]

    assert run() == run()
