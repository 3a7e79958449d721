"""Ticks/s through feed -> 1m bars, against pandas ``resample("1min")`` of the same ticks, with
peak RSS to show the streaming paths keep memory flat.

Paths timed:
  (a) bars alone: ``TickBarBuilder.on_tick_batch`` over pre-generated ``TickBatch`` events;
  (b) feed + bars: ``SyntheticTicks.batches`` generated as they are consumed (streaming);
  (c) feed + deterministic memory bus + ``BarsService`` (builder + 5m/15m/1h roll-up) on
      ``SyncHost``: ``publish_nowait`` + ``run_until_idle`` per batch.
pandas: one DataFrame per symbol built from ``np.frombuffer`` of the same batch columns;
``resample("1min").agg(open/high/low/close, volume sum, count)`` timed alone and with the
DataFrame construction. Bars of every symbol are compared with pandas'.

(b) and (c) run in fresh child processes (one per tick count) so each reports its own peak RSS
(ru_maxrss) before and after; (a) and pandas run in this process.

Run: ``.venv/bin/python bench/bars_throughput.py [--ticks 10M] [--rss-ticks 2M,10M]``
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from machine import (
    Stopwatch,
    describe_machine,
    memory_line,
    parse_count,
    peak_rss_mib,
    rss_mib,
)

from tickmesh import topics
from tickmesh.adapters.feeds import SyntheticTicks
from tickmesh.bars import DEFAULT_ALLOWED_LATENESS_NS, BarAggregator, TickBarBuilder
from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Bar, TickBatch
from tickmesh.services.market import BarsService
from tickmesh.services.runtime import SyncHost

PROBE_TAG = "PROBE "
VOLUME_RTOL = 1e-12


# --- the tickmesh paths ----------------------------------------------------------------------


def make_feed(args: argparse.Namespace) -> SyntheticTicks:
    symbols = [f"SYM{i}" for i in range(args.symbols)]
    return SyntheticTicks(symbols, seed=args.seed, interval_ns=args.interval_ms * 1_000_000)


def stream(args: argparse.Namespace, ticks: int) -> Iterator[TickBatch]:
    return make_feed(args).batches(ticks // args.symbols, batch_size=args.batch_size)


def make_builder(args: argparse.Namespace) -> TickBarBuilder:
    return TickBarBuilder(Stamper.deterministic("bars"), "1m", allowed_lateness_ns=args.lateness_ns)


def bars_alone(args: argparse.Namespace, batches: list[TickBatch]) -> int:
    """The timed run: bars are counted, not kept (keeping 10^5-10^6 Bars costs GC time)."""
    builder = make_builder(args)
    emitted = sum(len(builder.on_tick_batch(batch)) for batch in batches)
    return emitted + len(builder.flush())


def collect_bars(args: argparse.Namespace, batches: list[TickBatch]) -> list[Bar]:
    """The same again, untimed, keeping the bars to compare with pandas."""
    builder = make_builder(args)
    bars: list[Bar] = []
    for batch in batches:
        bars += builder.on_tick_batch(batch)
    return bars + builder.flush()


def feed_and_bars(args: argparse.Namespace, ticks: int) -> int:
    builder = make_builder(args)
    emitted = sum(len(builder.on_tick_batch(batch)) for batch in stream(args, ticks))
    return emitted + len(builder.flush())


def feed_bus_and_bars(args: argparse.Namespace, ticks: int) -> int:
    bus = MemoryBus(partitions=1, retention=args.retention)
    host = SyncHost(bus)
    service = BarsService(make_builder(args), BarAggregator(Stamper.deterministic("bars.rollup")))
    host.add(service)
    for batch in stream(args, ticks):
        bus.publish_nowait(topics.MARKET_TICKS, batch, batch.symbol)
        bus.run_until_idle()
    flushed = service.flush_bars()
    for message in flushed:
        bus.publish_nowait(message.topic, message.event, message.key)
    bus.run_until_idle()
    return service.stats.events_out + len(flushed)


STREAMING_PATHS = {
    "feed+bars": feed_and_bars,
    "feed+bus+bars": feed_bus_and_bars,
}


# --- child processes for the streaming paths -------------------------------------------------


def probe(args: argparse.Namespace) -> None:
    """Child side: run one streaming path once and print its figures as one JSON line."""
    before = {"rss_before": rss_mib(), "peak_before": peak_rss_mib()}
    with Stopwatch() as sw:
        bars = STREAMING_PATHS[args.probe](args, args.ticks)
    figures = {
        **before,
        "seconds": sw.seconds,
        "gc_seconds": sw.gc_seconds,
        "bars": bars,
        "rss_after": rss_mib(),
        "peak_after": peak_rss_mib(),
    }
    print(PROBE_TAG + json.dumps(figures))


@dataclass(frozen=True)
class ProbeRun:
    path: str
    ticks: int
    retention: int
    figures: dict[str, Any]

    @property
    def rate(self) -> float:
        return self.ticks / float(self.figures["seconds"])


def run_probe(args: argparse.Namespace, path: str, ticks: int, retention: int) -> ProbeRun:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        *("--probe", path, "--ticks", str(ticks), "--retention", str(retention)),
        *("--symbols", str(args.symbols), "--interval-ms", str(args.interval_ms)),
        *("--batch-size", str(args.batch_size), "--seed", str(args.seed)),
        *("--lateness-ns", str(args.lateness_ns)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith(PROBE_TAG))
    return ProbeRun(path, ticks, retention, json.loads(line[len(PROBE_TAG) :]))


def streaming_runs(args: argparse.Namespace) -> list[ProbeRun]:
    runs = [
        run_probe(args, path, ticks, args.retention)
        for path in STREAMING_PATHS
        for ticks in args.rss_ticks
    ]
    if args.compare_retention:
        largest = max(args.rss_ticks)
        runs.append(run_probe(args, "feed+bus+bars", largest, args.compare_retention))
    return runs


def print_streaming(runs: list[ProbeRun]) -> None:
    print("streaming paths, each in a fresh process (peak RSS = ru_maxrss):")
    head = f"{'path':<15} {'retention':>9} {'ticks':>11} {'ticks/s':>11} {'bars out':>9}"
    print(f"{head} {'gc s':>6} {'peak RSS before -> after MiB':>29} {'growth':>7}")
    for run in runs:
        f = run.figures
        growth = f["peak_after"] - f["peak_before"]
        retention = run.retention if run.path == "feed+bus+bars" else "-"
        print(
            f"{run.path:<15} {retention:>9} {run.ticks:>11,} {run.rate:>11,.0f} {f['bars']:>9,} "
            f"{f['gc_seconds']:>6.2f} {f['peak_before']:>14.1f} -> {f['peak_after']:>9.1f} "
            f"{growth:>+7.1f}"
        )


# --- pandas ----------------------------------------------------------------------------------


def symbol_columns(batches: list[TickBatch]) -> dict[str, dict[str, np.ndarray]]:
    """Per symbol, the batch columns concatenated (views via ``np.frombuffer``)."""
    parts: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for b in batches:
        parts[b.symbol]["ts"].append(np.frombuffer(b.ts, dtype="<i8"))
        parts[b.symbol]["price"].append(np.frombuffer(b.price, dtype="<f8"))
        parts[b.symbol]["size"].append(np.frombuffer(b.size, dtype="<f8"))
    return {s: {k: np.concatenate(v) for k, v in cols.items()} for s, cols in parts.items()}


def pandas_frames(batches: list[TickBatch]) -> dict[str, Any]:
    import pandas as pd

    return {
        symbol: pd.DataFrame(
            {"price": cols["price"], "size": cols["size"]},
            index=pd.DatetimeIndex(cols["ts"].view("M8[ns]")),
            copy=False,
        )
        for symbol, cols in symbol_columns(batches).items()
    }


def warm_up_pandas(frames: dict[str, Any]) -> None:
    """First calls pay for lazy imports and caches; keep that out of the timings."""
    sample = {"warm-up": next(iter(frames.values())).iloc[:10_000]}
    pandas_agg(sample)
    pandas_ohlc(sample)


def pandas_agg(frames: dict[str, Any]) -> dict[str, Any]:
    """The single ``.agg`` call: OHLC + volume sum + count."""
    return {
        symbol: df.resample("1min").agg(
            open=("price", "first"),
            high=("price", "max"),
            low=("price", "min"),
            close=("price", "last"),
            volume=("size", "sum"),
            count=("price", "count"),
        )
        for symbol, df in frames.items()
    }


def pandas_ohlc(frames: dict[str, Any]) -> dict[str, Any]:
    """pandas' fastest spelling of the same: ``ohlc()`` plus separate ``sum`` and ``count``."""
    out = {}
    for symbol, df in frames.items():
        resampled = df.resample("1min")
        table = resampled["price"].ohlc()
        table["volume"] = resampled["size"].sum()
        table["count"] = resampled["price"].count()
        out[symbol] = table
    return out


