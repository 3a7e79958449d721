"""Acceptance tests run the real ``tickmesh`` command in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

BUNDLED_SOURCE = """
[[feed.sources]]
kind = "bundled"
name = "EURUSD_1h"
"""

SMALL_CONFIG = """
[[feed.sources]]
kind = "synthetic"
symbols = ["SYN1", "SYN2"]
seed = 11
ticks = {ticks}
interval_ms = 1000

[[strategies]]
name = "donchian_breakout"
symbols = ["SYN1", "SYN2"]
timeframe = "1m"
params = {{ entry = 10, exit = 5 }}
"""


@dataclass
class Workdir:
    path: Path

    def config(self, ticks: int = 40_000) -> Path:
        """Synthetic ticks only: fills spread over the whole run (for crash tests)."""
        cfg = self.path / "tickmesh.toml"
        cfg.write_text(SMALL_CONFIG.format(ticks=ticks))
        return cfg

    @property
    def db(self) -> Path:
        return self.path / "state.db"

    def command(self, *args: str) -> list[str]:
        # Any free port for the API, so runs never collide with whatever holds 8000.
        db = ["--db", f"sqlite:///{self.db}", "--port", "0"] if args and args[0] == "run" else []
        return [sys.executable, "-m", "tickmesh.cli", *args, *db]

    def run(
        self, *args: str, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.command(*args),
            input=input_text,
            check=False,
            cwd=self.path,
            capture_output=True,
            text=True,
            timeout=300,
            env=clean_env(),
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def run_json(self, *args: str) -> dict[str, Any]:
        out = self.run("run", "--until-exhausted", "--json", *args).stdout
        summary: dict[str, Any] = json.loads(out)
        return summary

    def fills(self) -> list[tuple[Any, ...]]:
        return query(
            self.db,
            "SELECT fill_id, strategy_id, symbol, side, quantity, price, fee, "
            "ts_event FROM fills ORDER BY ts_event, fill_id",
        )

    def positions(self) -> list[tuple[Any, ...]]:
        return query(
            self.db,
            "SELECT strategy_id, symbol, quantity, avg_price FROM positions "
            "WHERE CAST(quantity AS REAL) != 0 ORDER BY strategy_id, symbol",
        )


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TICKMESH_")}


def query(db: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, params))


def ledger_from_fills(fills: list[tuple[Any, ...]], starting_cash: Decimal) -> dict[str, Any]:
    """An independent average-cost ledger over stored fills (not tickmesh's own)."""
    cash, fees, realized = starting_cash, Decimal(0), Decimal(0)
    pos: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for _fid, strategy, symbol, side, qty_s, price_s, fee_s, _ts in fills:
        qty, price, fee = Decimal(qty_s), Decimal(price_s), Decimal(fee_s)
        signed = qty if side == "BUY" else -qty
        cash -= signed * price + fee
        fees += fee
        realized -= fee
        held, cost = pos.get((strategy, symbol), (Decimal(0), Decimal(0)))
        if held == 0 or (held > 0) == (signed > 0):
            pos[(strategy, symbol)] = (held + signed, cost + signed * price)
            continue
        closing = min(abs(signed), abs(held))
        avg = cost / held
        realized += closing * (price - avg) * (1 if held > 0 else -1)
        remaining = held + signed
        if remaining == 0 or (remaining > 0) == (held > 0):
            pos[(strategy, symbol)] = (remaining, avg * remaining)
        else:
            pos[(strategy, symbol)] = (remaining, price * remaining)
    return {"cash": cash, "fees": fees, "realized": realized, "positions": pos}


@pytest.fixture
def workdir(tmp_path: Path) -> Workdir:
    return Workdir(tmp_path)
