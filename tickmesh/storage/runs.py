"""Stored backtest runs: one folder per run under ``<data_dir>/runs/<run_id>/``.

A run keeps what it takes to trust and reproduce it: the configuration as given, a content hash
of the exact bars replayed, the statistics, the trades, the fills and the equity curve. Files are
written to a temporary folder and renamed into place, so a listed run is always complete.

- ``run.json``: id, created time, config, data hash, the statistics (JSON-ready)
- ``equity.parquet``: ts (ns), equity (exact decimal text)
- ``fills.parquet``: every fill, money as exact decimal text
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tickmesh.core.clock import LiveClock
from tickmesh.core.errors import DataError
from tickmesh.core.ids import IdGenerator
from tickmesh.model.events import Fill
from tickmesh.storage.candles import COLUMNS, Candles

RUN_FILE = "run.json"


def data_hash(data: Mapping[str, Candles]) -> str:
    """sha256 over every symbol's bars, in symbol order: equal hashes mean equal inputs."""
    digest = hashlib.sha256()
    for symbol in sorted(data):
        digest.update(symbol.encode() + b"\0")
        for name in COLUMNS:
            digest.update(getattr(data[symbol], name).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    created_ns: int
    config: dict[str, Any]
    data_hash: str
    stats: dict[str, Any]
    path: Path

    @property
    def summary(self) -> str:
        names = ",".join(s["name"] for s in self.config.get("strategies", []))
        symbols = ",".join(self.config.get("symbols", []))
        return f"{names} on {symbols} {self.config.get('timeframe', '')}"


class RunStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._ids = IdGenerator(LiveClock())

    def save(
        self,
        config: dict[str, Any],
        data: Mapping[str, Candles],
        stats: dict[str, Any],
        equity: Sequence[tuple[int, Decimal]],
        fills: Sequence[Fill],
    ) -> StoredRun:
        run_id = self._ids.next_id()
        record = {
            "run_id": run_id,
            "created_ns": time.time_ns(),
            "config": config,
            "data_hash": data_hash(data),
            "stats": stats,
        }
        final = self.root / run_id
        staging = self.root / f".{run_id}.tmp"
        staging.mkdir(parents=True)
        try:
            (staging / RUN_FILE).write_text(json.dumps(record, sort_keys=True, indent=1))
            pq.write_table(_equity_table(equity), staging / "equity.parquet")
            pq.write_table(_fills_table(fills), staging / "fills.parquet")
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return _stored(record, final)

    def runs(self) -> list[StoredRun]:
        """Every complete run, newest first."""
        runs = [self._load(path) for path in self.root.glob(f"*/{RUN_FILE}")]
        return sorted(runs, key=lambda r: r.run_id, reverse=True)

    def get(self, run_id: str) -> StoredRun:
        path = self.root / run_id / RUN_FILE
        if not run_id or "/" in run_id or not path.is_file():
            known = ", ".join(r.run_id for r in self.runs()[:5]) or "none yet"
            raise DataError(f"no backtest run {run_id!r} in {self.root} (latest: {known})")
        return self._load(path)

    def equity(self, run: StoredRun) -> list[tuple[int, Decimal]]:
        table = pq.read_table(run.path / "equity.parquet")
        return [
            (int(ts), Decimal(value))
            for ts, value in zip(
                table.column("ts").to_pylist(), table.column("equity").to_pylist(), strict=True
            )
        ]

    def fills(self, run: StoredRun) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = pq.read_table(run.path / "fills.parquet").to_pylist()
        return rows

    @staticmethod
    def _load(path: Path) -> StoredRun:
        return _stored(json.loads(path.read_text()), path.parent)


def _stored(record: dict[str, Any], path: Path) -> StoredRun:
    return StoredRun(
        run_id=record["run_id"],
        created_ns=record["created_ns"],
        config=record["config"],
        data_hash=record["data_hash"],
        stats=record["stats"],
        path=path,
    )


def _equity_table(equity: Sequence[tuple[int, Decimal]]) -> pa.Table:
    return pa.table(
        {
            "ts": pa.array([ts for ts, _ in equity], pa.int64()),
            "equity": pa.array([str(value) for _, value in equity], pa.string()),
        }
    )


def _fills_table(fills: Sequence[Fill]) -> pa.Table:
    return pa.table(
        {
            "ts": pa.array([f.ts_event for f in fills], pa.int64()),
            "fill_id": [f.fill_id for f in fills],
            "order_id": [f.order_id for f in fills],
            "strategy_id": [f.strategy_id for f in fills],
            "symbol": [f.symbol for f in fills],
            "side": [f.side.value for f in fills],
            "quantity": [str(f.quantity) for f in fills],
            "price": [str(f.price) for f in fills],
            "fee": [str(f.fee) for f in fills],
        }
    )
