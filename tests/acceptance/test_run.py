"""``tickmesh run`` end to end on the bundled data."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

from tests.acceptance.conftest import Workdir, clean_env, ledger_from_fills, query


def test_run_twice_on_fresh_stores_gives_identical_fills(tmp_path: Path) -> None:
    a, b = Workdir(tmp_path / "a"), Workdir(tmp_path / "b")
    for w in (a, b):
        w.path.mkdir()

    first, second = a.run_json(), b.run_json()

    assert first["fills"] > 20
    assert a.fills() == b.fills()
    drop = {"session_id", "elapsed_s", "api"}
    assert {k: v for k, v in first.items() if k not in drop} == {
        k: v for k, v in second.items() if k not in drop
    }


def test_summary_matches_an_independent_ledger_of_stored_fills(workdir: Workdir) -> None:
    summary = workdir.run_json()
    fills = workdir.fills()

    ledger = ledger_from_fills(fills, Decimal(100_000))

    marks = {s: Decimal(repr(p)) for s, p in summary["last_prices"].items()}
    held = {k: v for k, v in ledger["positions"].items() if v[0] != 0}
    equity = ledger["cash"] + sum(q * marks[sym] for (_s, sym), (q, _c) in held.items())
    assert summary["trades"] == len(fills) == summary["fills"]
    assert Decimal(summary["cash"]) == ledger["cash"]
    assert Decimal(summary["fees"]) == ledger["fees"]
    assert abs(Decimal(summary["realized_pnl"]) - ledger["realized"]) < Decimal("0.0001")
    assert abs(Decimal(summary["equity"]) - equity) < Decimal("0.01")
    reported = {
        (p["strategy_id"], p["symbol"]): Decimal(p["quantity"]) for p in summary["positions"]
    }
    assert reported == {k: v[0] for k, v in held.items()}
    stored = query(workdir.db, "SELECT COUNT(*) FROM rejections")[0][0]
    assert stored == sum(summary["rejections"].values())


def test_second_run_resumes_the_portfolio_from_the_store(workdir: Workdir) -> None:
    first = workdir.run_json()

    second = workdir.run_json()

    assert second["resumed"] is False
    assert second["session_start_cash"] == first["cash"]
    assert len(workdir.fills()) == first["fills"] + second["fills"]


def test_kill_9_mid_run_then_restart_loses_and_duplicates_no_fill(tmp_path: Path) -> None:
    reference, crashed = Workdir(tmp_path / "ref"), Workdir(tmp_path / "crash")
    for w in (reference, crashed):
        w.path.mkdir()
    expected = reference.run_json("--config", str(reference.config(ticks=400_000)))
    cfg = crashed.config(ticks=400_000)
    proc = subprocess.Popen(
        crashed.command("run", "--until-exhausted", "--json", "--config", str(cfg)),
        cwd=crashed.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    wait_for_fills(crashed.db, proc)
    proc.kill()
    proc.wait()
    assert 0 < len(crashed.fills()) < expected["fills"]

    resumed = crashed.run_json("--config", str(cfg))

    assert resumed["resumed"] is True
    assert crashed.fills() == reference.fills()
    assert crashed.positions() == reference.positions()
    for key in ("cash", "equity", "realized_pnl", "fees", "positions", "fills"):
        assert resumed[key] == expected[key], key


def wait_for_fills(db: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        if db.exists():
            try:
                if query(db, "SELECT COUNT(*) FROM fills")[0][0] >= 3:
                    return
            except Exception:  # table not created yet, or locked for a moment
                pass
        time.sleep(0.05)
    raise AssertionError("no fills were stored in time")


def test_sigint_stops_gracefully_exits_0_and_the_next_run_resumes(workdir: Workdir) -> None:
    cfg = workdir.config(ticks=400_000)
    proc = subprocess.Popen(
        workdir.command("run", "--until-exhausted", "--json", "--config", str(cfg)),
        cwd=workdir.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    wait_for_fills(workdir.db, proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    interrupted = json.loads(out)

    resumed = workdir.run_json("--config", str(cfg))

    assert proc.returncode == 0
    assert interrupted["completed"] is False
    assert resumed["resumed"] is True
    assert resumed["completed"] is True
    status = query(workdir.db, "SELECT status FROM sessions")
    assert status == [("completed",)]
