"""Market data sources: readers that yield validated events (no bus here).

Files (CSV, Parquet), the bundled history, and a seeded synthetic stream; the feed service
publishes what they yield.
"""

from tickmesh.adapters.feeds.bundled import (
    BundledDataset,
    bundled_dataset,
    bundled_datasets,
    open_bars,
)
from tickmesh.adapters.feeds.files import (
    FileEvents,
    OnError,
    ReadStats,
    read_bars,
    read_tick_batches,
    read_ticks,
    tick_batch,
    validate_file,
)
from tickmesh.adapters.feeds.synthetic import SyntheticTicks, synthetic_bars

__all__ = [
    "BundledDataset",
    "FileEvents",
    "OnError",
    "ReadStats",
    "SyntheticTicks",
    "bundled_dataset",
    "bundled_datasets",
    "open_bars",
    "read_bars",
    "read_tick_batches",
    "read_ticks",
    "synthetic_bars",
    "tick_batch",
    "validate_file",
]
