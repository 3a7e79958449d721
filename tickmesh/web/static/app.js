// The tickmesh dashboard: plain ES modules over the REST API and its event stream, no build
// step, no framework. This module wires them: the login form, the session, the live stream
// feeding the board, and the connection indicator ("live" / "reconnecting" / "unreachable").
//
// api.js         REST client, tokens in memory, refreshed before they expire
// stream.js      the SSE client: single-use tickets, resume by last event id
// board.js       the dashboard's state: REST loads, then live events
// chart.js       candles with fill markers, the equity line
// account.js     the equity panel: stored equity history, then live snapshots
// strategies.js  the strategy instances, and the operator's switches for them
// backtests.js   stored backtest runs and their report downloads
// panels.js      risk, positions, orders, feed, problems banner
// format.js      numbers, times and DOM helpers

import { ApiError, Session } from "./api.js";
import { Board } from "./board.js";
import { $, Poller } from "./format.js";
import { Problems, explain } from "./panels.js";
import { LiveStream } from "./stream.js";

const TOPICS = ["bars", "fills", "orders", "portfolio", "risk", "rejections"];
const OPERATOR_ROLES = new Set(["operator", "admin"]);
const OPEN_WAIT_MS = 3000; // load over REST once the stream is open, or after this long
// The store is written in batches (about once a second), so an event sent just before the stream
// opened (or reset) may not be stored yet when the page loads: load once more after this long.
const SETTLE_MS = 2500;
const FALLBACK_AFTER_MS = 5000; // the stream has been down this long: poll REST instead
const FALLBACK_POLL_MS = 15000;
const CONNECTION_TEXT = {
  idle: "offline",
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  down: "unreachable",
};

class App {
  constructor() {
    this.problems = new Problems($("problems"));
    this.session = new Session({
      onEnded: (reason) => this.showLogin(reason),
      onReachable: () => this.reachable(true),
      onUnreachable: () => this.reachable(false),
    });
    this.board = null;
    this.stream = null;
    this.streamState = "idle";
    this.streamDetail = "";
    this.lastReset = "";
    this.settleTimer = null;
    this.online = true;
    this.fallback = null;
    this.fallbackTimer = null;
    this.bind();
  }

  bind() {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.login();
    });
    $("logout").addEventListener("click", () => this.logout());
    $("chart-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.board) this.board.pick($("symbol").value.trim(), $("timeframe").value);
    });
    $("timeframe").addEventListener("change", () => {
      if (this.board && this.board.symbol) this.board.pick(this.board.symbol, $("timeframe").value);
    });
    $("halt").addEventListener("click", () => this.board && this.board.command("halt", "HALTED"));
    $("resume").addEventListener("click", () => this.board && this.board.command("resume", "ACTIVE"));
  }

  // --- session ----------------------------------------------------------------------------------

  async login() {
    const button = $("login-submit");
    const message = $("login-message");
    button.disabled = true;
    message.textContent = "Logging in…";
    try {
      await this.session.login($("username").value, $("password").value);
      $("password").value = "";
      message.textContent = "";
      this.start();
    } catch (err) {
      message.textContent = err instanceof ApiError ? err.detail : err.message;
    } finally {
      button.disabled = false;
    }
  }

  async logout() {
    this.stop();
    try {
      await this.session.logout();
      this.showLogin("Logged out.");
    } catch (err) {
      this.showLogin(`Logged out here; the server was not told: ${explain(err)}`);
    }
  }

  showLogin(message) {
    this.stop();
    this.session.clear();
    this.problems.clearAll();
    $("dashboard").hidden = true;
    $("login").hidden = false;
    $("who").hidden = true;
    $("logout").hidden = true;
    $("login-message").textContent = message || "";
    $("username").focus();
  }

  /** Opens the stream first, so nothing published after the REST load is missed. */
  async start() {
    const { sub, role } = this.session.claims;
    const operator = OPERATOR_ROLES.has(role);
    $("who").textContent = `${sub} (${role})`;
    $("who").hidden = false;
    $("logout").hidden = false;
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("ops-form").hidden = !operator;
    $("ops-message").textContent = operator ? "" : "Operators can halt and resume trading.";
    const board = new Board(this.session, this.problems, { operator });
    this.board = board;
    this.stream = new LiveStream(this.session, {
      topics: TOPICS,
      onEvent: (topic, data) => board.onEvent(topic, data),
      onReset: (reason) => this.reset(board, reason),
      onStatus: (state, detail) => this.streamChanged(state, detail),
    }).start();
    const wanted = new URLSearchParams(location.hash.slice(1));
    if (wanted.get("symbol")) board.choose(wanted.get("symbol"), wanted.get("timeframe") || "1m");
    await Promise.race([this.stream.firstOpen, new Promise((done) => setTimeout(done, OPEN_WAIT_MS))]);
    if (this.board === board) this.load(board);
  }

  /** Everything over REST now, and once more when the store has caught up with the stream. */
  load(board) {
    board.reload();
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.board === board && board.reload(), SETTLE_MS);
  }

  stop() {
    if (this.stream) this.stream.stop();
    this.stream = null;
    this.stopFallback();
    clearTimeout(this.settleTimer);
    if (this.board) this.board.destroy();
    this.board = null;
    this.streamState = "idle";
    this.lastReset = "";
    this.showConnection();
  }

  // --- connection -----------------------------------------------------------------------------

  reachable(yes) {
    this.online = yes;
    if (yes) this.problems.clear("network");
    else if (this.session.active) {
      this.problems.set("network", "Network: cannot reach the tickmesh API; retrying.");
    }
    this.showConnection();
  }

  /** The stream could not resume where it left off: reload everything over REST. */
  reset(board, reason) {
    const at = new Date().toISOString().slice(11, 19);
    this.lastReset = `; reset at ${at}Z, state reloaded over REST (${reason})`;
    this.showConnection();
    this.load(board);
  }

  streamChanged(state, detail) {
    this.streamState = state;
    this.streamDetail = detail;
    if (this.board) this.board.live = state === "live";
    if (state === "live") this.stopFallback();
    else this.scheduleFallback();
    this.showConnection();
  }

  showConnection() {
    let state = this.session.active ? this.streamState : "idle";
    if (this.session.active && !this.online) state = "down";
    const node = $("connection");
    node.dataset.state = state;
    node.textContent = CONNECTION_TEXT[state];
    const polling = this.fallback ? `; polling every ${FALLBACK_POLL_MS / 1000} s meanwhile` : "";
    node.title =
      state === "live"
        ? `live updates from the event stream${this.lastReset}`
        : `${this.streamDetail}${polling}`;
  }

  /** While the stream stays down, reload over REST now and then so the page does not go stale. */
  scheduleFallback() {
    if (this.fallback || this.fallbackTimer || !this.board) return;
    this.fallbackTimer = setTimeout(() => {
      this.fallbackTimer = null;
      const board = this.board;
      if (board) this.fallback = new Poller(FALLBACK_POLL_MS, () => board.reload()).start();
      this.showConnection();
    }, FALLBACK_AFTER_MS);
  }

  stopFallback() {
    clearTimeout(this.fallbackTimer);
    this.fallbackTimer = null;
    if (this.fallback) this.fallback.stop();
    this.fallback = null;
  }
}

function main() {
  if (!window.LightweightCharts) {
    $("login-message").textContent = "The chart library did not load; reload the page.";
    return;
  }
  new App();
  $("username").focus();
}

main();
