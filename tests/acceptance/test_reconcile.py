"""``tickmesh reconcile bars`` on two real stores: parity, an injected mismatch, the gate."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from .conftest import Workdir

pytestmark = pytest.mark.integration


def test_two_runs_agree_and_an_injected_mismatch_is_found(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    prod = Workdir(tmp_path_factory.mktemp("prod"))
    shadow = Workdir(tmp_path_factory.mktemp("shadow"))
    for w in (prod, shadow):
        w.run("run", "--until-exhausted", "--json", "--config", str(w.config(ticks=3_000)))
    args = ("reconcile", "bars", "--a", f"sqlite:///{prod.db}", "--b", f"sqlite:///{shadow.db}",
            "--symbols", "SYN1,SYN2", "--json")  # fmt: skip

    same = json.loads(prod.run(*args).stdout)
    with sqlite3.connect(shadow.db) as conn:
        conn.execute(
            "UPDATE bars SET close = close + 0.01 WHERE symbol = 'SYN1' AND timeframe = '1m' "
            "AND ts_open = (SELECT MIN(ts_open) FROM bars WHERE symbol = 'SYN1')"
        )
    gate = prod.run(*args, "--threshold", "100", check=False)
    found = json.loads(gate.stdout)

    assert same["parity_pct"] == 100.0
    assert same["symbols"]["SYN1"]["minutes"] > 10
    assert gate.returncode == 1
    assert found["mismatches_total"] == 1
    (mismatch,) = found["mismatches"]
    assert mismatch["symbol"] == "SYN1"
    assert mismatch["problem"].startswith("close ")


def test_unreadable_store_exits_2(tmp_path: Path, workdir: Workdir) -> None:
    proc = workdir.run("reconcile", "bars", "--a", "mysql://x", "--b", "sqlite:///x.db",
                       "--symbols", "A", check=False)  # fmt: skip

    assert proc.returncode == 2
    assert "error:" in proc.stderr
