"""The vectorized sweep evaluator: a built-in strategy over a grid of parameter sets, each
evaluated bar by bar in compiled code, the sets in parallel.

It answers "which parameters?" fast; the event-driven engine then re-runs the chosen set and
must find the same trades. Both use backtesting.py's default fill model (see
:mod:`tickmesh.backtest.sweep_kernel`): decide on bar i's close, fill at bar i+1's open,
all-in whole units, commission as a fraction of traded value on entry and on exit. The
signals are the built-in strategies' own, to the bit (see
:mod:`tickmesh.backtest.sweep_indicators`).

Pure: arrays in, arrays out. ``numba`` compiles the kernels on first use and caches them on
disk; :func:`compile_kernels` does that up front.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import numba
import numpy as np
import numpy.typing as npt

from tickmesh.backtest import sweep_kernel as kernel
from tickmesh.backtest.sweep_families import FAMILIES, SetSpec, chunks
from tickmesh.backtest.sweep_grid import ParameterGrid, SweepConfigError, single_set
from tickmesh.backtest.sweep_indicators import indicator_rows
from tickmesh.core.errors import DataError

FloatArray = npt.NDArray[np.float64]

METRIC_NAMES = ("final_equity", "n_trades", "return_pct", "max_drawdown_pct", "sharpe")
"""Columns of :attr:`SweepResult.table`, in order."""

_MIB = 1024 * 1024


class PriceDataError(DataError, ValueError):
    """Prices the evaluator cannot use; the message names the column and the bar index."""


@dataclass(frozen=True)
class Prices:
    """OHLC columns as contiguous float64 arrays of one length, every value finite and
    positive, ``low <= high``. Build with :meth:`from_arrays` or :meth:`from_frame`."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @classmethod
    def from_arrays(
        cls,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        times: npt.ArrayLike | None = None,
    ) -> Prices:
        """Validated copies (or the arrays themselves when already contiguous float64).
        ``times``, when given, must increase strictly: bars out of order are an error."""
        columns = {"open": open, "high": high, "low": low, "close": close}
        arrays = {name: _column(name, values) for name, values in columns.items()}
        lengths = {name: len(array) for name, array in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise PriceDataError(f"columns differ in length: {lengths}")
        if lengths["close"] < 2:
            raise PriceDataError(f"need at least 2 bars, got {lengths['close']}")
        _check_high_low(arrays["high"], arrays["low"])
        if times is not None:
            _check_increasing(np.asarray(times), lengths["close"])
        return cls(**arrays)

    @classmethod
    def from_frame(cls, frame: Any) -> Prices:
        """From a DataFrame with ``Open``, ``High``, ``Low``, ``Close`` columns (backtesting.py's
        layout) whose index increases strictly."""
        missing = [c for c in ("Open", "High", "Low", "Close") if c not in frame.columns]
        if missing:
            raise PriceDataError(f"missing price column(s): {', '.join(missing)}")
        return cls.from_arrays(
            frame["Open"].to_numpy(),
            frame["High"].to_numpy(),
            frame["Low"].to_numpy(),
            frame["Close"].to_numpy(),
            times=np.asarray(frame.index),
        )


def _column(name: str, values: npt.ArrayLike) -> FloatArray:
    try:
        array = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PriceDataError(f"{name}: not numbers ({exc})") from None
    if array.ndim != 1:
        raise PriceDataError(f"{name}: expected one dimension, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise PriceDataError(f"{name} is {array[bad[0]]} at bar {bad[0]}")
    bad = np.flatnonzero(array <= 0.0)
    if bad.size:
        raise PriceDataError(f"{name} must be positive; it is {array[bad[0]]} at bar {bad[0]}")
    return array


def _check_high_low(high: FloatArray, low: FloatArray) -> None:
    bad = np.flatnonzero(low > high)
    if bad.size:
        i = bad[0]
        raise PriceDataError(f"low {low[i]} is above high {high[i]} at bar {i}")


def _check_increasing(times: npt.NDArray[Any], n: int) -> None:
    if times.shape != (n,):
        raise PriceDataError(f"times: expected {n} values, got shape {times.shape}")
    bad = np.flatnonzero(times[1:] <= times[:-1])
    if bad.size:
        i = bad[0] + 1
        raise PriceDataError(
            f"bars are not in time order: bar {i} ({times[i]}) is not after {times[i - 1]}"
        )


class SweepConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The account and run settings shared by every parameter set.

    ``commission`` is a fraction of traded value charged on entry and on exit (0.002 is
    0.2 %). ``periods_per_year`` annualises the per-bar sharpe (252 for daily bars, 525,600 for
    round-the-clock minutes). ``threads`` caps numba's pool for this call (None: numba's
    default). ``max_indicator_mib`` bounds the indicator rows held at once; larger grids are
    evaluated in chunks.
    """

    cash: float = 10_000.0
    commission: float = 0.0
    periods_per_year: float = 252.0
    threads: int | None = None
    max_indicator_mib: int = 512

    def __post_init__(self) -> None:
        checks = {
            "cash": np.isfinite(self.cash) and self.cash > 0,
            "commission": 0.0 <= self.commission < 0.1,
            "periods_per_year": np.isfinite(self.periods_per_year) and self.periods_per_year > 0,
            "threads": self.threads is None or self.threads >= 1,
            "max_indicator_mib": self.max_indicator_mib >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise SweepConfigError(
                    f"{name} {getattr(self, name)!r} is not allowed; {_ALLOWED[name]}"
                )


_ALLOWED = {
    "cash": "it must be a positive number",
    "commission": "it must be a fraction in [0, 0.1)",
    "periods_per_year": "it must be a positive number",
    "threads": "it must be at least 1 (or unset)",
    "max_indicator_mib": "it must be at least 1",
}


@dataclass(frozen=True, slots=True)
class Metrics:
    """One parameter set's figures. ``n_trades`` counts trades entered, one still open at the
    end included. ``max_drawdown_pct`` is zero or negative (backtesting.py's sign): the deepest
    fall of equity below its running peak. ``sharpe`` is the mean over the (population)
    standard deviation of per-bar equity returns times ``sqrt(periods_per_year)``; 0 when
    equity never moved."""

    final_equity: float
    n_trades: int
    return_pct: float
    max_drawdown_pct: float
    sharpe: float

    @classmethod
    def from_row(cls, row: Sequence[float] | FloatArray) -> Metrics:
        equity, trades, ret, drawdown, sharpe = (float(v) for v in row)
        return cls(equity, int(trades), ret, drawdown, sharpe)


@dataclass(frozen=True, slots=True)
class SweepTrade:
    """One trade, backtesting.py's way: ``size`` signed (negative short), whole units;
    ``pnl`` net of both commissions (``commission``). A trade still open at the end has no
    exit; its ``pnl`` is marked at the last close, net of the entry commission."""

    entry_bar: int
    exit_bar: int | None
    entry_price: float
    exit_price: float | None
    size: float
    pnl: float
    commission: float

    @classmethod
    def from_rows(cls, rows: FloatArray) -> tuple[SweepTrade, ...]:
        """From the kernel's trade rows (see ``sweep_kernel.TRADE_FIELDS``)."""
        return tuple(
            cls(
                int(entry_bar),
                None if exit_bar < 0 else int(exit_bar),
                entry_price,
                None if exit_bar < 0 else exit_price,
                size,
                pnl,
                fees,
            )
            for entry_bar, exit_bar, entry_price, exit_price, size, pnl, fees in rows.tolist()
        )


@dataclass(frozen=True)
class Evaluation:
    """One parameter set in full: its metrics, every trade, and equity at every bar's close."""

    strategy: str
    params: Mapping[str, Any]
    metrics: Metrics
    trades: tuple[SweepTrade, ...]
    equity: FloatArray


@dataclass(frozen=True)
class SweepResult:
    """Metrics of every set of ``grid``: row k of ``table`` belongs to ``grid.sets[k]``, its
    columns are :data:`METRIC_NAMES`."""

    grid: ParameterGrid
    table: FloatArray

    def __len__(self) -> int:
        return len(self.grid)

    def column(self, name: str) -> FloatArray:
        if name not in METRIC_NAMES:
            raise SweepConfigError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
        return self.table[:, METRIC_NAMES.index(name)]

    def metrics(self, index: int) -> Metrics:
        return Metrics.from_row(self.table[index])

    def params(self, index: int) -> Mapping[str, Any]:
        return self.grid.sets[index]


def evaluate_grid(
    prices: Prices, grid: ParameterGrid, config: SweepConfig | None = None
) -> SweepResult:
    """Metrics for every parameter set of ``grid`` (see :func:`sweep_grid.build_grid`)."""
    config = config or SweepConfig()
    rule, specs = _specs(grid)
    _check_length(prices, grid, specs)
    max_rows = max(2, config.max_indicator_mib * _MIB // (8 * len(prices)))
    table = np.empty((len(specs), kernel.METRICS))
    with numba_threads(config.threads), numba.parallel_chunksize(1):
        for chunk in chunks(specs, max_rows):
            rows = indicator_rows(chunk.kinds, chunk.windows, prices.high, prices.low, prices.close)
            table[chunk.indices] = kernel.sweep(
                rule,
                prices.open,
                prices.close,
                rows,
                chunk.row_a,
                chunk.row_b,
                chunk.xs,
                chunk.ys,
                config.cash,
                config.commission,
                config.periods_per_year,
            )
    return SweepResult(grid, table)


def evaluate(
    prices: Prices, strategy: str, params: Mapping[str, object], config: SweepConfig | None = None
) -> Evaluation:
    """One parameter set with its trade list and equity curve (the same kernel as a sweep, so
    its metrics equal that set's row in any grid, bit for bit)."""
    config = config or SweepConfig()
    grid = single_set(strategy, params)
    rule, (spec,) = _specs(grid)
    _check_length(prices, grid, [spec])
    rows = _rows_of(spec, prices, config.threads)

    def run(record: bool, trades: FloatArray, equity: FloatArray) -> tuple[float, ...]:
        return tuple(
            kernel.simulate(
                rule,
                prices.open,
                prices.close,
                rows[0],
                rows[1],
                spec.x,
                spec.y,
                config.cash,
                config.commission,
                config.periods_per_year,
                record,
                trades,
                equity,
            )
        )

    counted = run(False, np.empty((0, kernel.TRADE_FIELDS)), np.empty(0))
    trades = np.empty((int(counted[kernel.N_TRADES]), kernel.TRADE_FIELDS))
    equity = np.empty(len(prices))
    metrics = Metrics.from_row(run(True, trades, equity))
    return Evaluation(strategy, grid.sets[0], metrics, SweepTrade.from_rows(trades), equity)


def _rows_of(spec: SetSpec, prices: Prices, threads: int | None) -> FloatArray:
    """The two indicator rows one parameter set reads."""
    kinds = np.array([spec.a[0], spec.b[0]], dtype=np.int64)
    windows = np.array([spec.a[1], spec.b[1]], dtype=np.int64)
    with numba_threads(threads):
        return indicator_rows(kinds, windows, prices.high, prices.low, prices.close)


def compile_kernels() -> None:
    """Compile (or load from numba's cache) every kernel, on a few bars: what a first sweep
    would otherwise pay inside its own timing."""
    close = np.linspace(100.0, 110.0, 64)
    prices = Prices.from_arrays(close, close + 1.0, close - 1.0, close)
    grids = {"sma_cross": {"fast": 2, "slow": 5}, "donchian_breakout": {}, "rsi_reversion": {}}
    for strategy, params in grids.items():
        evaluate_grid(prices, single_set(strategy, params))
        evaluate(prices, strategy, params)


@contextmanager
def numba_threads(threads: int | None) -> Iterator[None]:
    """Run the block with numba's pool capped at ``threads`` (None: leave it as it is)."""
    if threads is None:
        yield
        return
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(threads)
    except ValueError as exc:
        raise SweepConfigError(f"threads {threads} is not allowed: {exc}") from None
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _specs(grid: ParameterGrid) -> tuple[int, list[SetSpec]]:
    family = FAMILIES.get(grid.strategy)
    if family is None:
        raise SweepConfigError(
            f"the vectorized sweep cannot evaluate {grid.strategy!r}; "
            f"it evaluates: {', '.join(FAMILIES)}"
        )
    rule, to_spec = family
    return rule, [to_spec(params) for params in grid.sets]


def _check_length(prices: Prices, grid: ParameterGrid, specs: Sequence[SetSpec]) -> None:
    """Refuse prices too short for any trade of the set with the longest warm-up: its first
    signal bar plus the bar its order fills on."""
    longest = max(range(len(specs)), key=lambda k: specs[k].first_signal)
    needed = specs[longest].first_signal + 2
    if len(prices) < needed:
        params = ", ".join(f"{k}={v}" for k, v in grid.sets[longest].items())
        raise PriceDataError(
            f"{len(prices)} bars are too few for {grid.strategy} ({params}): its first signal "
            f"can come on bar {needed - 2}, so it needs at least {needed} bars"
        )
