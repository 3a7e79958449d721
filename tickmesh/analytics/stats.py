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
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple

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
    money: list[Decimal | float]


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
    equity: Sequence[tuple[int, Decimal | float]],
    trades: Sequence[Trade],
    closes: Sequence[tuple[int, float]],
    *,
    risk_free_rate: float = 0.0,
    periods_per_year: float | None = None,
) -> BacktestStats:
    """Statistics of one equity curve and its closed trades.

    ``equity`` is (ts ns, equity) per bar, strictly increasing in time. ``closes`` is (ts ns,
    close) for the buy & hold return, measured from its first close to its last: start it at the
    first bar the strategy could trade (backtesting.py skips the indicators' warm-up bars).
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
        equity_final=curve.money[-1],
        equity_peak=max(curve.money),
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


def _equity_curve(equity: Sequence[tuple[int, Decimal | float]]) -> _Curve:
    if not equity:
        raise DataError("the equity curve is empty: it needs at least one (ts, equity) point")
    times = [int(ts) for ts, _ in equity]
    require_increasing(times, "equity")
    money = [value for _, value in equity]
    for index, value in enumerate(money):
        if not _is_finite(value):
            raise DataError(f"equity #{index} at {times[index]} is not finite: {value}")
    values = np.array([float(value) for value in money], dtype=np.float64)
    return _Curve(np.array(times, dtype=np.int64), values, money)


def _is_finite(value: Decimal | float) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _buy_hold_pct(closes: Sequence[tuple[int, float]]) -> float:
    """Long-only return from the first close to the last, in percent."""
    if not closes:
        raise DataError("closes are empty: buy & hold needs at least one (ts, close) point")
    require_increasing([ts for ts, _ in closes], "close")
    prices = np.array([close for _, close in closes], dtype=np.float64)
    if not np.all(np.isfinite(prices)):
        raise DataError(f"closes must be finite, found {prices[~np.isfinite(prices)][0]}")
    with np.errstate(all="ignore"):
        return float((prices[-1] - prices[0]) / prices[0] * 100)


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
    episodes = _episodes(drawdown)
    if not episodes:
        # No episode: backtesting.py averages the non-zero drawdowns and has no duration.
        return _Drawdowns(max_fraction, -_nan_mean(drawdown[drawdown != 0]) * 100, None, None)
    durations = [int(curve.times[end] - curve.times[start]) for start, end in episodes]
    peaks = np.array([np.nanmax(drawdown[start : end + 1]) for start, end in episodes])
    return _Drawdowns(
        max_fraction,
        -float(np.mean(peaks)) * 100,
        ceil_to(max(durations), unit),
        ceil_mean(durations, unit),
    )


def _episodes(drawdown: FloatArray) -> list[tuple[int, int]]:
    """(first, last) bar of each drawdown: consecutive bars at a peak (or the final bar) with at
    least one bar between them."""
    marks = np.unique(np.append(np.flatnonzero(drawdown == 0), len(drawdown) - 1))
    return [(int(start), int(end)) for start, end in pairwise(marks) if end > start + 1]


def _nan_mean(values: FloatArray) -> float:
    present = values[~np.isnan(values)]
    return float(np.mean(present)) if len(present) else NAN


# --- trades ---------------------------------------------------------------------------------


def _exposure_pct(times: npt.NDArray[np.int64], trades: Sequence[Trade]) -> float:
    """Share of bars, in percent, from some trade's entry bar to its exit bar inclusive."""
    bar_times = [int(ts) for ts in times]
    held = np.zeros(len(bar_times), dtype=bool)
    for trade in trades:
        entry, exit_ = _bar_span(trade, bar_times)
        held[entry : exit_ + 1] = True
    return float(held.mean() * 100)


def _bar_span(trade: Trade, bar_times: list[int]) -> tuple[int, int]:
    what = f"trade {trade.strategy_id}/{trade.symbol} entered at {trade.entry_time}"
    if trade.exit_time > bar_times[-1] and trade.exit_bar is None:
        raise DataError(f"{what} exits at {trade.exit_time}, after the last bar ({bar_times[-1]})")
    entry = trade.entry_bar
    if entry is None:
        entry = bar_at(bar_times, trade.entry_time, what)
    exit_ = trade.exit_bar
    if exit_ is None:
        exit_ = bar_at(bar_times, trade.exit_time, what)
    if not 0 <= entry <= exit_ < len(bar_times):
        raise DataError(f"{what} spans bars {entry}..{exit_}, outside 0..{len(bar_times) - 1}")
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
