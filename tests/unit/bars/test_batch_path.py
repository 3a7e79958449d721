"""The columnar batch path gives exactly the bars of feeding the same trades one by one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tickmesh.bars import TickBarBuilder
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Bar, Tick

from .support import BASE, LATENESS, MINUTE, PROPERTY, STEP, SYMBOLS, tick, tick_batch

Op = tuple[str, list[Tick]]  # ("batch", ticks of one symbol) or ("flush", [])


@st.composite
def batch_ops(draw: st.DrawFn, lateness: int) -> list[Op]:
    """Batches of one symbol each, in sorted, nearly sorted (within lateness) or any order,
    with the odd flush in between."""
    step = draw(st.sampled_from([STEP, 20 * STEP]))  # coarse steps make equal timestamps common
    steps = st.integers(0, 10 * MINUTE // step)
    price = st.floats(1.0, 1e5, allow_nan=False, allow_infinity=False)
    size = st.floats(0.0, 1e4, allow_nan=False, allow_infinity=False)
    rows = draw(st.lists(st.tuples(steps, price, size, st.sampled_from(SYMBOLS)), max_size=150))
    order = draw(st.sampled_from(["sorted", "nearly", "any"]))
    ticks = [tick(BASE + n * step, p, s, symbol=sym) for n, p, s, sym in rows]
    if order != "any":
        jitter = 0 if order == "sorted" else lateness
        delays = draw(st.lists(st.integers(0, jitter), min_size=len(ticks), max_size=len(ticks)))
        arrival = [t.ts_event + d for t, d in zip(ticks, delays, strict=True)]
        ticks = [ticks[i] for i in sorted(range(len(ticks)), key=arrival.__getitem__)]
    return _cut(draw, ticks)


def _cut(draw: st.DrawFn, ticks: list[Tick]) -> list[Op]:
    ops: list[Op] = []
    rest = ticks
    while rest:
        n = draw(st.integers(1, len(rest)))
        chunk, rest = rest[:n], rest[n:]
        symbols = dict.fromkeys(t.symbol for t in chunk)
        ops.extend(("batch", [t for t in chunk if t.symbol == s]) for s in symbols)
        if draw(st.integers(0, 9)) == 0:
            ops.append(("flush", []))
    return ops


def builder(lateness: int) -> TickBarBuilder:
    return TickBarBuilder(Stamper.deterministic("bars"), "1m", allowed_lateness_ns=lateness)


def run_batches(b: TickBarBuilder, ops: list[Op]) -> list[Bar]:
    out: list[Bar] = []
    for kind, ticks in ops:
        out += b.flush() if kind == "flush" else b.on_tick_batch(tick_batch(ticks[0].symbol, ticks))
    return out + b.flush()


def run_one_by_one(b: TickBarBuilder, ops: list[Op]) -> list[Bar]:
    out: list[Bar] = []
    for kind, ticks in ops:
        out += b.flush() if kind == "flush" else [bar for t in ticks for bar in b.on_tick(t)]
    return out + b.flush()


@PROPERTY
@given(data=st.data(), lateness=LATENESS)
def test_batch_path_equals_scalar_path(data: st.DataObject, lateness: int) -> None:
    ops = data.draw(batch_ops(lateness))
    batched, scalar = builder(lateness), builder(lateness)

    from_batches = run_batches(batched, ops)
    from_ticks = run_one_by_one(scalar, ops)

    assert from_batches == from_ticks
    counters = (batched.ticks, batched.late_dropped, batched.duplicates)
    assert counters == (scalar.ticks, scalar.late_dropped, scalar.duplicates)


@PROPERTY
@given(data=st.data(), lateness=LATENESS)
def test_mixing_batches_and_single_ticks_equals_scalar_path(
    data: st.DataObject, lateness: int
) -> None:
    ops = data.draw(batch_ops(lateness))
    as_ticks = data.draw(st.lists(st.booleans(), min_size=len(ops), max_size=len(ops)))
    mixed, scalar = builder(lateness), builder(lateness)

    out: list[Bar] = []
    for (kind, ticks), one_by_one in zip(ops, as_ticks, strict=True):
        if kind == "flush":
            out += mixed.flush()
        elif one_by_one:
            out += [bar for t in ticks for bar in mixed.on_tick(t)]
        else:
            out += mixed.on_tick_batch(tick_batch(ticks[0].symbol, ticks))
    out += mixed.flush()

    assert out == run_one_by_one(scalar, ops)
    assert mixed.late_dropped == scalar.late_dropped
