from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from tickmesh.config.loader import MASK, load_settings, render_config
from tickmesh.config.settings import Settings
from tickmesh.core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tickmesh.toml"
    path.write_text(text)
    return path


def test_file_values_are_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'namespace = "demo"\n'
        "[risk]\nmax_order_notional = 2500.5\n"
        "[portfolio]\nstarting_cash = 5000\n"
        '[[strategies]]\nname = "sma_cross"\nsymbols = ["EURUSD"]\nparams = { fast = 5 }\n',
    )

    settings = load_settings(path)

    assert settings.namespace == "demo"
    assert settings.risk.max_order_notional == Decimal("2500.5")
    assert settings.portfolio.starting_cash == Decimal(5000)
    assert [(s.name, s.params) for s in settings.strategies] == [("sma_cross", {"fast": 5})]
    assert settings.risk.risk_fraction == 0.02


def test_precedence_is_overrides_then_env_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path, 'namespace = "fromfile"\nlog_level = "debug"\n[risk]\natr_multiple = 3\n'
    )
    monkeypatch.setenv("TICKMESH_NAMESPACE", "fromenv")
    monkeypatch.setenv("TICKMESH_RISK__ATR_MULTIPLE", "4")

    settings = load_settings(path, overrides={"risk": {"atr_multiple": 5}})

    assert settings.namespace == "fromenv"
    assert settings.risk.atr_multiple == 5
    assert settings.log_level == "DEBUG"


def test_override_merges_into_a_section_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[risk]\natr_multiple = 3\n")

    settings = load_settings(path, overrides={"risk": {"risk_fraction": 0.01}})

    assert (settings.risk.atr_multiple, settings.risk.risk_fraction) == (3, 0.01)


def test_file_does_not_leak_into_later_plain_settings(tmp_path: Path) -> None:
    load_settings(write(tmp_path, 'namespace = "demo"\n'))

    assert Settings().namespace == "paper"


def test_unknown_key_names_dotted_path_file_and_close_match(tmp_path: Path) -> None:
    path = write(tmp_path, "[risk]\nmax_order_qty = 5\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    message = str(caught.value)
    assert str(path) in message
    assert "risk.max_order_qty: unknown key (did you mean max_order_quantity?)" in message


def test_unknown_key_inside_a_feed_source_names_its_index(tmp_path: Path) -> None:
    path = write(tmp_path, '[[feed.sources]]\nkind = "synthetic"\nsede = 3\n')

    with pytest.raises(
        ConfigError, match=r"feed\.sources\[0\]\.sede: unknown key \(did you mean seed\?\)"
    ):
        load_settings(path)


def test_unknown_key_without_close_match_lists_valid_keys() -> None:
    with pytest.raises(
        ConfigError, match=r"portfolio\.zzz: unknown key \(valid keys: starting_cash"
    ):
        load_settings(None, overrides={"portfolio": {"zzz": 1}})


def test_wrong_type_names_key_expected_type_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, '[risk]\nrisk_fraction = "lots"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert "risk.risk_fraction: Input should be a valid number" in str(caught.value)
    assert "(got 'lots')" in str(caught.value)


def test_bad_value_from_environment_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKMESH_RISK__ATR_MULTIPLE", "-1")

    with pytest.raises(ConfigError, match="from environment TICKMESH_RISK__ATR_MULTIPLE"):
        load_settings()


def test_bad_secret_value_is_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, "[secrets]\ntelegram_token = 1234567\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert "secrets.telegram_token" in str(caught.value)
    assert "1234567" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.toml"):
        load_settings(tmp_path / "nope.toml")


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "namespace = \n")

    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_render_masks_secrets_in_toml_and_json() -> None:
    settings = load_settings(None, overrides={"secrets": {"exchange_api_secret": "s3cr3t"}})

    toml_text = render_config(settings)
    json_text = render_config(settings, "json")

    assert "s3cr3t" not in toml_text
    assert "s3cr3t" not in json_text
    assert f'exchange_api_secret = "{MASK}"' in toml_text
    assert json.loads(json_text)["secrets"]["exchange_api_secret"] == MASK


def test_rendered_toml_loads_back_to_equal_settings(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        overrides={
            "risk": {"max_open_positions": None, "max_order_notional": "1000.25"},
            "strategies": [
                {"name": "sma_cross", "params": {"fast": 5, "w": [1, 2], "x": {"y": "z"}}}
            ],
        },
    )
    path = tmp_path / "shown.toml"
    path.write_text(render_config(settings))

    reloaded = load_settings(path)

    assert reloaded == settings
    assert tomllib.loads(path.read_text())["risk"]["max_open_positions"] == "off"
