"""The typed configuration of a tickmesh process, with defaults that run with nothing installed.

Every section rejects unknown keys, so a typo fails at start-up instead of silently falling back
to a default. Values come, highest first, from explicit overrides, ``TICKMESH_*`` environment
variables (``__`` separates nested keys: ``TICKMESH_RISK__RISK_FRACTION=0.01``), a TOML file
(see :mod:`tickmesh.config.loader`), then the defaults below. The default session replays the
bundled EURUSD 1h and GOOGL 1d history plus three synthetic symbols, paper trading only.
"""

from __future__ import annotations

from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tickmesh.topics import timeframe_seconds, validate_namespace

OnError = Literal["stop", "skip"]
BUS_SCHEMES = ("memory", "redis", "rediss", "nats", "kafka")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

PositiveDecimal = Annotated[Decimal, Field(gt=0)]
NonNegativeDecimal = Annotated[Decimal, Field(ge=0)]
Percent = Annotated[float, Field(gt=0, le=100)]
Seconds = Annotated[float, Field(gt=0)]

# The file layer of the current load_settings call; empty when Settings() is built directly.
file_layer: ContextVar[dict[str, Any] | None] = ContextVar("tickmesh_config_file", default=None)


class Section(BaseModel):
    """Base of every config section: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timeframe(value: str) -> str:
    timeframe_seconds(value)
    return value


# --- feed -------------------------------------------------------------------------------------


class BundledSource(Section):
    """Replay a dataset shipped with tickmesh (``EURUSD_1h``, ``GOOGL_1d``)."""

    kind: Literal["bundled"] = "bundled"
    name: str
    speed: float = Field(
        default=0.0, ge=0, description="replay speed multiple; 0 = as fast as possible"
    )
    on_error: OnError = "stop"


class FileSource(Section):
    """Replay bars (``timeframe`` set) or ticks (``timeframe`` unset) from a CSV or Parquet file."""

    kind: Literal["csv", "parquet"]
    path: Path
    symbol: str = Field(min_length=1)
    timeframe: str | None = None
    speed: float = Field(default=0.0, ge=0)
    on_error: OnError = "stop"

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str | None) -> str | None:
        return None if value is None else _check_timeframe(value)


class SyntheticSource(Section):
    """Seeded GBM ticks (see :class:`tickmesh.adapters.feeds.synthetic.SyntheticTicks`)."""

    kind: Literal["synthetic"] = "synthetic"
    symbols: list[str] = Field(default_factory=lambda: ["SYN1", "SYN2", "SYN3"], min_length=1)
    seed: int = 7
    ticks: int = Field(default=100_000, gt=0, description="total ticks across all symbols")
    interval_ms: float = Field(default=1_000.0, gt=0)
    sigma: float = Field(default=0.5, ge=0, description="annualised volatility")
    start_price: float = Field(default=100.0, gt=0)
    interleave: Literal["round_robin", "random"] = "round_robin"
    speed: float = Field(default=0.0, ge=0)


FeedSource = Annotated[BundledSource | FileSource | SyntheticSource, Field(discriminator="kind")]


def _default_sources() -> list[FeedSource]:
    return [
        BundledSource(name="EURUSD_1h"),
        BundledSource(name="GOOGL_1d"),
        SyntheticSource(),
    ]


class FeedSettings(Section):
    sources: list[FeedSource] = Field(default_factory=_default_sources)


class BarSettings(Section):
    allowed_lateness_ms: int = Field(default=2_000, ge=0)
    timeframes: list[str] = Field(default_factory=lambda: ["1m", "5m", "15m", "1h"])

    @field_validator("timeframes")
    @classmethod
    def _known_timeframes(cls, value: list[str]) -> list[str]:
        for timeframe in value:
            _check_timeframe(timeframe)
        return value


# --- strategies -------------------------------------------------------------------------------


class StrategySettings(Section):
    """One strategy instance, referenced by registered name; ``params`` go to that strategy."""

    name: str = Field(min_length=1)
    id: str | None = Field(default=None, description="instance id; defaults to the name")
    symbols: list[str] = Field(default_factory=list, description="empty = every feed symbol")
    timeframe: str = "1h"
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        return _check_timeframe(value)

    @property
    def instance_id(self) -> str:
        return self.id or self.name


def _default_strategies() -> list[StrategySettings]:
    return [
        StrategySettings(name="sma_cross", symbols=["EURUSD"], timeframe="1h"),
        StrategySettings(name="rsi_reversion", symbols=["GOOGL"], timeframe="1d"),
        StrategySettings(
            name="donchian_breakout", symbols=["SYN1", "SYN2", "SYN3"], timeframe="1m"
        ),
    ]


# --- risk, execution, portfolio ---------------------------------------------------------------


class RiskSettings(Section):
    """Limits for :mod:`tickmesh.risk`; ``None`` (``"off"`` in a file) switches a limit off.
    ``*_pct`` are percents (5.0 = 5%); money limits are Decimal."""

    risk_fraction: float = Field(
        default=0.02, gt=0, le=1, description="equity at risk per position"
    )
    atr_multiple: float = Field(default=2.0, gt=0, description="stop distance in ATRs for sizing")
    max_order_quantity: PositiveDecimal | None = None
    max_order_notional: PositiveDecimal | None = None
    max_position_quantity: PositiveDecimal | None = None
    max_gross_exposure: PositiveDecimal | None = None
    max_open_positions: int | None = Field(default=20, gt=0)
    price_band_pct: Percent | None = 10.0
    duplicate_window_s: Seconds | None = 1.0
    max_orders_per_window: int | None = Field(default=60, gt=0)
    rate_window_s: Seconds | None = 60.0
    stale_after_s: Seconds | None = None
    reduce_at_drawdown_pct: Percent | None = 10.0
    halt_at_drawdown_pct: Percent | None = 20.0
    max_position_pct_of_equity: Percent | None = 25.0
    fallback_stop_pct: Percent | None = 2.0
    sizing: Literal["risk", "all_in"] = Field(
        default="risk",
        description="risk: lose risk_fraction of equity at the stop; all_in: spend all cash",
    )

    @model_validator(mode="before")
    @classmethod
    def _off_means_unset(cls, data: Any) -> Any:
        """TOML has no null, so a limit is switched off with ``"off"``."""
        if not isinstance(data, dict):
            return data
        return {
            k: None if isinstance(v, str) and v.strip().lower() == "off" else v
            for k, v in data.items()
        }

    @model_validator(mode="after")
    def _reduce_before_halt(self) -> RiskSettings:
        reduce, halt = self.reduce_at_drawdown_pct, self.halt_at_drawdown_pct
        if reduce is not None and halt is not None and reduce >= halt:
            raise ValueError(
                f"reduce_at_drawdown_pct ({reduce}) must be below halt_at_drawdown_pct ({halt})"
            )
        return self


class ExecutionSettings(Section):
    """The paper matching engine's costs and fill model."""

    fee_bps: NonNegativeDecimal = Decimal(2)
    slippage_bps: NonNegativeDecimal = Decimal(1)
    participation: float | None = Field(
        default=None, gt=0, le=1, description="max share of one tick's or bar's volume per order"
    )
    latency_ms: int = Field(default=0, ge=0)
    fill_on: Literal["tick", "bar", "both"] = Field(
        default="both",
        description="market data that fills orders: market orders at the next tick's price or "
        "the next bar's open; with both, symbols that trade as ticks match on ticks only",
    )


