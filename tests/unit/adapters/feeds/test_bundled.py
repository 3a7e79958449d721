from __future__ import annotations

import pytest

from tickmesh.adapters.feeds.bundled import bundled_dataset, bundled_datasets, open_bars
from tickmesh.core.errors import ConfigError
from tickmesh.core.stamp import Stamper


def test_bundled_datasets_describe_existing_files_and_licence() -> None:
    datasets = bundled_datasets()

    assert [(d.name, d.symbol, d.timeframe) for d in datasets] == [
        ("EURUSD_1h", "EURUSD", "1h"),
        ("GOOGL_1d", "GOOGL", "1d"),
    ]
    assert all(d.path.is_file() for d in datasets)
    assert all("MIT License" in d.license_path.read_text() for d in datasets)
    assert all(d.description for d in datasets)


def test_bundled_readme_states_source_licence_and_columns() -> None:
    readme = (bundled_datasets()[0].path.parent / "README.md").read_text()

    assert "gym-anytrading" in readme
    assert "MIT" in readme
    assert "Copyright (c) 2019 Mohammad Amin Haghpanah" in readme
    assert "Time,Open,High,Low,Close,Volume" in readme


@pytest.mark.parametrize(("name", "rows"), [("EURUSD_1h", 6225), ("googl", 2335)])
def test_open_bars_replays_every_row_with_dataset_symbol(name: str, rows: int) -> None:
    reader = open_bars(name, Stamper.deterministic("test.bundled"))

    bars = list(reader)

    assert len(bars) == rows
    assert reader.stats.skipped == 0
    assert {b.symbol for b in bars} == {bundled_dataset(name).symbol}


def test_unknown_dataset_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="choose one of EURUSD_1h, GOOGL_1d"):
        bundled_dataset("BTCUSD_1m")
