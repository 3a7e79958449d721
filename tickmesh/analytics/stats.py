"""Backtest statistics with backtesting.py 0.6.6's definitions, on tickmesh's own inputs.

Every figure follows ``backtesting._stats.compute_stats`` (read for its definitions; this is an
independent implementation, and the parity tests run both on the same backtests):

- returns are measured per calendar period (day, or week / month / year for bars that far apart),
  from each period's last equity value; their geometric mean is compounded over the periods per
  year (252, or 365 when a large share of bars fall on weekends; 52, 12, 1) for the annual return;
- volatility is the annualised variance of compounded returns (ddof=1), Sharpe the annual return
  less the risk-free rate over it, Sortino the same over the root-mean-square of negative period
  returns, Calmar the annual return over the maximum drawdown;
- a drawdown episode runs from a bar at a peak to the next bar at a peak (or the last bar) when at
  least one bar lies between them; its duration is the time between those two bars;
- exposure is the share of bars from a trade's entry bar to its exit bar inclusive;
- per-trade figures use :attr:`Trade.return_pct`; the average trade is their geometric mean,
  expectancy their arithmetic mean, profit factor the gains over the losses of those returns, SQN
  ``sqrt(n) * mean(pnl) / std(pnl)``;
- NaN wherever backtesting.py gives NaN (no trades, a single bar, zero volatility or drawdown...),
  and infinity where it divides a non-zero number by zero (Sortino with no losing period).

Durations are ints in ns; maximum and average durations (drawdowns, trades) are rounded up to the
finest unit of the bar spacing (whole days for daily bars), as backtesting.py rounds them. Where
backtesting.py gives no duration (NaT) the field is None; where a curve has no drawdown episode at
all it reports the drawdown fraction in place of a duration, and tickmesh reports None.

A single bar is a defined result: duration 0, return 0, and NaN for everything that needs a second
bar. Only closed trades count; see :mod:`tickmesh.analytics.trades` for trades open at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from itertools import repeat
from operator import itemgetter
from typing import Any, Generic, NamedTuple, Protocol, TypeAlias, TypeGuard, TypeVar

import numpy as np
import numpy.typing as npt

from tickmesh.analytics.periods import (
    bar_at,
    bar_spacing,
    calendar_for,
    ceil_mean,
    ceil_to,
    format_duration,
    format_timestamp,
    infer_periods_per_year,
    last_per_period,
    require_increasing,
    resolution,
)
from tickmesh.analytics.trades import JsonValue, Trade
from tickmesh.core.errors import ConfigError, DataError

FloatArray = npt.NDArray[np.float64]
NAN = math.nan

_TIMESTAMPS = frozenset({"start", "end"})
_DURATIONS = frozenset(
    {
        "duration",
        "max_drawdown_duration",
        "avg_drawdown_duration",
        "max_trade_duration",
        "avg_trade_duration",
    }
)


_CONVERSION_ERRORS = (TypeError, ValueError, OverflowError)
"""What converting a column may raise on a bad item; the row-by-row reading then names it."""

_V = TypeVar("_V")
_V_co = TypeVar("_V_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Columns(Generic[_V]):
    """A time series as two columns of equal length: ``times`` (ns) and ``values``.

    :func:`compute_stats` takes it wherever it takes (ts, value) rows and reads it exactly as the
    rows ``zip(times, values)``. A caller holding arrays (a 1M-bar backtest) so builds no tuple per
    bar, and an int64 ``times`` array, or a float64 array of closes, is used as it is.
    """

    times: npt.NDArray[np.int64] | Sequence[int]
    values: npt.NDArray[np.float64] | Sequence[_V]

    def __post_init__(self) -> None:
        if len(self.times) != len(self.values):
            raise DataError(
                f"columns differ in length: {len(self.times)} times, {len(self.values)} values"
            )

    def __len__(self) -> int:
        return len(self.times)


Series: TypeAlias = "Sequence[tuple[int, _V]] | Columns[_V]"
"""(ts ns, value) rows, or the same series as :class:`Columns`."""


@dataclass(frozen=True, slots=True)
class BacktestStats:
    """One backtest's figures. Percentages are in percent (12.5 is 12.5 %); times and durations in
    ns; ``equity_final`` and ``equity_peak`` are the equity values given, so Decimal stays exact."""

    start: int
    end: int
    duration: int
    exposure_time_pct: float
    equity_final: Decimal | float
    equity_peak: Decimal | float
    return_pct: float
    buy_hold_return_pct: float
    return_ann_pct: float
    volatility_ann_pct: float
    sharpe_ratio: float
    sortino_ratio: float
    calmar_ratio: float
    max_drawdown_pct: float
    avg_drawdown_pct: float
    max_drawdown_duration: int | None
    avg_drawdown_duration: int | None
    n_trades: int
    win_rate_pct: float
    best_trade_pct: float
    worst_trade_pct: float
    avg_trade_pct: float
    max_trade_duration: int | None
    avg_trade_duration: int | None
    profit_factor: float
    expectancy_pct: float
    sqn: float
    trades: tuple[Trade, ...]

    def to_dict(self, *, human: bool = True) -> dict[str, JsonValue]:
        """JSON-ready: NaN and infinity become None, Decimals exact strings. With ``human``,
        times are ISO 8601 UTC and durations text like ``3 days 04:00:00``; else ns ints."""
        return {field.name: self._json(field.name, human) for field in fields(self)}

    def _json(self, name: str, human: bool) -> JsonValue:
        value: object = getattr(self, name)
        if name == "trades":
            return [trade.to_dict(human=human) for trade in self.trades]
        if isinstance(value, int) and human and name in _TIMESTAMPS:
            return format_timestamp(value)
        if isinstance(value, int) and human and name in _DURATIONS:
            return format_duration(value)
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        return value if isinstance(value, int) else None


class _Curve(NamedTuple):
    times: npt.NDArray[np.int64]
    values: FloatArray
    final: Decimal | float
    peak: Decimal | float


class _Annual(NamedTuple):
    annual_return: float
    return_pct: float
    volatility_pct: float
    sharpe: float
    sortino: float


class _Drawdowns(NamedTuple):
    max_fraction: float
    avg_pct: float
    max_duration: int | None
    avg_duration: int | None


class _TradeFigures(NamedTuple):
    win_rate_pct: float
    best_pct: float
    worst_pct: float
    avg_pct: float
    max_duration: int | None
    avg_duration: int | None
    profit_factor: float
    expectancy_pct: float
    sqn: float


def compute_stats(
    equity: Series[Decimal | float],
    trades: Sequence[Trade],
    closes: Series[float],
    *,
    risk_free_rate: float = 0.0,
    periods_per_year: float | None = None,
) -> BacktestStats:
    """Statistics of one equity curve and its closed trades.

    ``equity`` is (ts ns, equity) per bar, strictly increasing in time. ``closes`` is (ts ns,
    close) for the buy & hold return, measured from its first close to its last: start it at the
    first bar the strategy could trade (backtesting.py skips the indicators' warm-up bars). Either
    may be given as :class:`Columns` instead of rows, with the same result.
    ``periods_per_year`` overrides the inferred annualisation factor; returns are still measured
    per inferred calendar period. Trades map to bars through ``entry_bar``/``exit_bar`` when set,
    else through the last bar stamped at or before their entry and exit times.
    """
    _check_settings(risk_free_rate, periods_per_year)
    curve = _equity_curve(equity)
    unit = resolution(bar_spacing(curve.times))
    closed = tuple(trades)
    annual = _annualised(curve, risk_free_rate, periods_per_year)
    drawdowns = _drawdowns(curve, unit)
    figures = _trade_figures(closed, unit)
    first, last = curve.values[0], curve.values[-1]
    with np.errstate(all="ignore"):
        return_pct = float((last - first) / first * 100)
        calmar = float(np.float64(annual.annual_return) / _or_nan(drawdowns.max_fraction))
    start, end = int(curve.times[0]), int(curve.times[-1])
    return BacktestStats(
        start=start,
        end=end,
        duration=end - start,
        exposure_time_pct=_exposure_pct(curve.times, closed),
        equity_final=curve.final,
        equity_peak=curve.peak,
        return_pct=return_pct,
        buy_hold_return_pct=_buy_hold_pct(closes),
        return_ann_pct=annual.return_pct,
        volatility_ann_pct=annual.volatility_pct,
        sharpe_ratio=annual.sharpe,
        sortino_ratio=annual.sortino,
        calmar_ratio=calmar,
        max_drawdown_pct=-drawdowns.max_fraction * 100,
        avg_drawdown_pct=drawdowns.avg_pct,
        max_drawdown_duration=drawdowns.max_duration,
        avg_drawdown_duration=drawdowns.avg_duration,
        n_trades=len(closed),
        win_rate_pct=figures.win_rate_pct,
        best_trade_pct=figures.best_pct,
        worst_trade_pct=figures.worst_pct,
        avg_trade_pct=figures.avg_pct,
        max_trade_duration=figures.max_duration,
        avg_trade_duration=figures.avg_duration,
        profit_factor=figures.profit_factor,
        expectancy_pct=figures.expectancy_pct,
        sqn=figures.sqn,
        trades=closed,
    )


# --- inputs ---------------------------------------------------------------------------------


def _check_settings(risk_free_rate: float, periods_per_year: float | None) -> None:
    if not -1 < risk_free_rate < 1:
        raise ConfigError(f"risk_free_rate must be a fraction in (-1, 1), got {risk_free_rate!r}")
    if periods_per_year is not None and not (
        math.isfinite(periods_per_year) and periods_per_year > 0
    ):
        raise ConfigError(f"periods_per_year must be positive, got {periods_per_year!r}")


def _equity_curve(equity: Series[Decimal | float]) -> _Curve:
    """The curve as columns, each converted in one pass rather than row by row."""
    times = _time_column(equity, _int_stamps)
    if not len(times):
        raise DataError("the equity curve is empty: it needs at least one (ts, equity) point")
    require_increasing(times, "equity")
    money = _value_column(equity)
    values = _equity_values(money, times)
    return _Curve(times, values, money[-1], _peak(money, values))


def _time_column(
    series: Series[_V], by_rows: Callable[[Iterator[Any]], list[Any]]
) -> npt.NDArray[np.int64]:
    """The timestamps as int64, in one pass (none for an int64 array).

    Should that fail (a row not a pair, a stamp that is no integer), ``by_rows`` reads the stamps
    again as the row-by-row code did, and so raises that code's error for its first bad row.
    """
    if isinstance(series, Columns) and _is_array(series.times, np.int64):
        return series.times
    try:
        return np.fromiter(_stamps(series), np.int64, len(series))
    except _CONVERSION_ERRORS:
        return np.asarray(by_rows(_stamps(series)), dtype=np.int64)


def _stamps(series: Series[_V]) -> Iterator[Any]:
    return iter(series.times) if isinstance(series, Columns) else (ts for ts, _ in series)


def _int_stamps(stamps: Iterator[Any]) -> list[int]:
    """Equity timestamps as the row-by-row code read them: ``int()`` of each, in order."""
    return [int(ts) for ts in stamps]


def _is_array(column: object, dtype: type[np.generic]) -> TypeGuard[npt.NDArray[Any]]:
    return isinstance(column, np.ndarray) and column.dtype == dtype


def _value_column(series: Series[_V]) -> _Values[_V]:
    return series.values if isinstance(series, Columns) else _RowValues(series)


class _Values(Protocol[_V_co]):
    """What is read of a column of values: its length, its items in order, and single items."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[_V_co]: ...

    def __getitem__(self, index: int, /) -> _V_co: ...


class _RowValues(Generic[_V]):
    """The values of (ts, value) rows, read in place: iterating them maps ``itemgetter`` over the
    rows, without a Python call per row."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Sequence[tuple[int, _V]]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[_V]:
        return map(itemgetter(1), self._rows)

    def __getitem__(self, index: int, /) -> _V:
        return self._rows[index][1]


def _equity_values(money: _Values[Decimal | float], times: npt.NDArray[np.int64]) -> FloatArray:
    """Every equity value as a float, in one pass while every value converts and is finite.

    ``math.ldexp(value, 0)`` is ``float(value)`` for any real number and, like
    :func:`math.isfinite`, refuses anything else (a str, which ``float()`` would parse). Any
    failure sends the values through the row-by-row check, which raises for the first bad one; a
    Decimal too large for a float is finite though its float is not, and passes that check.
    """
    try:
        values = np.fromiter(map(math.ldexp, money, repeat(0)), np.float64, len(money))
    except _CONVERSION_ERRORS:
        return _values_by_rows(money, times)
    if not np.isfinite(values).all():
        return _values_by_rows(money, times)
    return values


def _values_by_rows(money: _Values[Decimal | float], times: npt.NDArray[np.int64]) -> FloatArray:
    """The values checked one by one: raises for the first that is not a finite number."""
    for index, value in enumerate(money):
        if not _is_finite(value):
            raise DataError(f"equity #{index} at {int(times[index])} is not finite: {value}")
    return np.array([float(value) for value in money], dtype=np.float64)


def _is_finite(value: Decimal | float) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _peak(money: _Values[Decimal | float], values: FloatArray) -> Decimal | float:
    """The largest equity value as given, the first of equal ones (what ``max`` returns).

    ``float()`` rounds correctly, so it never reverses an order: the largest value is among the
    rows whose float is the largest, and only those are compared exactly.
    """
    top = np.flatnonzero(values == values.max())
    return max(money[index] for index in top.tolist())


def _buy_hold_pct(closes: Series[float]) -> float:
    """Long-only return from the first close to the last, in percent."""
    stamps = _time_column(closes, list)
    if not len(stamps):
        raise DataError("closes are empty: buy & hold needs at least one (ts, close) point")
    require_increasing(stamps, "close")
    prices = _price_column(_value_column(closes))
    if not np.all(np.isfinite(prices)):
        raise DataError(f"closes must be finite, found {prices[~np.isfinite(prices)][0]}")
    with np.errstate(all="ignore"):
        return float((prices[-1] - prices[0]) / prices[0] * 100)


def _price_column(values: _Values[float]) -> FloatArray:
    """The closes as float64 in one pass (none for a float64 array), each converted as
    ``np.array(list, dtype=np.float64)`` converts it; on failure by that very call."""
    if _is_array(values, np.float64):
        return values
    try:
        return np.fromiter(values, np.float64, len(values))
    except _CONVERSION_ERRORS:
        return np.array(list(values), dtype=np.float64)


# --- returns and risk -----------------------------------------------------------------------


def _annualised(curve: _Curve, risk_free_rate: float, periods: float | None) -> _Annual:
    calendar = calendar_for(bar_spacing(curve.times))
    per_year = periods if periods is not None else infer_periods_per_year(curve.times, calendar)
    returns = _pct_change(last_per_period(curve.times, curve.values, calendar))
    growth = np.float64(1 + _geometric_mean(returns))
    with np.errstate(all="ignore"):
        annual = growth**per_year - 1
        variance = np.var(returns, ddof=1) if len(returns) > 1 else np.float64(NAN)
        compounded_variance = (variance + growth**2) ** per_year - growth ** (2 * per_year)
        volatility_pct = np.sqrt(compounded_variance) * 100
        return_pct = annual * 100
        sharpe = (return_pct - risk_free_rate * 100) / _or_nan(float(volatility_pct))
        downside = _root_mean_square(np.minimum(returns, 0)) * np.sqrt(per_year)
        sortino = (annual - risk_free_rate) / downside
    return _Annual(
        float(annual), float(return_pct), float(volatility_pct), float(sharpe), float(sortino)
    )


def _pct_change(values: FloatArray) -> FloatArray:
    """Simple returns between consecutive values, dropping NaN (0/0) but keeping infinities."""
    with np.errstate(all="ignore"):
        returns = values[1:] / values[:-1] - 1
    return returns[~np.isnan(returns)]


def _geometric_mean(returns: FloatArray) -> float:
    """Per-period compounded mean return; 0 once any return wipes out the capital, NaN if none."""
    if not len(returns):
        return NAN
    growth = returns + 1
    if np.any(growth <= 0):
        return 0.0
    with np.errstate(all="ignore"):
        return float(np.exp(np.log(growth).sum() / len(growth)) - 1)


def _root_mean_square(values: FloatArray) -> np.float64:
    if not len(values):
        return np.float64(NAN)
    return np.float64(np.sqrt(np.mean(values**2)))


def _or_nan(value: float) -> np.float64:
    """Zero becomes NaN so that a ratio over it is undefined rather than infinite."""
    return np.float64(value if value else NAN)


# --- drawdowns ------------------------------------------------------------------------------


def _drawdowns(curve: _Curve, unit: int) -> _Drawdowns:
    values = curve.values
    with np.errstate(all="ignore"):
        drawdown = 1 - values / np.maximum.accumulate(values)
    max_fraction = float(np.nan_to_num(drawdown.max()))
    starts, ends = _episodes(drawdown)
    if not len(starts):
        # No episode: backtesting.py averages the non-zero drawdowns and has no duration.
        return _Drawdowns(max_fraction, -_nan_mean(drawdown[drawdown != 0]) * 100, None, None)
    durations = (curve.times[ends] - curve.times[starts]).tolist()
    return _Drawdowns(
        max_fraction,
        -float(np.mean(_episode_peaks(drawdown, starts, ends))) * 100,
        ceil_to(max(durations), unit),
        ceil_mean(durations, unit),
    )


def _episodes(drawdown: FloatArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First and last bar of each drawdown: consecutive bars at a peak (or the final bar) with at
    least one bar between them."""
    marks = np.unique(np.append(np.flatnonzero(drawdown == 0), len(drawdown) - 1))
    starts, ends = marks[:-1], marks[1:]
    apart = ends > starts + 1
    return starts[apart], ends[apart]


def _episode_peaks(
    drawdown: FloatArray, starts: npt.NDArray[np.intp], ends: npt.NDArray[np.intp]
) -> FloatArray:
    """``np.nanmax`` of each episode's bars, first to last inclusive, in one ``reduceat``.

    ``nanmax`` is ``fmax.reduce``; reducing at the interleaved bounds (start, last + 1, ...) gives
    each episode at the even positions (the odd ones, between episodes, are dropped). A NaN pad
    keeps the final bound inside the array, and ``fmax`` ignores it. The result is contiguous,
    like the array once built episode by episode, so that ``np.mean`` sums it the same way.
    """
    padded = np.append(drawdown, np.nan)
    bounds = np.column_stack((starts, ends + 1)).ravel()
    return np.ascontiguousarray(np.fmax.reduceat(padded, bounds)[::2])


def _nan_mean(values: FloatArray) -> float:
    present = values[~np.isnan(values)]
    return float(np.mean(present)) if len(present) else NAN


# --- trades ---------------------------------------------------------------------------------


def _exposure_pct(times: npt.NDArray[np.int64], trades: Sequence[Trade]) -> float:
    """Share of bars, in percent, from some trade's entry bar to its exit bar inclusive."""
    bars = _BarTimes(times)
    spans = [_bar_span(trade, bars) for trade in trades]
    return float(_held(spans, len(times)).mean() * 100)


def _held(spans: list[tuple[int, int]], count: int) -> npt.NDArray[np.bool_]:
    """Which of ``count`` bars lie in some (first, last) span: spans opened minus spans closed
    up to each bar, as a running sum, rather than marking each span's bars in turn.

    Bar numbers that are not integers (a float ``entry_bar``) are marked span by span, which
    refuses them as slicing does; so are no spans, whose array is of floats.
    """
    bounds = np.array(spans).reshape(-1, 2)
    if bounds.dtype.kind not in "iub":
        return _marked(spans, count)
    opened = np.bincount(bounds[:, 0], minlength=count + 1)
    closed = np.bincount(bounds[:, 1] + 1, minlength=count + 1)
    inside: npt.NDArray[np.bool_] = np.cumsum(opened[:count] - closed[:count]) > 0
    return inside


def _marked(spans: list[tuple[int, int]], count: int) -> npt.NDArray[np.bool_]:
    held = np.zeros(count, dtype=bool)
    for entry, exit_ in spans:
        held[entry : exit_ + 1] = True
    return held


class _BarTimes:
    """The bar timestamps for placing trades; a list to search only once a trade needs one."""

    def __init__(self, times: npt.NDArray[np.int64]) -> None:
        self.count = len(times)
        self.last = int(times[-1])
        self._times = times
        self._listed: list[int] | None = None

    def at(self, ts: int, what: str) -> int:
        if self._listed is None:
            self._listed = self._times.tolist()
        return bar_at(self._listed, ts, what)


def _bar_span(trade: Trade, bars: _BarTimes) -> tuple[int, int]:
    what = f"trade {trade.strategy_id}/{trade.symbol} entered at {trade.entry_time}"
    if trade.exit_time > bars.last and trade.exit_bar is None:
        raise DataError(f"{what} exits at {trade.exit_time}, after the last bar ({bars.last})")
    entry = trade.entry_bar
    if entry is None:
        entry = bars.at(trade.entry_time, what)
    exit_ = trade.exit_bar
    if exit_ is None:
        exit_ = bars.at(trade.exit_time, what)
    if not 0 <= entry <= exit_ < bars.count:
        raise DataError(f"{what} spans bars {entry}..{exit_}, outside 0..{bars.count - 1}")
    return entry, exit_


def _trade_figures(trades: Sequence[Trade], unit: int) -> _TradeFigures:
    if not trades:
        return _TradeFigures(NAN, NAN, NAN, NAN, None, None, NAN, NAN, NAN)
    pnl = np.array([float(trade.pnl) for trade in trades], dtype=np.float64)
    returns = np.array([trade.return_pct for trade in trades], dtype=np.float64)
    durations = [trade.duration for trade in trades]
    with np.errstate(all="ignore"):
        profit_factor = returns[returns > 0].sum() / _or_nan(abs(returns[returns < 0].sum()))
        spread = float(np.std(pnl, ddof=1)) if len(pnl) > 1 else NAN
        sqn = math.sqrt(len(pnl)) * np.mean(pnl) / _or_nan(spread)
    return _TradeFigures(
        win_rate_pct=float(np.mean(pnl > 0)) * 100,
        best_pct=float(returns.max()) * 100,
        worst_pct=float(returns.min()) * 100,
        avg_pct=_geometric_mean(returns) * 100,
        max_duration=ceil_to(max(durations), unit),
        avg_duration=ceil_mean(durations, unit),
        profit_factor=float(profit_factor),
        expectancy_pct=float(np.mean(returns)) * 100,
        sqn=float(sqn),
    )