class PortfolioSettings(Section):
    starting_cash: PositiveDecimal = Decimal(100_000)
    currency: str = "USD"


class LiveSettings(Section):
    """Live trading is never a default: it must be enabled and confirmed by repeating the
    namespace in ``confirm``."""

    enabled: bool = False
    confirm: str | None = None


class SecretSettings(Section):
    """Credentials; never printed (``render_config`` masks them) and best set by environment,
    e.g. ``TICKMESH_SECRETS__TELEGRAM_TOKEN``."""

    telegram_token: SecretStr | None = None
    exchange_api_key: SecretStr | None = None
    exchange_api_secret: SecretStr | None = None
    api_jwt_secret: SecretStr | None = None


WholeSeconds = Annotated[int, Field(gt=0)]


class ApiSettings(Section):
    """The REST API: token lifetimes and claims, login throttling, CORS, password hashing cost."""

    access_token_ttl_s: WholeSeconds = Field(default=900, le=86_400)
    refresh_token_ttl_s: WholeSeconds = Field(default=7 * 86_400, le=90 * 86_400)
    issuer: str = Field(default="tickmesh", min_length=1)
    audience: str = Field(default="tickmesh-api", min_length=1)
    login_max_failures: int = Field(default=5, gt=0, description="per username and client")
    login_window_s: WholeSeconds = Field(default=60, le=86_400)
    cors_origins: list[str] = Field(
        default_factory=list, description="browser origins allowed to call the API; none = CORS off"
    )
    dev_random_secret: bool = Field(
        default=False, description="no secrets.api_jwt_secret: sign with a per-process random key"
    )
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=65_536, ge=1_024, le=4_194_304)
    argon2_parallelism: int = Field(default=4, ge=1, le=64)
    stream_max_per_user: int = Field(
        default=4, ge=1, le=10_000, description="open live streams (SSE) per user"
    )

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin == "*" or "://" not in origin or origin.endswith("/"):
                raise ValueError(
                    f"cors_origins: {origin!r} is not an origin; list each one as "
                    "scheme://host[:port] (no wildcard, no trailing slash)"
                )
        return value