# --- comparison ------------------------------------------------------------------------------


def bars_by_symbol(bars: list[Bar]) -> dict[str, dict[str, np.ndarray]]:
    grouped: dict[str, list[Bar]] = defaultdict(list)
    for bar in bars:
        grouped[bar.symbol].append(bar)
    fields = ("ts_open", "open", "high", "low", "close", "volume", "trade_count")
    return {
        symbol: {
            f: np.array([getattr(b, f) for b in sorted(rows, key=lambda b: b.ts_open)])
            for f in fields
        }
        for symbol, rows in grouped.items()
    }


def compare_symbol(ours: dict[str, np.ndarray], table: Any) -> tuple[list[str], np.ndarray]:
    """Problems with one symbol's bars against pandas' non-empty bins, and |volume diff|."""
    theirs = table[table["count"] > 0]
    if len(ours["ts_open"]) != len(theirs):
        return [f"{len(ours['ts_open'])} bars vs {len(theirs)}"], np.zeros(0)
    exact = {
        "ts_open": theirs.index.to_numpy().astype("<i8"),
        **{c: theirs[c].to_numpy() for c in ("open", "high", "low", "close")},
        "trade_count": theirs["count"].to_numpy(),
    }
    problems = [f"{k} differs" for k, v in exact.items() if not np.array_equal(ours[k], v)]
    return problems, np.abs(ours["volume"] - theirs["volume"].to_numpy())


