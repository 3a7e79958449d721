"""The strategy API: a :class:`Strategy` reacts to bars (and ticks) and speaks through its
:class:`StrategyContext`, which turns ``buy`` / ``sell`` / ``close`` into :class:`Signal` events.

A strategy instance trades one symbol on one timeframe. It never sees the bus, a clock or an
order: it states a wish (a signal) and the risk manager decides the size and whether to act.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from tickmesh.core.decimal import ZERO
from tickmesh.core.stamp import Stamper
from tickmesh.model import Bar, BarBatch, Fill, Side, Signal, Tick
from tickmesh.strategies.parameters import Parameter
from tickmesh.topics import timeframe_seconds


class StrategyContext:
    """One strategy instance's view of its symbol and its voice.

    ``position`` is the instance's current quantity (positive long, negative short), kept up to
    date from fills by the runner. Signals are priced at the latest bar close (or tick price)
    and stamped with that event's ``ts_event``; each signal's ``correlation_id`` is its own id,
    so risk, orders and fills can be traced back to it.
    """

    def __init__(
        self, stamper: Stamper, *, strategy_id: str, strategy: str, symbol: str, timeframe: str
    ) -> None:
        self.strategy_id = strategy_id
        self.strategy = strategy
        self.symbol = symbol
        self.timeframe = timeframe
        self.position: Decimal = ZERO
        self._stamper = stamper
        self._price: float | None = None
        self._ts_event = 0
        self._pending: list[Signal] = []

    @property
    def flat(self) -> bool:
        return self.position == ZERO

    @property
    def price(self) -> float | None:
        """The price signals are sent at: the latest bar close or tick price seen."""
        return self._price

    def buy(
        self, reason: str = "", stop_distance: float | None = None, quantity: Decimal | None = None
    ) -> None:
        """Ask to buy; ``quantity`` None leaves sizing to the risk manager."""
        self._emit(Side.BUY, reason, stop_distance, quantity, reduce_only=False)

    def sell(
        self, reason: str = "", stop_distance: float | None = None, quantity: Decimal | None = None
    ) -> None:
        """Ask to sell (opening or adding to a short when already flat or short)."""
        self._emit(Side.SELL, reason, stop_distance, quantity, reduce_only=False)

    def close(self, reason: str = "") -> None:
        """Ask to flatten the whole position (a reduce-only signal); nothing when flat."""
        if self.flat:
            return
        side = Side.SELL if self.position > ZERO else Side.BUY
        self._emit(side, reason, None, abs(self.position), reduce_only=True)

    # --- called by the runner -----------------------------------------------------------------

    def set_market(self, price: float, ts_event: int) -> None:
        """Record the event being handled: signals emitted now use its price and time."""
        self._price = price
        self._ts_event = ts_event

    def take_signals(self) -> list[Signal]:
        """The signals emitted since the last call, oldest first."""
        signals, self._pending = self._pending, []
        return signals

    def drop_signals(self) -> None:
        self._pending = []

    def apply_fill(self, fill: Fill) -> None:
        self.position += fill.quantity if fill.side is Side.BUY else -fill.quantity

    def _emit(
        self,
        side: Side,
        reason: str,
        stop_distance: float | None,
        quantity: Decimal | None,
        *,
        reduce_only: bool,
    ) -> None:
        if self._price is None:
            raise RuntimeError("signals need a price: call buy/sell/close from on_bar or on_tick")
        if quantity is not None and not (isinstance(quantity, Decimal) and quantity > ZERO):
            raise ValueError(f"quantity must be a positive Decimal, got {quantity!r}")
        if stop_distance is not None and not stop_distance > 0:
            raise ValueError(f"stop_distance must be positive, got {stop_distance!r}")
        stamp = self._stamper(self._ts_event)
        stamp["correlation_id"] = stamp["event_id"]
        self._pending.append(
            Signal(
                **stamp,
                strategy_id=self.strategy_id,
                strategy=self.strategy,
                symbol=self.symbol,
                side=side,
                price=self._price,
                timeframe=self.timeframe,
                reduce_only=reduce_only,
                quantity=quantity,
                stop_distance=stop_distance,
                reason=reason,
            )
        )


class Strategy:
    """Base of every strategy. Subclasses set ``name``, declare parameters as class attributes
    and override ``on_start`` (create indicators) and ``on_bar`` (decide).

    Constructing with ``params`` validates every value against its declared range; missing
    ones take their defaults; unknown names are an error. ``check_params`` adds checks that
    span parameters. All of these raise ``ValueError`` naming the parameter.
    """

    name: ClassVar[str] = ""
    timeframe: str = "1m"

    def __init__(
        self, params: Mapping[str, object] | None = None, *, timeframe: str | None = None
    ) -> None:
        self._params: dict[str, Any] = self._resolve(dict(params or {}))
        if timeframe is not None:
            timeframe_seconds(timeframe)
            self.timeframe = timeframe
        self.check_params()

    @classmethod
    def parameters(cls) -> dict[str, Parameter[Any]]:
        """The declared parameters by name, base classes first, in declaration order."""
        return {
            attr: value
            for klass in reversed(cls.__mro__)
            for attr, value in vars(klass).items()
            if isinstance(value, Parameter)
        }

    @classmethod
    def _resolve(cls, params: dict[str, object]) -> dict[str, Any]:
        declared = cls.parameters()
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) for strategy {cls.name!r}: {', '.join(unknown)}; "
                f"known: {', '.join(declared) or 'none'}"
            )
        return {
            key: param.validate(params[key]) if key in params else param.default
            for key, param in declared.items()
        }

    @property
    def params(self) -> dict[str, Any]:
        """A copy of the resolved parameter values."""
        return dict(self._params)

    def check_params(self) -> None:
        """Cross-parameter checks; raise ``ValueError`` naming the parameters. Default: none."""

    def warmup_bars(self) -> int:
        """Bars its indicators spend warming up before a signal can form, counted as
        backtesting.py counts them (leading bars its longest indicator is undefined for);
        reports measure buy & hold from there."""
        return 0

    def on_start(self, ctx: StrategyContext) -> None:
        """Called once before the first event; create indicators here."""

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> None:
        """Called for every closed bar of this instance's symbol and timeframe."""

    def on_tick(self, tick: Tick, ctx: StrategyContext) -> None:
        """Called for every trade of this instance's symbol. Default: ignore."""

    # --- fast-forward, for replays ---------------------------------------------------------

    def candidates(self, bars: BarBatch) -> npt.NDArray[np.int64] | None:
        """The indexes of the bars in ``bars`` (this instance's whole series, from its first
        bar) on which :meth:`on_bar` may emit a signal, whatever the position; or None, the
        default, when the strategy cannot tell. A replay then hands every other bar to
        :meth:`fast_forward` in runs instead of to :meth:`on_bar` one by one. Returning more
        indexes than needed is safe; missing one is a wrong backtest."""
        return None

    def fast_forward(self, bars: BarBatch) -> None:
        """Leave the state that :meth:`on_bar` with each of ``bars`` would leave; none of them
        is a candidate. Required of strategies whose :meth:`candidates` returns indexes."""
        raise NotImplementedError(f"strategy {self.name!r} cannot fast-forward")
