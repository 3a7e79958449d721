"""Event-driven backtest throughput against backtesting.py on the same bars, in the same run.

Workload (issue 3): SMA(10)/SMA(30) crossover, long only, all-in, no fees, on N one-minute bars
of a seeded geometric Brownian motion (start 100, sigma 0.001 per bar). Our side runs the full
pipeline: strategy -> risk -> paper execution -> portfolio over the deterministic bus. The
reference runs backtesting.py's ``Backtest`` with the equivalent long-only ``SmaCross``. Both
must produce the same trades (entry/exit time, price, size); the script checks and says so.

Each engine runs in a fresh child process per run, so each reports its own peak RSS.

Run: ``.venv/bin/python bench/backtest_engine.py [--bars 1M] [--runs 3]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import numpy as np
from machine import describe_machine, parse_count, peak_rss_mib

TAG = "RESULT "
MINUTE_NS = 60_000_000_000
START_NS = 1_704_067_200_000_000_000


def gbm(bars: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, bars)))
    open_ = np.concatenate([[100.0], close[:-1]])
    wiggle = np.abs(rng.normal(0.0, 0.0005, bars))
    return {
        "ts": START_NS + np.arange(bars, dtype=np.int64) * MINUTE_NS,
        "open": open_,
        "high": np.maximum(open_, close) * (1 + wiggle),
        "low": np.minimum(open_, close) * (1 - wiggle),
        "close": close,
        "volume": np.full(bars, 1_000.0),
    }


def run_ours(bars: int) -> dict[str, Any]:
    from tickmesh.backtest.engine import Backtest, BacktestConfig, StrategySpec
    from tickmesh.storage.candles import Candles

    d = gbm(bars)
    candles = Candles(d["ts"], d["open"], d["high"], d["low"], d["close"], d["volume"])
    config = BacktestConfig(
        strategies=[StrategySpec("sma_cross", ["GBM"], {"fast": 10, "slow": 30})],
        timeframe="1m",
        cash=Decimal(10_000),
        allow_short=False,
    )
    started = time.perf_counter()
    result = Backtest(config, {"GBM": candles}).run()
    seconds = time.perf_counter() - started
    trades = [
        [t.entry_time, float(t.entry_price), int(t.size), t.exit_time, float(t.exit_price)]
        for t in result.trades
    ]
    return {"seconds": seconds, "trades": trades, "equity": float(result.stats.equity_final)}


def run_reference(bars: int) -> dict[str, Any]:
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCrossLong(Strategy):
        def init(self) -> None:
            self.fast = self.I(SMA, self.data.Close, 10)
            self.slow = self.I(SMA, self.data.Close, 30)

        def next(self) -> None:
            if crossover(self.fast, self.slow) and not self.position:
                self.buy()
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    d = gbm(bars)
    frame = pd.DataFrame(
        {"Open": d["open"], "High": d["high"], "Low": d["low"], "Close": d["close"],
         "Volume": d["volume"]},
        index=pd.to_datetime(d["ts"], unit="ns"),
    )  # fmt: skip
    started = time.perf_counter()
    stats = Backtest(frame, SmaCrossLong, cash=10_000).run()
    seconds = time.perf_counter() - started
    t = stats._trades
    trades = [
        [int(pd.Timestamp(a).value), float(b), int(c), int(pd.Timestamp(e).value), float(f)]
        for a, b, c, e, f in zip(
            t.EntryTime, t.EntryPrice, t.Size, t.ExitTime, t.ExitPrice, strict=True
        )
    ]
    return {"seconds": seconds, "trades": trades, "equity": float(stats["Equity Final [$]"])}


def child(engine: str, bars: int) -> None:
    import warnings

    warnings.simplefilter("ignore")
    out = (run_ours if engine == "tickmesh" else run_reference)(bars)
    out["peak_rss_mib"] = peak_rss_mib()
    print(TAG + json.dumps(out))


def measure(engine: str, bars: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", engine, "--bars", str(bars)]
    output = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    line = next(x for x in output.splitlines() if x.startswith(TAG))
    result: dict[str, Any] = json.loads(line[len(TAG) :])
    return result


def same_trades(ours: list[list[Any]], ref: list[list[Any]]) -> bool:
    """Times and sizes exact; prices equal up to our 1e-8 price increment."""
    if len(ours) != len(ref):
        return False
    for a, b in zip(ours, ref, strict=True):
        if (a[0], a[2], a[3]) != (b[0], b[2], b[3]):
            return False
        if abs(a[1] - b[1]) > 1e-8 or abs(a[4] - b[4]) > 1e-8:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=parse_count, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=["tickmesh", "backtesting.py"])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.bars)
        return
    print(describe_machine())
    print(f"bars={args.bars:,}  SMA(10)/SMA(30) long only, all-in, no fees; median of {args.runs}")
    results = {e: [measure(e, args.bars) for _ in range(args.runs)] for e in
               ("backtesting.py", "tickmesh")}  # fmt: skip
    rates = {}
    for engine, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        rates[engine] = args.bars / seconds
        peak = max(r["peak_rss_mib"] for r in runs)
        print(f"{engine:15} {rates[engine]:>12,.0f} bars/s  median {seconds:.2f} s  "
              f"peak RSS {peak:.0f} MiB  trades {len(runs[0]['trades'])}")  # fmt: skip
    ours, ref = results["tickmesh"][0], results["backtesting.py"][0]
    same = same_trades(ours["trades"], ref["trades"])
    gap = abs(ours["equity"] - ref["equity"]) / ref["equity"]
    print(f"identical trades (prices to 1e-8): {same}; final equity {ours['equity']:.2f} "
          f"vs {ref['equity']:.2f} (relative difference {gap:.2e})")  # fmt: skip
    ratio = rates["tickmesh"] / rates["backtesting.py"]
    verdict = "MET" if ratio >= 2 else "NOT MET"
    print(f"tickmesh / backtesting.py bars/s: {ratio:.2f}x  goal >= 2x: {verdict}")


if __name__ == "__main__":
    main()
