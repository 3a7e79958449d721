"""Price history shipped inside the package, so a first run needs no download.

The files come from the gym-anytrading project (MIT licence, see ``LICENSE-gym-anytrading.txt``
next to them); :func:`bundled_datasets` describes them and :func:`open_bars` replays one.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path

from tickmesh.adapters.feeds.files import FileEvents, OnError, read_bars
from tickmesh.core.errors import ConfigError
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Bar

LICENSE_FILE = "LICENSE-gym-anytrading.txt"


@dataclass(frozen=True)
class BundledDataset:
    """One bundled bar file: which symbol and timeframe it holds and under what licence."""

    name: str
    symbol: str
    timeframe: str
    path: Path
    license_path: Path
    description: str


_CATALOG = (
    (
        "EURUSD_1h",
        "EURUSD",
        "1h",
        "EURUSD hourly ask bars, 2017 (from gym-anytrading's FOREX_EURUSD_1H_ASK)",
    ),
    ("GOOGL_1d", "GOOGL", "1d", "GOOGL daily bars, 2009-2018 (from gym-anytrading's STOCKS_GOOGL)"),
)


def bundled_datasets() -> list[BundledDataset]:
    """Every bundled dataset, in a fixed order."""
    return [
        BundledDataset(
            name=name,
            symbol=symbol,
            timeframe=timeframe,
            path=_resource_path(f"{name}.csv"),
            license_path=_resource_path(LICENSE_FILE),
            description=description,
        )
        for name, symbol, timeframe, description in _CATALOG
    ]


def bundled_dataset(name: str) -> BundledDataset:
    """Look a dataset up by name (``EURUSD_1h``) or symbol (``EURUSD``), ignoring case."""
    wanted = name.strip().lower()
    for dataset in bundled_datasets():
        if wanted in (dataset.name.lower(), dataset.symbol.lower()):
            return dataset
    names = ", ".join(d.name for d in bundled_datasets())
    raise ConfigError(f"unknown bundled dataset {name!r}; choose one of {names}")


def open_bars(name: str, stamper: Stamper, on_error: OnError = "stop") -> FileEvents[Bar]:
    """Replay a bundled dataset as validated :class:`Bar` events."""
    dataset = bundled_dataset(name)
    with as_file(files("tickmesh").joinpath("data", "bundled", dataset.path.name)) as path:
        return read_bars(path, dataset.symbol, dataset.timeframe, stamper, on_error)


def _resource_path(filename: str) -> Path:
    return Path(str(files("tickmesh").joinpath("data", "bundled", filename)))