def fsum_mismatches(columns: dict[str, np.ndarray], volumes: np.ndarray) -> int:
    """Bars whose volume is not exactly ``math.fsum`` of their trades' sizes (the correctly
    rounded sum tickmesh promises); columns must be one symbol's, in time order."""
    ts, size = columns["ts"], columns["size"]
    t0 = ts - ts % 60_000_000_000
    cuts = np.flatnonzero(t0[1:] != t0[:-1]) + 1
    sums = [math.fsum(chunk.tolist()) for chunk in np.split(size, cuts)]
    return int(np.count_nonzero(np.array(sums) != volumes))


def compare(bars: list[Bar], tables: dict[str, Any], batches: list[TickBatch]) -> list[str]:
    """Every symbol's bars against pandas (OHLC, count, start exact; volume within
    ``VOLUME_RTOL``) and the first symbol's volumes against ``math.fsum``; [] means agreement."""
    ours_by_symbol = bars_by_symbol(bars)
    problems: list[str] = []
    diffs, volumes = [], []
    for symbol, table in tables.items():
        ours = ours_by_symbol.get(symbol, {"ts_open": np.zeros(0)})
        found, diff = compare_symbol(ours, table)
        problems += [f"{symbol}: {p}" for p in found]
        if not found:
            diffs.append(diff)
            volumes.append(ours["volume"])
    diff, volume = np.concatenate(diffs), np.concatenate(volumes)
    worst_rel = float((diff / np.abs(volume)).max())
    print(
        f"volume vs pandas: {int(np.count_nonzero(diff == 0)):,} of {len(diff):,} bars "
        f"bit-identical; max |diff| {float(diff.max()):.3g}, max rel diff {worst_rel:.3g} "
        f"(tolerance {VOLUME_RTOL:g})"
    )
    if worst_rel > VOLUME_RTOL:
        problems.append(f"volume rel diff {worst_rel:.3g} above {VOLUME_RTOL:g}")
    first = next(iter(tables))
    bad = fsum_mismatches(symbol_columns(batches)[first], ours_by_symbol[first]["volume"])
    print(f"volume vs math.fsum per bar ({first}): {bad} mismatches")
    return problems + ([f"{first}: {bad} volumes differ from fsum"] if bad else [])


# --- driver ----------------------------------------------------------------------------------


def timed(label: str, fn: Any, *fn_args: Any) -> tuple[Any, float]:
    with Stopwatch() as sw:
        result = fn(*fn_args)
    print(f"  {label:<52} {sw.seconds:8.3f} s   (gc {sw.gc_seconds:.2f} s)")
    return result, sw.seconds


def verify(
    bars: list[Bar], tables: dict[str, Any], fast: dict[str, Any], batches: list[TickBatch]
) -> None:
    problems = compare(bars, tables, batches)
    same = all(fast[s].equals(tables[s][fast[s].columns]) for s in tables)
    bins = sum(int((t["count"] > 0).sum()) for t in tables.values())
    print(
        f"bars: tickmesh {len(bars):,}, pandas non-empty bins {bins:,}; both pandas spellings "
        f"give the same table: {same}"
    )
    print(
        "verdict: "
        + ("bars AGREE with pandas" if not problems else "DIFFER: " + "; ".join(problems))
    )


