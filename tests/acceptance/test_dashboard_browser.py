"""The dashboard in a real headless Chromium against a real ``tickmesh run``.

The platform replays synthetic ticks paced so a new 1m bar closes about every second. An
operator logs in, watches the candle chart grow while the pipeline runs, sees entry and exit
markers from fills, presses Halt, sees the risk state turn HALTED and the strategy's next signals
refused with TRADING_HALTED. A viewer sees no operator buttons, sees the stored backtest runs,
and is sent back to the login form when disabled; a server that goes away is reported.

Needs Debian's ``/usr/bin/chromium`` (or ``TICKMESH_TEST_CHROMIUM``) and the ``playwright``
package; Playwright's own browser downloads are never used. Skips without them, unless
``TICKMESH_REQUIRE_SERVICES=1``, where it fails. Screenshots go to ``$TICKMESH_TEST_ARTIFACTS``
when set, else to the test's ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import unavailable

from .conftest import Workdir, clean_env
from .test_run_api import free_port, wait_for_api

pytestmark = pytest.mark.integration

OPERATOR, VIEWER, PASSWORD = "ops", "vera", "a-long-dashboard-password"
SPEED = 60  # ticks 1 s apart, round robin over two symbols: one 1m bar per symbol per second
CONFIG = """
[[feed.sources]]
kind = "synthetic"
symbols = ["SYN1", "SYN2"]
seed = 7
ticks = 30000
interval_ms = 1000

[[strategies]]
name = "donchian_breakout"
symbols = ["SYN1", "SYN2"]
timeframe = "1m"
params = { entry = 5, exit = 3 }
"""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@dataclass
class Running:
    """A ``tickmesh run`` subprocess serving the API (and the dashboard) at ``url``."""

    url: str
    proc: subprocess.Popen[str]
    log: Path

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        assert self.proc.returncode == 0, self.log.read_text()[-4000:]


@pytest.fixture
def chromium() -> str:
    """Chromium's path, once the browser and the playwright package are known to be there."""
    path = os.environ.get("TICKMESH_TEST_CHROMIUM", "/usr/bin/chromium")
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        unavailable(f"no Chromium at {path} (apt install chromium, or set TICKMESH_TEST_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright package is not installed (pip install 'tickmesh[test]')")
    return path


@pytest.fixture
def browser_page(chromium: str) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page in headless Chromium, and the console errors it logs (CSP refusals too)."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            yield page, problems
        finally:
            browser.close()


def add_user(workdir: Workdir, name: str, role: str) -> None:
    workdir.run("admin", "user", "add", name, "--role", role, "--password-stdin",
                "--db", f"sqlite:///{workdir.db}", input_text=f"{PASSWORD}\n")  # fmt: skip


@pytest.fixture
def platform(workdir: Workdir) -> Iterator[Running]:
    """``tickmesh run`` on the paced synthetic feed, with an operator and a viewer."""
    add_user(workdir, OPERATOR, "operator")
    add_user(workdir, VIEWER, "viewer")
    config = workdir.path / "tickmesh.toml"
    config.write_text(CONFIG)
    port = free_port()
    cmd = [sys.executable, "-m", "tickmesh.cli", "run", "--no-live", "--port", str(port),
           "--speed", str(SPEED), "--db", f"sqlite:///{workdir.db}",
           "--config", str(config)]  # fmt: skip
    log = workdir.path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir.path, env=clean_env(), text=True,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        try:
            url = wait_for_api(proc, str(port))
        except AssertionError as exc:
            raise AssertionError(f"tickmesh run did not serve:\n{log.read_text()[-4000:]}") from exc
        running = Running(url, proc, log)
        yield running
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()[-4000:]


@pytest.fixture
def stored_run(workdir: Workdir) -> str:
    """A backtest run saved where ``tickmesh run`` in the same directory lists them."""
    workdir.run("data", "import", "bundled:GOOGL_1d")
    out = workdir.run("backtest", "-s", "sma_cross", "--symbols", "GOOGL", "--timeframe", "1d",
                      "--params", "fast=10,slow=30", "--json").stdout  # fmt: skip
    run_id: str = json.loads(out)["run_id"]
    return run_id


def artifacts_dir(tmp_path: Path) -> Path:
    configured = os.environ.get("TICKMESH_TEST_ARTIFACTS")
    target = Path(configured) if configured else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    shot = artifacts_dir(tmp_path) / name
    page.screenshot(path=str(shot), full_page=True)
    print(f"dashboard screenshot: {shot}")
    return shot


def api(base: str, path: str, body: dict[str, Any] | None = None, token: str = "") -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method="POST" if data else "GET")
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def candle_count(page: Any) -> int:
    return int(page.get_attribute("#candles", "data-count") or 0)


