"""The bar-by-bar simulation behind every sweep: one strategy rule plus backtesting.py's
default broker, run for many parameter sets in parallel.

Fill model (backtesting.py 0.6.6's ``Backtest`` defaults, mirrored operation for operation so
the floats agree): a rule decides on bar i's close; the order fills at bar i+1's open. A
reversal first closes the open trade, then opens the new one. An entry is all-in: whole units,
``int((cash * (1 - eps)) // (open + commission per unit))``, cancelled when that is zero.
Commission is a fraction of traded value, charged on entry and on exit. Equity is marked at
every close; if it reaches zero or below the trade is closed at that close and the account
stays at zero (backtesting.py's "out of money"). No leverage, no spread.

Rules see only the sign of the position and the indicator rows, and return a target: LONG,
FLAT, SHORT, or KEEP (no order). A target equal to the current side is no order either,
which is how "buy only when flat" and "close only when long" read here.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from tickmesh.backtest.sweep_jit import jit, jit_parallel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Book = tuple[float, float, float, float, int, int]
"""The account: cash, signed size, entry price, entry commission, entry bar, trades entered."""
Marks = tuple[float, float, float, float, float, float]
"""Metric state: last equity, peak, trough since the peak, deepest drawdown, sum of returns,
sum of squared returns."""

SMA_CROSS, DONCHIAN_BREAKOUT, RSI_REVERSION = 0, 1, 2
"""Rule codes."""

SHORT, FLAT, LONG, KEEP = -1, 0, 1, 2
"""Targets a rule returns."""

FINAL_EQUITY, N_TRADES, RETURN_PCT, MAX_DRAWDOWN_PCT, SHARPE = 0, 1, 2, 3, 4
METRICS = 5
"""Columns of a metrics row."""

ENTRY_BAR, EXIT_BAR, ENTRY_PRICE, EXIT_PRICE, SIZE, PNL, COMMISSION = 0, 1, 2, 3, 4, 5, 6
TRADE_FIELDS = 7
"""Columns of a recorded trade; an exit bar of -1 marks the trade still open at the end."""

FULL_EQUITY = 1.0 - 2.220446049250313e-16
"""backtesting.py's default order size: "all of the available margin" (``1 - eps``)."""


# --- rules ------------------------------------------------------------------------------------


@jit
def _sma_cross(fast0: float, slow0: float, fast: float, slow: float, allow_short: float) -> int:
    """SmaCross: a strict crossover of the two SMAs (``Crossover``): up -> long; down -> short
    when shorting is allowed, else flat."""
    if fast0 < slow0 and fast > slow:
        return LONG
    if fast0 > slow0 and fast < slow:
        return SHORT if allow_short != 0.0 else FLAT
    return KEEP


@jit
def _donchian_breakout(pos: int, close: float, upper: float, lower: float) -> int:
    """DonchianBreakout: while long, exit on a close below the exit channel's low; while flat,
    enter on a close above the entry channel's high."""
    if pos > 0 and close < lower:
        return FLAT
    if pos == 0 and close > upper:
        return LONG
    return KEEP


@jit
def _rsi_reversion(pos: int, rsi0: float, rsi: float, lower: float, upper: float) -> int:
    """RsiReversion: while long, exit once RSI is above ``upper``; while flat, enter when RSI
    crosses below ``lower`` (previous above, current below)."""
    if pos > 0 and rsi > upper:
        return FLAT
    if pos == 0 and rsi0 > lower > rsi:
        return LONG
    return KEEP


@jit
def _target(
    rule: int,
    pos: int,
    close: float,
    a0: float,
    b0: float,
    a: float,
    b: float,
    x: float,
    y: float,
) -> int:
    """The rule's target on this bar from the indicator rows' previous (``a0``, ``b0``) and
    current (``a``, ``b``) values. Scalars only: passing arrays to a helper costs a reference
    count update per call, which would dominate the per-bar work."""
    if rule == SMA_CROSS:
        return _sma_cross(a0, b0, a, b, x)
    if rule == DONCHIAN_BREAKOUT:
        return _donchian_breakout(pos, close, a, b)
    return _rsi_reversion(pos, a0, a, x, y)


# --- broker -----------------------------------------------------------------------------------


@jit
def _commission(size: float, price: float, rate: float) -> float:
    return abs(size) * price * rate


@jit
def all_in_units(cash: float, price: float, rate: float) -> float:
    """Whole units an all-in entry buys (or sells short) at ``price``; 0 when it is cancelled
    (backtesting.py: not even one unit affordable, or the rounded size costs more than the
    margin available)."""
    margin = cash if cash > 0.0 else 0.0
    per_unit = price + _commission(FULL_EQUITY, price, rate) / FULL_EQUITY
    units = _floor_divide(margin * 1.0 * FULL_EQUITY, per_unit)
    if units * per_unit > margin * 1.0:
        return 0.0
    return units


