"""What every benchmark prints and measures besides its own figures: the machine it ran on,
memory (current and peak RSS) and the time the cyclic garbage collector took.

Imported by the scripts next to it (``python bench/<name>.py`` puts ``bench/`` on the path).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import os
import platform
import pstats
import resource
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
import psutil

MIB = 1024 * 1024


def describe_machine() -> str:
    """One line naming the interpreter, library versions and the CPU count."""
    try:
        import pandas as pd

        pandas_version = pd.__version__
    except ImportError:
        pandas_version = "not installed"
    return (
        f"os.cpu_count()={os.cpu_count()}  python {platform.python_version()} "
        f"({sys.implementation.name})  numpy {np.__version__}  pandas {pandas_version}  "
        f"{platform.system()} {platform.machine()}"
    )


def rss_mib() -> float:
    """Resident set size now."""
    return float(psutil.Process().memory_info().rss) / MIB


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / MIB


def memory_line(label: str) -> str:
    return f"[memory] {label}: RSS {rss_mib():.1f} MiB, peak RSS {peak_rss_mib():.1f} MiB"


class Stopwatch:
    """Wall time of a block plus the time spent in (and number of) cyclic GC collections."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.gc_seconds = 0.0
        self.gc_collections = 0
        self._started = 0.0
        self._gc_started = 0.0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_seconds += time.perf_counter() - self._gc_started
            self.gc_collections += 1

    def __enter__(self) -> Stopwatch:
        gc.collect()
        gc.callbacks.append(self._on_gc)
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.seconds = time.perf_counter() - self._started
        gc.callbacks.remove(self._on_gc)


def parse_count(text: str) -> int:
    """``"10M"``, ``"200k"``, ``"2_000_000"`` -> int."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    digits = text[:-1] if scale != 1 else text
    return int(float(digits) * scale)


@dataclass
class Sample:
    """One timed run."""

    seconds: float
    gc_seconds: float
    note: str = ""


@dataclass
class Series:
    """The runs of one scenario, reported by their median."""

    label: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def median_gc(self) -> float:
        return statistics.median(s.gc_seconds for s in self.samples)


def profile(run: Callable[[], Coroutine[Any, Any, object]], title: str, top: int = 25) -> str:
    """cProfile of one run of the coroutine ``run()`` makes, by own time, titled."""
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    asyncio.run(run())  # type: ignore[arg-type]
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return f"\ncProfile of {title} (sorted by own time):\n{out.getvalue()}"