class TracingSettings(Section):
    """OpenTelemetry tracing through message headers (the ``otel`` extra); see
    :mod:`tickmesh.services.tracing`. ``TICKMESH_OTEL=1`` switches it on too; the standard
    ``OTEL_*`` variables configure the exporter, sampler and service name."""

    enabled: bool = False
    exporter: Literal["auto", "otlp", "console", "none"] = Field(
        default="auto",
        description="auto: OTLP when installed and an OTLP endpoint is set, else "
        "OTEL_TRACES_EXPORTER, else none",
    )
    service_name: str = Field(default="tickmesh", min_length=1)


# --- the whole document -----------------------------------------------------------------------


class Settings(BaseSettings):
    """Everything a tickmesh process is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="TICKMESH_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    namespace: str = "paper"
    db_url: str = "sqlite:///tickmesh.db"
    bus_url: str = "memory://"
    bus_prefix: str = Field(
        default="",
        description="namespaces every stream, subject and topic on a shared broker",
        pattern=r"^[A-Za-z0-9_-]{0,64}$",
    )
    data_dir: str = Field(default="tickmesh-data", description="the local candle store")
    cache_url: str = Field(
        default="", description="snapshot cache: '' off, memory:// or redis://host:port/db"
    )
    log_level: str = "INFO"
    symbols: list[str] = Field(default_factory=list, description="empty = every feed symbol")
    feed: FeedSettings = Field(default_factory=FeedSettings)
    bars: BarSettings = Field(default_factory=BarSettings)
    strategies: list[StrategySettings] = Field(default_factory=_default_strategies)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    portfolio: PortfolioSettings = Field(default_factory=PortfolioSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    secrets: SecretSettings = Field(default_factory=SecretSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str) -> str:
        return validate_namespace(value)

    @field_validator("bus_url")
    @classmethod
    def _known_bus(cls, value: str) -> str:
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in BUS_SCHEMES:
            raise ValueError(f"bus_url must start with one of {', '.join(BUS_SCHEMES)} + '://'")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        if isinstance(value, str) and value.upper() in LOG_LEVELS:
            return value.upper()
        raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}")

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        ids = [s.instance_id for s in self.strategies]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(
                f"strategies: duplicate instance ids {duplicates}; set 'id' to tell them apart"
            )
        if self.live.enabled and (self.namespace == "paper" or self.live.confirm != self.namespace):
            raise ValueError(
                "live.enabled needs a namespace other than 'paper' and live.confirm set to that "
                "namespace"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileLayer(settings_cls)


class _FileLayer(PydanticBaseSettingsSource):
    """The parsed config file, below the environment and above the defaults."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (file_layer.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(file_layer.get() or {})