@jit
def _floor_divide(num: float, den: float) -> float:
    """Python's ``num // den`` for finite ``num >= 0``, ``den > 0``: the floor of the exact
    quotient. The rounded quotient's floor is that whenever no integer lies within its rounding
    error (relative 2**-53); only then is Python's slower remainder-based division needed."""
    quotient = num / den
    whole = math.floor(quotient)
    fraction = quotient - whole
    margin = quotient * 2.0**-50
    if margin < fraction < 1.0 - margin:
        return whole
    return num // den


@jit
def _close_out(price: float, book: Book, rate: float) -> tuple[float, float, float]:
    """Close the open trade at ``price``: (new cash, trade PnL net of both commissions, both
    commissions)."""
    cash, size, entry, entry_fee, _, _ = book
    exit_fee = _commission(size, price, rate)
    gross = size * (price - entry)
    fees = exit_fee + entry_fee
    return cash + (gross - exit_fee), gross - fees, fees


@jit
def _open(target: int, i: int, price: float, cash: float, n_trades: int, rate: float) -> Book:
    """Open an all-in trade on ``target``'s side at ``price`` if affordable; else stay flat."""
    units = all_in_units(cash, price, rate)
    if units == 0.0:
        return cash, 0.0, 0.0, 0.0, -1, n_trades
    size = units * target
    entry_fee = _commission(size, price, rate)
    return cash - entry_fee, size, price, entry_fee, i, n_trades + 1


@jit
def _opens(target: int) -> bool:
    """Whether ``target`` is a side (LONG or SHORT), not FLAT or KEEP."""
    return abs(target) == 1


@jit
def _side(size: float) -> int:
    return (size > 0.0) - (size < 0.0)


@jit
def _write_trade(
    trades: FloatArray, book: Book, exit_bar: int, exit_price: float, pnl: float, fees: float
) -> None:
    """Row ``n_trades - 1`` of ``trades``: the trade in ``book``, closed (or, with exit bar -1
    and a NaN exit price, still open)."""
    _, size, entry, _, entry_bar, n_trades = book
    row = trades[n_trades - 1]
    row[ENTRY_BAR], row[EXIT_BAR], row[ENTRY_PRICE] = entry_bar, exit_bar, entry
    row[EXIT_PRICE], row[SIZE], row[PNL], row[COMMISSION] = exit_price, size, pnl, fees


# --- metrics ----------------------------------------------------------------------------------


@jit
def _deeper(worst: float, trough: float, peak: float) -> float:
    """The deepest drawdown so far, given the lowest equity since the current peak. Taking the
    trough once per peak equals taking ``1 - equity / peak`` on every bar: correctly rounded
    division is monotonic."""
    if trough < peak:
        depth = 1.0 - trough / peak
        if depth > worst:
            return depth
    return worst


@jit
def _mark(acc: Marks, equity: float) -> Marks:
    """Account for one bar's closing equity: its simple return, running peak and trough."""
    previous, peak, trough, worst, total, total_sq = acc
    if equity != previous:
        change = equity / previous - 1.0
        total += change
        total_sq += change * change
    if equity > peak:
        worst = _deeper(worst, trough, peak)
        peak = trough = equity
    elif equity < trough:
        trough = equity
    return equity, peak, trough, worst, total, total_sq


@jit
def _sharpe(total: float, total_sq: float, count: int, periods_per_year: float) -> float:
    """Mean over population standard deviation of per-bar returns, times
    ``sqrt(periods_per_year)``; 0 when the returns do not vary."""
    mean = total / count
    variance = total_sq / count - mean * mean
    if not variance > 0.0:
        return 0.0
    return mean / math.sqrt(variance) * math.sqrt(periods_per_year)


# --- simulation -------------------------------------------------------------------------------