def wait_for_more_candles(page: Any, than: int, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        count = candle_count(page)
        if count > than:
            return count
        page.wait_for_timeout(250)
    raise AssertionError(f"the chart stayed at {candle_count(page)} candles for {timeout_s} s")


def open_dashboard(page: Any, url: str) -> None:
    response = page.goto(f"{url}/")
    assert response is not None
    assert response.status == 200, (
        f"tickmesh run answers {response.status} at /: create_app must call "
        "tickmesh.api.dashboard.install(app)"
    )


def log_in(page: Any, name: str, password: str = PASSWORD) -> None:
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#login-submit")


def show(page: Any, symbol: str) -> None:
    page.fill("#symbol", symbol)
    page.click("#chart-form button[type=submit]")
    page.wait_for_selector(f"#chart-status:has-text('{symbol} 1m:')")


def first_traded_symbol(page: Any) -> str:
    """The symbol of the first position the pipeline opens, once a fill is in the feed."""
    page.locator("#feed li[data-kind=fill]").first.wait_for(timeout=60_000)
    held = page.locator("#positions tr td:nth-child(2)").first
    held.wait_for(timeout=20_000)
    return held.text_content() or ""


def halt(page: Any) -> None:
    page.wait_for_selector("#ops-form", state="visible")
    page.fill("#ops-reason", "browser acceptance test")
    page.click("#halt")
    page.wait_for_selector("#risk-state[data-state=HALTED]", timeout=20_000)
    page.wait_for_selector("#ops-message:has-text('trading is HALTED')", timeout=20_000)


def banner(page: Any) -> str | None:
    return None if page.is_hidden("#problems") else page.text_content("#problems")


def test_operator_watches_candles_halts_and_sees_signals_refused(
    browser_page: tuple[Any, list[str]], platform: Running, tmp_path: Path
) -> None:
    page, problems = browser_page
    open_dashboard(page, platform.url)
    log_in(page, OPERATOR)
    page.wait_for_selector("#dashboard", state="visible")
    who = page.text_content("#who")

    show(page, "SYN1")
    first = wait_for_more_candles(page, 0)
    grown = wait_for_more_candles(page, first + 2)
    canvases = page.locator("#candles canvas").count()

    show(page, first_traded_symbol(page))
    page.wait_for_selector("#candles[data-markers]:not([data-markers='0'])")

    halt(page)
    refused = page.locator("#feed li[data-reason=TRADING_HALTED]").first
    refused.wait_for(timeout=90_000)
    refusal = refused.text_content() or ""
    wait_for_more_candles(page, candle_count(page))  # the market keeps flowing while halted
    shown_problems = banner(page)
    shot = screenshot(page, tmp_path, "dashboard.png")

    token = api(platform.url, "/api/v1/token/login", {"username": OPERATOR, "password": PASSWORD})
    bearer = token["access_token"]
    stored = api(platform.url, "/api/v1/rejections?reason=TRADING_HALTED", token=bearer)
    risk = api(platform.url, "/api/v1/risk", token=bearer)

    assert who == f"{OPERATOR} (operator)"
    assert grown > first > 0
    assert canvases > 0
    assert "TRADING_HALTED" in refusal
    assert "trading halted (manual)" in refusal
    assert stored["total"] >= 1
    assert stored["items"][0]["detail"] == "trading halted (manual)"
    assert risk["risk"]["state"] == "HALTED"
    assert problems == []
    assert shown_problems is None
    assert shot.stat().st_size > 0


def test_viewer_sees_runs_but_no_ops_and_failures_are_shown(
    browser_page: tuple[Any, list[str]],
    stored_run: str,
    platform: Running,
    workdir: Workdir,
    tmp_path: Path,
) -> None:
    page, problems = browser_page
    open_dashboard(page, platform.url)
    log_in(page, VIEWER, "not-the-password")
    page.wait_for_selector("#login-message:has-text('invalid username or password')")

    log_in(page, VIEWER)
    page.wait_for_selector("#dashboard", state="visible")
    page.wait_for_selector(f"#backtests tr:has-text('{stored_run}')")
    run_row = page.text_content(f"#backtests tr:has-text('{stored_run}')") or ""
    ops_hidden = page.is_hidden("#ops-form")
    ops_note = page.text_content("#ops-message")
    screenshot(page, tmp_path, "dashboard-viewer.png")

    workdir.run("admin", "user", "disable", VIEWER, "--db", f"sqlite:///{workdir.db}")
    page.wait_for_selector("#login", state="visible", timeout=15_000)
    ended = page.text_content("#login-message") or ""

    log_in(page, OPERATOR)
    page.wait_for_selector("#dashboard", state="visible")
    platform.stop()
    page.wait_for_selector("#connection[data-state=down]", timeout=15_000)
    unreachable = banner(page) or ""

    assert "sma_cross on GOOGL 1d" in run_row
    assert "fast=10,slow=30" in run_row
    assert ops_hidden
    assert ops_note == "Operators can halt and resume trading."
    assert f"user '{VIEWER}' is disabled" in ended
    assert "cannot reach the tickmesh API" in unreachable
    assert [p for p in problems if "401" not in p and "ERR_CONNECTION_REFUSED" not in p] == []
