"""Typed configuration: :class:`Settings` (defaults, ``TICKMESH_*`` env, a TOML file) and the
loader that explains mistakes by dotted key."""

from tickmesh.config.loader import MASK, load_settings, render_config
from tickmesh.config.settings import (
    BarSettings,
    BundledSource,
    ExecutionSettings,
    FeedSettings,
    FeedSource,
    FileSource,
    LiveSettings,
    PortfolioSettings,
    RiskSettings,
    SecretSettings,
    Settings,
    StrategySettings,
    SyntheticSource,
    TracingSettings,
)

__all__ = [
    "MASK",
    "BarSettings",
    "BundledSource",
    "ExecutionSettings",
    "FeedSettings",
    "FeedSource",
    "FileSource",
    "LiveSettings",
    "PortfolioSettings",
    "RiskSettings",
    "SecretSettings",
    "Settings",
    "StrategySettings",
    "SyntheticSource",
    "TracingSettings",
    "load_settings",
    "render_config",
]
