from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from tickmesh.config.settings import (
    BundledSource,
    FileSource,
    RiskSettings,
    Settings,
    StrategySettings,
    SyntheticSource,
)


def test_defaults_are_valid_paper_trading_on_bundled_and_synthetic_data() -> None:
    settings = Settings()

    assert settings.namespace == "paper"
    assert settings.bus_url == "memory://"
    assert settings.live.enabled is False
    assert settings.portfolio.starting_cash == Decimal(100_000)
    sources = settings.feed.sources
    assert [s.name for s in sources if isinstance(s, BundledSource)] == ["EURUSD_1h", "GOOGL_1d"]
    (synthetic,) = [s for s in sources if isinstance(s, SyntheticSource)]
    assert len(synthetic.symbols) == 3
    names = [s.name for s in settings.strategies]
    assert names == ["sma_cross", "rsi_reversion", "donchian_breakout"]


def test_namespace_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKMESH_NAMESPACE", "research")

    assert Settings().namespace == "research"


def test_nested_value_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKMESH_RISK__RISK_FRACTION", "0.005")

    assert Settings().risk.risk_fraction == 0.005


def test_secret_from_environment_is_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKMESH_SECRETS__TELEGRAM_TOKEN", "tok-123")

    settings = Settings()

    assert settings.secrets.telegram_token is not None
    assert settings.secrets.telegram_token.get_secret_value() == "tok-123"
    assert "tok-123" not in repr(settings)


@pytest.mark.parametrize("namespace", ["Paper", "1abc", "a b", ""])
def test_invalid_namespace_is_rejected(namespace: str) -> None:
    with pytest.raises(ValidationError, match="namespace"):
        Settings(namespace=namespace)


def test_unknown_nested_key_is_rejected() -> None:
    with pytest.raises(ValidationError, match="max_order_qty"):
        RiskSettings(max_order_qty=5)  # type: ignore[call-arg]


def test_money_limits_are_exact_decimals() -> None:
    risk = RiskSettings(max_order_notional=0.1)  # type: ignore[arg-type]

    assert risk.max_order_notional == Decimal("0.1")


def test_off_switches_a_risk_limit_off() -> None:
    assert RiskSettings(max_open_positions="off").max_open_positions is None  # type: ignore[arg-type]


def test_reduce_threshold_must_be_below_halt() -> None:
    with pytest.raises(ValidationError, match="must be below halt_at_drawdown_pct"):
        RiskSettings(reduce_at_drawdown_pct=30.0, halt_at_drawdown_pct=20.0)


def test_live_trading_needs_its_own_namespace_and_confirmation() -> None:
    with pytest.raises(ValidationError, match=r"live\.enabled"):
        Settings(namespace="live", live={"enabled": True})  # type: ignore[arg-type]

    settings = Settings(namespace="live", live={"enabled": True, "confirm": "live"})  # type: ignore[arg-type]

    assert settings.live.enabled is True


def test_unknown_timeframe_is_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown timeframe '2m'"):
        StrategySettings(name="sma_cross", timeframe="2m")


def test_file_source_kind_selects_the_model() -> None:
    settings = Settings(
        feed={"sources": [{"kind": "parquet", "path": "t.parquet", "symbol": "BTCUSD"}]}  # type: ignore[arg-type]
    )

    (source,) = settings.feed.sources
    assert isinstance(source, FileSource)
    assert source.timeframe is None


def test_duplicate_strategy_instances_need_ids() -> None:
    twice = [{"name": "sma_cross"}, {"name": "sma_cross"}]

    with pytest.raises(ValidationError, match="duplicate instance ids"):
        Settings(strategies=twice)  # type: ignore[arg-type]

    ok = Settings(strategies=[*twice[:1], {"name": "sma_cross", "id": "sma_slow"}])  # type: ignore[list-item]
    assert [s.instance_id for s in ok.strategies] == ["sma_cross", "sma_slow"]


@pytest.mark.parametrize(("url", "ok"), [("redis://h:6379", True), ("mqtt://h", False)])
def test_bus_url_scheme_is_checked(url: str, ok: bool) -> None:
    if ok:
        assert Settings(bus_url=url).bus_url == url
    else:
        with pytest.raises(ValidationError, match="bus_url"):
            Settings(bus_url=url)


def test_settings_are_immutable() -> None:
    settings = Settings()

    with pytest.raises(ValidationError):
        settings.namespace = "other"


def test_bus_prefix_comes_from_the_environment_and_rejects_separators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKMESH_BUS_PREFIX", "staging-1")
    assert Settings().bus_prefix == "staging-1"

    with pytest.raises(ValidationError, match="bus_prefix"):
        Settings(bus_prefix="a.b:c")
