"""Time handling for backtest statistics: ns timestamps in, calendar periods and durations out.

Timestamps are ns since the Unix epoch in UTC. The rules mirror how backtesting.py 0.6.6 reads a
pandas ``DatetimeIndex`` (median bar spacing, weekend share, calendar resampling, durations rounded
up to the data's resolution), written here on plain integers and numpy so that pandas is not a
runtime dependency.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum

import numpy as np
import numpy.typing as npt

from tickmesh.core.errors import DataError

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND

# Units a duration is rounded up to, finest first: the finest non-zero component of the bar
# spacing picks one (pandas ``Timedelta.resolution_string``).
_UNITS_NS = (
    1,
    1_000,
    1_000_000,
    NS_PER_SECOND,
    60 * NS_PER_SECOND,
    3_600 * NS_PER_SECOND,
    NS_PER_DAY,
)
_SPACING_SAMPLE = 100
"""backtesting.py infers the bar spacing from the last 100 timestamps."""

_WEEKEND_SHARE = 2 / 7 * 0.6
"""Above this share of bars on Saturday or Sunday the market trades every day of the year."""

_EPOCH_WEEKDAY = 3
"""1970-01-01 was a Thursday (Monday is 0)."""


class Calendar(Enum):
    """The calendar period returns are measured over, picked from the bar spacing."""

    DAY = "D"
    WEEK = "W"
    MONTH = "ME"
    YEAR = "YE"


def require_increasing(times: Sequence[int] | npt.NDArray[np.int64], what: str) -> None:
    """Raise :class:`DataError` naming the first timestamp that is not after the one before."""
    stamps = np.asarray(times, dtype=np.int64)
    late = np.flatnonzero(np.diff(stamps) <= 0)
    if len(late):
        index = int(late[0]) + 1
        raise DataError(
            f"{what} timestamps must increase strictly: #{index} ({stamps[index]}) is not "
            f"after #{index - 1} ({stamps[index - 1]})"
        )


def bar_at(times: Sequence[int], ts: int, what: str) -> int:
    """Index of the last bar stamped at or before ``ts`` (the bar a fill at ``ts`` happened in)."""
    index = bisect_right(times, ts) - 1
    if index < 0:
        raise DataError(f"{what} at {ts} is before the first bar ({times[0]})")
    return index


def bar_spacing(times: npt.NDArray[np.int64]) -> int | None:
    """Median spacing of the last 100 bars in ns (truncated), or None for a single bar."""
    gaps = np.diff(times[-_SPACING_SAMPLE:])
    if not len(gaps):
        return None
    return int(np.median(gaps))


def resolution(spacing: int | None) -> int:
    """The unit durations are rounded up to: the finest non-zero component of ``spacing``."""
    if not spacing:
        return NS_PER_DAY
    return max(unit for unit in _UNITS_NS if spacing % unit == 0)


def ceil_to(value: int, unit: int) -> int:
    """``value`` rounded up to a multiple of ``unit``."""
    return -(-value // unit) * unit


def ceil_mean(values: Sequence[int], unit: int) -> int:
    """The exact mean of ``values`` rounded up to a multiple of ``unit``."""
    return -(-sum(values) // (len(values) * unit)) * unit


def calendar_for(spacing: int | None) -> Calendar:
    """Weekly, monthly or yearly bars are measured per week, month or year; the rest per day."""
    days = None if spacing is None else spacing // NS_PER_DAY
    return {7: Calendar.WEEK, 31: Calendar.MONTH, 365: Calendar.YEAR}.get(days or 0, Calendar.DAY)


def infer_periods_per_year(times: npt.NDArray[np.int64], calendar: Calendar) -> int:
    """52, 12 or 1 for weekly, monthly, yearly bars; else 365 when weekends trade, else 252."""
    fixed = {Calendar.WEEK: 52, Calendar.MONTH: 12, Calendar.YEAR: 1}
    if calendar in fixed:
        return fixed[calendar]
    weekday = (np.floor_divide(times, NS_PER_DAY) + _EPOCH_WEEKDAY) % 7
    return 365 if float(np.mean(weekday >= 5)) > _WEEKEND_SHARE else 252


def period_keys(times: npt.NDArray[np.int64], calendar: Calendar) -> npt.NDArray[np.int64]:
    """A number per timestamp that is equal exactly within one calendar period (UTC).

    Weeks run Monday to Sunday, as pandas' ``W`` (``W-SUN``) bins them.
    """
    days = np.floor_divide(times, NS_PER_DAY)
    if calendar is Calendar.DAY:
        return days
    if calendar is Calendar.WEEK:
        weeks: npt.NDArray[np.int64] = np.floor_divide(days + _EPOCH_WEEKDAY, 7)
        return weeks
    unit = "M" if calendar is Calendar.MONTH else "Y"
    return times.astype("datetime64[ns]").astype(f"datetime64[{unit}]").astype(np.int64)


def last_per_period(
    times: npt.NDArray[np.int64], values: npt.NDArray[np.float64], calendar: Calendar
) -> npt.NDArray[np.float64]:
    """The last value of each calendar period that has one, in time order."""
    keys = period_keys(times, calendar)
    is_last = np.append(keys[1:] != keys[:-1], True)
    last: npt.NDArray[np.float64] = values[is_last]
    return last


def format_duration(ns: int) -> str:
    """Like pandas prints a Timedelta: ``3 days 04:00:00``, fractions to 6 or 9 digits."""
    sign = "-" if ns < 0 else ""
    days, rest = divmod(abs(ns), NS_PER_DAY)
    seconds, fraction = divmod(rest, NS_PER_SECOND)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    text = f"{sign}{days} days {hour:02d}:{minute:02d}:{second:02d}"
    return text + _fraction(fraction)


def format_timestamp(ns: int) -> str:
    """ISO 8601 in UTC with a ``Z``, keeping sub-microsecond digits when there are any."""
    seconds, fraction = divmod(ns, NS_PER_SECOND)
    moment = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}{_fraction(fraction)}Z"


def _fraction(ns: int) -> str:
    if not ns:
        return ""
    if ns % 1_000:
        return f".{ns:09d}"
    return f".{ns // 1_000:06d}"