def in_process(args: argparse.Namespace) -> dict[str, float]:
    """(a) and pandas on the same pre-generated batches; returns seconds by label."""
    print(memory_line("before pre-generating batches"))
    batches, gen_s = timed(
        "generate batches (kept in memory)", lambda: list(stream(args, args.ticks))
    )
    print(memory_line("after pre-generating batches"))
    _, bars_s = timed("(a) bars alone on pre-generated batches", bars_alone, args, batches)
    print(memory_line("after (a)"))
    frames, build_s = timed(
        "pandas: DataFrames (concatenated frombuffer columns)", pandas_frames, batches
    )
    warm_up_pandas(frames)
    tables, agg_s = timed('pandas: resample("1min").agg(ohlc, volume, count)', pandas_agg, frames)
    fast, fast_s = timed("pandas: resample ohlc() + sum() + count()", pandas_ohlc, frames)
    print(memory_line("after pandas"))
    verify(collect_bars(args, batches), tables, fast, batches)
    return {"generate": gen_s, "(a)": bars_s, "build": build_s, "agg": agg_s, "ohlc": fast_s}


def summary(args: argparse.Namespace, seconds: dict[str, float], runs: list[ProbeRun]) -> None:
    n = args.ticks
    full = {r.path: r.rate for r in runs if r.ticks == n and r.retention == args.retention}
    rates = {
        "(a) bars alone": n / seconds["(a)"],
        "(b) feed+bars": full["feed+bars"],
        "(c) feed+bus+bars": full["feed+bus+bars"],
    }
    pandas = {
        "agg": n / seconds["agg"],
        "build+agg": n / (seconds["build"] + seconds["agg"]),
        "ohlc()": n / seconds["ohlc"],
    }
    print(f"\nsummary at {n:,} ticks (goal: >= 1,000,000 ticks/s on one core)")
    print("pandas: agg = resample+.agg only; build+agg = with DataFrame construction;")
    print("        ohlc() = resample ohlc()+sum()+count() only (pandas' fastest spelling)")
    columns = "".join(f"{'x slower ' + k:>20}" for k in pandas)
    print(f"{'path':<20} {'ticks/s':>12}  {'goal':<7}{columns}")
    for label, rate in rates.items():
        verdict = "MET" if rate >= 1e6 else "NOT MET"
        slower = "".join(f"{p / rate:>19.1f}x" for p in pandas.values())
        print(f"{label:<20} {rate:>12,.0f}  {verdict:<7}{slower}")
    for label, rate in pandas.items():
        print(f"{'pandas ' + label:<20} {rate:>12,.0f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=parse_count, default=10_000_000)
    parser.add_argument("--rss-ticks", help="tick counts for (b)/(c), default: ticks/5,ticks")
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--interval-ms", type=int, default=1000, help="time between stream ticks")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--lateness-ns", type=int, default=DEFAULT_ALLOWED_LATENESS_NS)
    parser.add_argument(
        "--retention",
        type=int,
        default=64,
        help="memory bus retention in records (64 is what tickmesh run uses)",
    )
    parser.add_argument(
        "--compare-retention",
        type=int,
        default=4096,
        help="also run (c) at the largest size with this retention (records of up to "
        "--batch-size ticks each: it shows what a long retention costs); 0: skip",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--probe", choices=sorted(STREAMING_PATHS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.rss_ticks.split(",") if args.rss_ticks else [str(args.ticks // 5)]
    args.rss_ticks = sorted({parse_count(x) for x in sizes} | {args.ticks})
    return args


def main() -> None:
    args = parse_args()
    if args.probe:
        probe(args)
        return
    started = time.perf_counter()
    per_bar = 60_000 / (args.interval_ms * args.symbols)
    print("tickmesh bench: synthetic ticks -> 1m bars, against pandas resample (same ticks)")
    print(describe_machine())
    print(
        f"ticks={args.ticks:,}  symbols={args.symbols}  stream interval={args.interval_ms} ms "
        f"(~{per_bar:g} ticks per 1m bar per symbol)  batch={args.batch_size:,} ticks\n"
    )
    runs = streaming_runs(args)
    print_streaming(runs)
    print(f"\nin this process, {args.ticks:,} pre-generated ticks:")
    seconds = in_process(args)
    summary(args, seconds, runs)
    print(f"\ntotal wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
