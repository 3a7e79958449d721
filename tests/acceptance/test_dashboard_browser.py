"""The dashboard in a real headless Chromium against a real ``tickmesh run``.

The platform replays synthetic ticks paced so a new 1m bar closes about every second. An
operator logs in and the page goes live over the event stream (an ``EventSource`` on
``/api/v1/stream`` opened with a ticket): the candle chart grows without the page asking
``/api/v1/bars`` again, fills arrive in the feed, entry and exit markers show, Halt turns the
risk state HALTED by a stream event (no ``/api/v1/risk`` request) and the strategy's next signals
arrive refused with TRADING_HALTED. When the network drops, the page says so and resumes the
stream with ``last_event_id`` once it is back. The operator disables a strategy instance from
the strategies panel and its signals stop, then enables it again. A viewer sees no operator
buttons, sees the strategies and the stored backtest runs, downloads a run's report (and reads
why when it cannot be drawn), and is sent back to the login form at their next request once
disabled; a server that goes away is reported.

Needs Debian's ``/usr/bin/chromium`` (or ``TICKMESH_TEST_CHROMIUM``) and the ``playwright``
package; Playwright's own browser downloads are never used. Skips without them, unless
``TICKMESH_REQUIRE_SERVICES=1``, where it fails. Screenshots go to ``$TICKMESH_TEST_ARTIFACTS``
when set, else to the test's ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

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
BUSY_CONFIG = CONFIG.replace("entry = 5, exit = 3", "entry = 2, exit = 2")  # a signal every few s
SETTLED_MS = 3500  # the page loads once more 2.5 s after the stream opened (SETTLE_MS, app.js)
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


@dataclass(frozen=True)
class Seen:
    """One request the page made: when (monotonic seconds), what kind, and where to."""

    at: float
    kind: str
    url: str


@pytest.fixture
def browser_page(chromium: str) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page in headless Chromium, and the console errors it logs (CSP refusals too).
    Every request it makes is kept in ``page.seen`` (a list of :class:`Seen`)."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.seen = []
            page.on(
                "request",
                lambda r: page.seen.append(Seen(time.monotonic(), r.resource_type, r.url)),
            )
            yield page, problems
        finally:
            browser.close()


def add_user(workdir: Workdir, name: str, role: str) -> None:
    workdir.run("admin", "user", "add", name, "--role", role, "--password-stdin",
                "--db", f"sqlite:///{workdir.db}", input_text=f"{PASSWORD}\n")  # fmt: skip


def launch(workdir: Workdir, log_name: str = "run.log", settings: str = CONFIG) -> Running:
    """``tickmesh run`` on the paced synthetic feed in ``workdir``, once it serves."""
    config = workdir.path / "tickmesh.toml"
    config.write_text(settings)
    port = free_port()
    cmd = [sys.executable, "-m", "tickmesh.cli", "run", "--no-live", "--port", str(port),
           "--speed", str(SPEED), "--db", f"sqlite:///{workdir.db}",
           "--config", str(config)]  # fmt: skip
    log = workdir.path / log_name
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir.path, env=clean_env(), text=True,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        url = wait_for_api(proc, str(port))
    except AssertionError as exc:
        proc.terminate()
        proc.wait(timeout=60)
        raise AssertionError(f"tickmesh run did not serve:\n{log.read_text()[-4000:]}") from exc
    return Running(url, proc, log)


@pytest.fixture
def platform(workdir: Workdir) -> Iterator[Running]:
    """``tickmesh run`` on the paced synthetic feed, with an operator and a viewer."""
    add_user(workdir, OPERATOR, "operator")
    add_user(workdir, VIEWER, "viewer")
    running = launch(workdir)
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.proc.terminate()
            running.proc.wait(timeout=60)
    assert running.proc.returncode == 0, running.log.read_text()[-4000:]


class Relay:
    """A TCP relay in front of the server: the browser talks to :attr:`url`, and :meth:`cut`
    drops every open connection at once, as a server or a proxy in between would."""

    def __init__(self, target: str) -> None:
        self.point_at(target)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def point_at(self, target: str) -> None:
        """Send new connections to ``target`` (a server started in the old one's place)."""
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()  # the server is down: refuse, as it would
                continue
            upstream.settimeout(None)
            with self.lock:
                self.open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            dropped, self.open = self.open, []
        for end in dropped:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture
def relay(platform: Running) -> Iterator[Relay]:
    """The platform behind a :class:`Relay`."""
    relayed = Relay(platform.url)
    try:
        yield relayed
    finally:
        relayed.close()


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


def strategy_row(strategy_id: str) -> str:
    return f"#strategies tr[data-id='{strategy_id}']"


def switch_strategy(page: Any, strategy_id: str, action: str, expected: str) -> list[str]:
    """Clicks the instance's Enable/Disable button and waits until its row reads ``expected``;
    returns the states the row went through on the way."""
    page.evaluate(WATCH_STATES, strategy_id)
    page.click(f"{strategy_row(strategy_id)} button[data-action={action}]")
    page.wait_for_selector(f"{strategy_row(strategy_id)}[data-state={expected}]", timeout=20_000)
    states: list[str] = page.evaluate("() => window.seenStates")
    return states


WATCH_STATES = """(id) => {
  window.seenStates = [];
  const seen = () => {
    const row = document.querySelector(`#strategies tr[data-id="${id}"]`);
    const state = row && row.dataset.state;
    if (state && state !== window.seenStates.at(-1)) window.seenStates.push(state);
  };
  new MutationObserver(seen).observe(document.getElementById("strategies"),
    { childList: true, subtree: true, attributes: true });
}"""


HELD = """() => [...document.querySelectorAll("#strategies tr[data-id]")].map((row) => {
  const [id, symbol] = [row.dataset.id, row.cells[1].textContent];
  const held = [...document.querySelectorAll("#positions tr")]
    .find((p) => p.cells[0].textContent === id && p.cells[1].textContent === symbol);
  return [row.cells[5].textContent, held ? held.cells[2].textContent : "0"];
})"""


def signal_count(base: str, token: str, strategy_id: str) -> int:
    page = api(base, f"/api/v1/signals?strategy_id={quote(strategy_id)}&limit=1", token=token)
    return int(page["total"])


def wait_for_signals(base: str, token: str, strategy_id: str, more_than: int) -> int:
    deadline = time.monotonic() + 90
    while (count := signal_count(base, token, strategy_id)) <= more_than:
        if time.monotonic() > deadline:
            raise AssertionError(f"{strategy_id} sent no signal past {more_than} in 90 s")
        time.sleep(0.5)
    return count


def halt(page: Any) -> None:
    page.wait_for_selector("#ops-form", state="visible")
    page.fill("#ops-reason", "browser acceptance test")
    page.click("#halt")
    page.wait_for_selector("#risk-state[data-state=HALTED]", timeout=20_000)
    page.wait_for_selector("#ops-message:has-text('trading is HALTED')", timeout=20_000)


def banner(page: Any) -> str | None:
    return None if page.is_hidden("#problems") else page.text_content("#problems")


def requests_to(page: Any, path: str, since: float = 0.0) -> list[Seen]:
    """The page's requests to ``path`` (``/api/v1/bars``, say) from ``since`` on."""
    return [s for s in page.seen if s.at >= since and s.url.split("?")[0].endswith(path)]


def stream_requests(page: Any, since: float = 0.0) -> list[Seen]:
    return requests_to(page, "/api/v1/stream", since)


def cut_and_resume(page: Any, relay: Relay, timeout_s: float = 20) -> float:
    """Drop every connection (the open stream with it) and wait until the page has opened a new
    stream and is live again; returns when the cut happened."""
    cut = time.monotonic()
    relay.cut()
    deadline = cut + timeout_s
    while not stream_requests(page, since=cut):
        if time.monotonic() > deadline:
            raise AssertionError(f"no new stream request {timeout_s} s after the cut")
        page.wait_for_timeout(100)
    page.wait_for_selector("#connection[data-state=live]", timeout=timeout_s * 1000)
    return cut


def test_operator_watches_live_candles_halts_and_sees_signals_refused(
    browser_page: tuple[Any, list[str]], platform: Running, relay: Relay, tmp_path: Path
) -> None:
    page, problems = browser_page
    open_dashboard(page, relay.url)
    log_in(page, OPERATOR)
    page.wait_for_selector("#dashboard", state="visible")
    page.wait_for_selector("#connection[data-state=live]", timeout=15_000)
    who = page.text_content("#who")

    show(page, "SYN1")
    page.wait_for_timeout(SETTLED_MS)
    first = wait_for_more_candles(page, 0)
    watching = time.monotonic()
    grown = wait_for_more_candles(page, first + 3)
    bar_requests_while_growing = requests_to(page, "/api/v1/bars", since=watching)
    canvases = page.locator("#candles canvas").count()

    page.locator("#feed li.new[data-kind=fill]").first.wait_for(timeout=90_000)
    show(page, first_traded_symbol(page))
    page.wait_for_selector("#candles[data-markers]:not([data-markers='0'])")

    halting = time.monotonic()
    halt(page)
    risk_requests_after_halt = requests_to(page, "/api/v1/risk", since=halting)
    refused = page.locator("#feed li.new[data-reason=TRADING_HALTED]").first
    refused.wait_for(timeout=90_000)
    refusal = refused.text_content() or ""
    screenshot(page, tmp_path, "dashboard-viewer.png")
    wait_for_more_candles(page, candle_count(page))  # the market keeps flowing while halted
    shown_problems = banner(page)
    problems_while_online = list(problems)
    shot = screenshot(page, tmp_path, "dashboard.png")

    cut = cut_and_resume(page, relay)
    resumed = stream_requests(page, since=cut)
    after_cut = wait_for_more_candles(page, candle_count(page))
    bar_requests_after_cut = requests_to(page, "/api/v1/bars", since=cut)

    token = api(platform.url, "/api/v1/token/login", {"username": OPERATOR, "password": PASSWORD})
    bearer = token["access_token"]
    stored = api(platform.url, "/api/v1/rejections?reason=TRADING_HALTED", token=bearer)
    risk = api(platform.url, "/api/v1/risk", token=bearer)
    opened = stream_requests(page)

    assert who == f"{OPERATOR} (operator)"
    assert grown > first > 0
    assert bar_requests_while_growing == [], "the chart must grow from the stream, not by polling"
    assert canvases > 0
    assert opened[0].kind == "eventsource"
    assert "ticket=" in opened[0].url
    assert "last_event_id" not in opened[0].url
    assert risk_requests_after_halt == [], "HALTED must arrive over the stream"
    assert "TRADING_HALTED" in refusal
    assert "trading halted (manual)" in refusal
    assert stored["total"] >= 1
    assert stored["items"][0]["detail"] == "trading halted (manual)"
    assert risk["risk"]["state"] == "HALTED"
    assert problems_while_online == []
    assert shown_problems is None
    assert shot.stat().st_size > 0
    assert resumed, "no new EventSource after the network came back"
    assert re.search(r"[?&]last_event_id=\d+", resumed[-1].url), resumed[-1].url
    assert "ticket=" in resumed[-1].url
    assert after_cut > 0
    assert bar_requests_after_cut == [], "resumed by id: no reset, so no reload over REST"
    assert [p for p in problems if "ERR_INCOMPLETE_CHUNKED_ENCODING" not in p] == []  # the cut


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
    page.wait_for_selector(strategy_row("donchian_breakout:SYN2"))
    strategies = page.locator("#strategies tr").all_text_contents()
    switches = page.locator("#strategies button").count()
    switch_column_hidden = page.is_hidden("#strategies-action-head")
    strategies_note = page.text_content("#strategies-note")

    in_row = f"#backtests tr[data-run='{stored_run}']"
    report_button = f"{in_row} button"
    with page.expect_download(timeout=30_000) as got:
        page.click(report_button)
    download = got.value
    report = Path(download.path()).read_text(encoding="utf-8")
    notes_after_download = page.locator(f"#backtests tr[data-note-for='{stored_run}']").count()
    for stored in workdir.path.glob("**/symbol=GOOGL/timeframe=1d/*"):
        stored.unlink()  # the run's candles are gone: its report cannot be drawn again
    page.click(report_button)
    refused = page.locator(f"#backtests tr.failed[data-note-for='{stored_run}']")
    refused.wait_for(timeout=15_000)
    refusal = refused.text_content() or ""
    screenshot(page, tmp_path, "dashboard-viewer.png")

    workdir.run("admin", "user", "disable", VIEWER, "--db", f"sqlite:///{workdir.db}")
    show(page, "SYN2")  # the next request is refused, and the session with it
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
    assert [row.split("1m")[0] for row in strategies] == [
        "donchian_breakout:SYN1SYN1", "donchian_breakout:SYN2SYN2",
    ]  # fmt: skip
    assert all("entry=5, exit=3" in row and "enabled" in row for row in strategies)
    assert switches == 0
    assert switch_column_hidden
    assert strategies_note == "Operators can enable and disable strategies."
    assert download.suggested_filename == f"report-{stored_run}.html"
    assert stored_run in report
    assert "LightweightCharts" in report
    assert notes_after_download == 0
    assert "no 1d candles" in refusal
    assert "GOOGL" in refusal
    assert f"user '{VIEWER}' is disabled" in ended
    assert "cannot reach the tickmesh API" in unreachable
    expected = ("401", "409", "ERR_CONNECTION_REFUSED", "503")  # refused, then the server stopping
    assert [p for p in problems if not any(code in p for code in expected)] == []


def test_operator_disables_a_strategy_and_its_signals_stop(
    browser_page: tuple[Any, list[str]], workdir: Workdir, tmp_path: Path
) -> None:
    page, problems = browser_page
    off, on = "donchian_breakout:SYN2", "donchian_breakout:SYN1"
    add_user(workdir, OPERATOR, "operator")
    platform = launch(workdir, settings=BUSY_CONFIG)
    try:
        login = {"username": OPERATOR, "password": PASSWORD}
        bearer = api(platform.url, "/api/v1/token/login", login)["access_token"]
        open_dashboard(page, platform.url)
        log_in(page, OPERATOR)
        page.wait_for_selector("#connection[data-state=live]", timeout=15_000)
        shown = f"{strategy_row(off)}[data-state=enabled] button[data-action=disable]"
        page.wait_for_selector(shown)
        wait_for_signals(platform.url, bearer, off, 0)  # it trades before it is switched off

        clicked = time.monotonic()
        while_disabling = switch_strategy(page, off, "disable", "disabled")
        reloads = requests_to(page, "/api/v1/strategies", since=clicked)
        disabled_row = page.text_content(strategy_row(off)) or ""
        other_row = page.get_attribute(strategy_row(on), "data-state")
        listed = {s["id"]: s for s in api(platform.url, "/api/v1/strategies", token=bearer)}
        screenshot(page, tmp_path, "dashboard-strategies.png")
        time.sleep(2.5)  # signals sent before the switch reach the store in batches
        silenced = signal_count(platform.url, bearer, off)
        wait_for_signals(platform.url, bearer, on, signal_count(platform.url, bearer, on) + 1)
        after = signal_count(platform.url, bearer, off)

        while_enabling = switch_strategy(page, off, "enable", "enabled")
        relisted = {s["id"]: s for s in api(platform.url, "/api/v1/strategies", token=bearer)}
        wait_for_signals(platform.url, bearer, off, after)
        page.locator("#positions tr").first.wait_for(timeout=60_000)
        held = page.evaluate(HELD)  # the strategies' positions follow the live snapshots
    finally:
        platform.stop()

    assert while_disabling[0] == "pending"
    assert while_disabling[-1] == "disabled"
    assert reloads, "the list is reloaded over REST once the command is accepted"
    assert "Enable" in disabled_row
    assert other_row == "enabled"
    assert listed[off]["enabled"] is False
    assert listed[off]["live"] is True
    assert listed[on]["enabled"] is True
    assert after == silenced, "a disabled strategy sends no signals"
    assert while_enabling[0] == "pending"
    assert relisted[off]["enabled"] is True
    assert len(held) == 2
    assert any(Decimal(listed) != 0 for listed, _ in held), held
    assert all(Decimal(listed) == Decimal(shown) for listed, shown in held), held
    assert problems == []


def test_page_reloads_over_rest_when_the_stream_cannot_resume(
    browser_page: tuple[Any, list[str]], platform: Running, relay: Relay, workdir: Workdir
) -> None:
    page, problems = browser_page
    open_dashboard(page, relay.url)
    log_in(page, OPERATOR)
    page.wait_for_selector("#connection[data-state=live]", timeout=15_000)
    show(page, "SYN1")
    wait_for_more_candles(page, 0)

    platform.stop()  # a new process has a new stream: the old event ids mean nothing there
    page.wait_for_selector("#connection:not([data-state=live])", timeout=15_000)
    restarted = launch(workdir, "run-again.log")
    try:
        back = time.monotonic()
        relay.point_at(restarted.url)
        page.wait_for_selector("#connection[data-state=live]", timeout=30_000)
        page.wait_for_selector("#connection[title*='reload the state']", timeout=15_000)
        note = page.get_attribute("#connection", "title") or ""
        grown = wait_for_more_candles(page, candle_count(page))
        reopened = stream_requests(page, since=back)
        reloaded = requests_to(page, "/api/v1/bars", since=back)
    finally:
        restarted.stop()

    assert any(re.search(r"[?&]last_event_id=\d+", seen.url) for seen in reopened)
    assert "reset" in note
    assert reloaded, "after a reset the chart is reloaded over REST"
    assert grown > 0
    expected = (  # what a server going away and coming back looks like to the browser
        "ERR_INCOMPLETE_CHUNKED_ENCODING", "ERR_EMPTY_RESPONSE", "503", "ERR_CONNECTION",
        "ERR_SOCKET_NOT_CONNECTED",
    )  # fmt: skip
    assert [p for p in problems if not any(code in p for code in expected)] == []