@jit
def simulate(  # noqa: C901  (one body on purpose, see the docstring)
    rule: int,
    open_: FloatArray,
    close: FloatArray,
    a: FloatArray,
    b: FloatArray,
    x: float,
    y: float,
    cash0: float,
    rate: float,
    periods_per_year: float,
    record: bool,
    trades: FloatArray,
    equity: FloatArray,
) -> tuple[float, float, float, float, float]:
    """Run one parameter set over every bar. With ``record``, fills ``trades`` (one row per
    trade; it needs at least as many rows as trades) and ``equity`` (one value per bar).
    Returns the metrics row: final equity, trades entered, return %, max drawdown % (zero or
    negative, as backtesting.py reports it), sharpe.

    The bars run in stretches: while flat only the rule runs (equity is cash, so no metric
    moves); while in a trade equity is marked every bar. Every array access stays in this one
    body: passing an array to a helper costs two atomic reference-count updates per call,
    which at one call per trade cost more than the bars themselves.
    """
    n = close.shape[0]
    book: Book = (cash0, 0.0, 0.0, 0.0, -1, 0)
    acc: Marks = (cash0, cash0, cash0, 0.0, 0.0, 0.0)
    pending, i, a0, b0 = KEEP, 0, np.nan, np.nan
    while i < n:
        if pending != KEEP and book[1] != 0.0 and pending != _side(book[1]):
            cash, pnl, fees = _close_out(open_[i], book, rate)
            if record:
                _write_trade(trades, book, i, open_[i], pnl, fees)
            book = (cash, 0.0, 0.0, 0.0, -1, book[5])
        if _opens(pending) and book[1] == 0.0:
            book = _open(pending, i, open_[i], book[0], book[5], rate)
        cash, size, j = book[0], book[1], i
        if size == 0.0 and cash <= 0.0:
            book, acc = _ruined_flat(i, book, acc, record, equity)
            break
        if size == 0.0:
            acc = _mark(acc, cash)
            while j < n:
                pending = _target(rule, 0, close[j], a0, b0, a[j], b[j], x, y)
                a0, b0 = a[j], b[j]
                if _opens(pending):
                    break
                j += 1
            if record:
                equity[i : j + 1] = cash
        else:
            side, basis = _side(size), size * book[2]
            while j < n:
                value = cash + (close[j] * size - basis)
                if value <= 0.0:
                    book, acc = _ruin(j, close[j], book, acc, rate, record, trades, equity)
                    j = n
                    break
                acc = _mark(acc, value)
                if record:
                    equity[j] = value
                pending = _target(rule, side, close[j], a0, b0, a[j], b[j], x, y)
                a0, b0 = a[j], b[j]
                if pending not in (KEEP, side):
                    break
                j += 1
        i = j + 1
    if record and book[1] != 0.0:
        pnl = book[1] * (close[n - 1] - book[2]) - book[3]
        _write_trade(trades, book, -1, np.nan, pnl, book[3])
    final, worst = acc[0], _deeper(acc[3], acc[2], acc[1])
    return (
        final,
        float(book[5]),
        (final - cash0) / cash0 * 100.0,
        0.0 - worst * 100.0,
        _sharpe(acc[4], acc[5], n - 1, periods_per_year),
    )


@jit
def _ruin(
    i: int,
    price: float,
    book: Book,
    acc: Marks,
    rate: float,
    record: bool,
    trades: FloatArray,
    equity: FloatArray,
) -> tuple[Book, Marks]:
    """Equity reached zero or below at bar ``i``'s close: close the trade there; the account
    holds zero from then on (backtesting.py stops the run). Called at most once per run, like
    :func:`_ruined_flat`."""
    _, pnl, fees = _close_out(price, book, rate)
    if record:
        _write_trade(trades, book, i, price, pnl, fees)
        equity[i:] = 0.0
    return (0.0, 0.0, 0.0, 0.0, -1, book[5]), _mark(acc, 0.0)


@jit
def _ruined_flat(
    i: int, book: Book, acc: Marks, record: bool, equity: FloatArray
) -> tuple[Book, Marks]:
    """A close at bar ``i``'s open lost more than the account held: out of money, flat."""
    if record:
        equity[i:] = 0.0
    return (0.0, 0.0, 0.0, 0.0, -1, book[5]), _mark(acc, 0.0)


@jit_parallel
def sweep(
    rule: int,
    open_: FloatArray,
    close: FloatArray,
    rows: FloatArray,
    row_a: IntArray,
    row_b: IntArray,
    xs: FloatArray,
    ys: FloatArray,
    cash0: float,
    rate: float,
    periods_per_year: float,
) -> FloatArray:
    """Metrics for every parameter set k (indicator rows ``rows[row_a[k]]``,
    ``rows[row_b[k]]``, scalars ``xs[k]``, ``ys[k]``), parallel over sets."""
    out = np.empty((row_a.shape[0], METRICS))
    no_trades = np.empty((0, TRADE_FIELDS))
    no_equity = np.empty(0)
    for k in numba.prange(row_a.shape[0]):
        metrics = simulate(
            rule,
            open_,
            close,
            rows[row_a[k]],
            rows[row_b[k]],
            xs[k],
            ys[k],
            cash0,
            rate,
            periods_per_year,
            False,
            no_trades,
            no_equity,
        )
        for column in range(METRICS):
            out[k, column] = metrics[column]
    return out
