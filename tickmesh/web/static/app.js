// The tickmesh dashboard: plain JavaScript over the REST API, no build step, no framework.
//
// Layout of this file: the API client (tokens kept in memory, refreshed before they expire),
// data sources (polling now; a stream-backed source can replace PollingBarSource without the
// views noticing), small formatting helpers, one view per panel, and the Dashboard that wires
// them together. Data from the server is only ever written with textContent, never as HTML.

const API = "/api/v1";
const POLL_MS = 2000;
const BACKTESTS_POLL_MS = 30000;
const SYMBOLS_POLL_MS = 10000;
const HISTORY_BARS = 1000;
const PAGE_LIMIT = 1000;
const CATCH_UP_PAGES = 5;
const FEED_SIZE = 100;
const EQUITY_FIT_POINTS = 60; // fit the whole line until it is long enough to scroll
const STATE_WAIT_MS = 15000;
const NS_PER_S = 1e9;
const OPERATOR_ROLES = new Set(["operator", "admin"]);
const OPEN_ORDER_STATUSES = new Set(["PENDING", "ACCEPTED", "PARTIALLY_FILLED"]);
const NO_BARS = "no stored bars yet (the platform stores the timeframes its strategies trade on)";
const EQUITY_NOTE =
  "Cash plus positions marked at their last stored bar close, sampled at each poll since this page opened.";
const TIMEFRAME_SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };

// --- errors -----------------------------------------------------------------------------------

/** The API answered with an error status; `detail` is its reason, as a readable string. */
class ApiError extends Error {
  constructor(status, detail, path) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
    this.path = path;
  }
}

/** The request never got an answer: the server is down or the network is. */
class NetworkError extends Error {}

function describeDetail(body, fallback) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
  }
  return fallback;
}

// --- the API client ---------------------------------------------------------------------------

/** Base64url JSON of a JWT payload; the signature is the server's business, not the page's. */
function tokenClaims(token) {
  const part = token.split(".")[1] || "";
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/**
 * One login: the token pair lives in memory only (never in storage), the access token is
 * refreshed at 80 % of its lifetime, and a 401 triggers one refresh and one retry. Refreshes are
 * single-flight, because presenting a used refresh token revokes the whole login.
 */
class Session {
  constructor({ onEnded, onReachable, onUnreachable }) {
    this.onEnded = onEnded;
    this.onReachable = onReachable;
    this.onUnreachable = onUnreachable;
    this.tokens = null;
    this.claims = null;
    this.refreshing = null;
    this.timer = null;
  }

  get active() {
    return this.tokens !== null;
  }

  async login(username, password) {
    const body = await this.send("POST", "/token/login", { body: { username, password } });
    this.accept(body);
  }

  async logout() {
    const tokens = this.tokens;
    this.clear();
    if (tokens) {
      await this.send("POST", "/token/logout", { body: { refresh_token: tokens.refresh_token } });
    }
  }

  clear() {
    clearTimeout(this.timer);
    this.tokens = null;
    this.claims = null;
    this.refreshing = null;
  }

  accept(body) {
    this.tokens = body;
    this.claims = tokenClaims(body.access_token);
    clearTimeout(this.timer);
    const inMs = Math.max(5, body.expires_in * 0.8) * 1000;
    this.timer = setTimeout(() => this.refreshSoon(), inMs);
  }

  /** The scheduled refresh: a refusal ends the session; a network failure retries soon. */
  async refreshSoon() {
    const tokens = this.tokens;
    try {
      await this.refresh();
    } catch (err) {
      if (err instanceof NetworkError) this.timer = setTimeout(() => this.refreshSoon(), 5000);
      else if (this.tokens === tokens) this.end(`session ended: ${err.detail || err.message}`);
    }
  }

  /** Trades the refresh token for a new pair; concurrent callers share the one exchange. */
  refresh() {
    if (!this.refreshing) {
      const value = this.tokens && this.tokens.refresh_token;
      this.refreshing = this.exchange(value).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async exchange(value) {
    if (!value) throw new ApiError(401, "not logged in", "/token/refresh");
    const body = await this.send("POST", "/token/refresh", { body: { refresh_token: value } });
    if (this.tokens && this.tokens.refresh_token === value) this.accept(body);
  }

  end(reason) {
    if (!this.active) return;
    this.clear();
    this.onEnded(reason);
  }

  /**
   * GET or POST an API path with the access token; JSON in, JSON out. A 401 refreshes the
   * tokens (unless another call already did) and retries once; when that fails too, the session
   * ends with the reason the API gave for the 401.
   */
  async call(method, path, { params, body } = {}) {
    const used = this.tokens;
    if (!used) throw new ApiError(401, "not logged in", path);
    try {
      return await this.send(method, path, { params, body, token: used.access_token });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      let reason = err.detail; // why the tokens were refused, until a refresh succeeds
      try {
        if (this.tokens === used) await this.refresh();
        if (!this.tokens) throw err;
        reason = null;
        return await this.send(method, path, { params, body, token: this.tokens.access_token });
      } catch (again) {
        if (again instanceof ApiError && again.status === 401) {
          this.end(`session ended: ${reason ?? again.detail}`);
        }
        throw again;
      }
    }
  }

  get(path, params) {
    return this.call("GET", path, { params });
  }

  post(path, body) {
    return this.call("POST", path, { body });
  }

  async send(method, path, { params, body, token } = {}) {
    const url = new URL(API + path, location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (err) {
      this.onUnreachable(err);
      throw new NetworkError(`cannot reach the server (${err.message})`);
    }
    this.onReachable();
    return this.parse(response, path);
  }

  async parse(response, path) {
    if (response.status === 204) return null;
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const fallback = `${response.status} ${response.statusText || "error"}`;
      throw new ApiError(response.status, describeDetail(body, fallback), path);
    }
    return body;
  }
}

// --- data sources -----------------------------------------------------------------------------

/** Runs `task` every `intervalMs`, never two at once; the first run starts at once. */
class Poller {
  constructor(intervalMs, task) {
    this.intervalMs = intervalMs;
    this.task = task;
    this.timer = null;
    this.running = false;
    this.busy = false;
    this.again = false;
  }

  start() {
    this.running = true;
    this.tick();
    return this;
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
  }

  /** Run now (after the current run, if one is under way) instead of waiting. */
  async tick() {
    clearTimeout(this.timer);
    if (!this.running) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      await this.task();
    } finally {
      this.busy = false;
      if (this.running) {
        this.timer = setTimeout(() => this.tick(), this.again ? 0 : this.intervalMs);
      }
      this.again = false;
    }
  }
}

const isoOf = (seconds) => new Date(seconds * 1000).toISOString();

/**
 * Bars of one symbol and timeframe, as a source the chart subscribes to:
 * `start({reset, append, error})` calls `reset(bars)` once with the recent history, then
 * `append(bars)` with bars new or changed since; `stop()` ends it. Bars are
 * `{time, open, high, low, close}` with `time` in seconds. This one polls the `bars` endpoint;
 * a source reading `/api/v1/stream` can replace it in `makeBarSource` with the same shape.
 */
class PollingBarSource {
  constructor(session, symbol, timeframe, intervalMs = POLL_MS) {
    this.session = session;
    this.symbol = symbol;
    this.timeframe = timeframe;
    this.lastTime = null;
    this.poller = new Poller(intervalMs, () => this.poll());
  }

  start(sink) {
    this.sink = sink;
    this.poller.start();
  }

  stop() {
    this.poller.stop();
    this.sink = null;
  }

  async poll() {
    try {
      if (this.lastTime === null) await this.loadHistory();
      else await this.catchUp();
    } catch (err) {
      if (this.sink) this.sink.error(err);
    }
  }

  query(extra) {
    return this.session.get("/bars", { symbol: this.symbol, timeframe: this.timeframe, ...extra });
  }

  async loadHistory() {
    const page = await this.query({ sort: "-ts_open", limit: HISTORY_BARS });
    const bars = page.items.map(toCandle).reverse();
    if (!this.sink) return;
    this.lastTime = bars.length ? bars[bars.length - 1].time : null; // none yet: ask again
    this.sink.reset(bars, page.total);
  }

  async catchUp() {
    for (let pages = 0; pages < CATCH_UP_PAGES; pages += 1) {
      const from = isoOf(this.lastTime); // inclusive: the last bar again, in case it changed
      const page = await this.query({ from, sort: "ts_open", limit: PAGE_LIMIT });
      const bars = page.items.map(toCandle);
      if (!this.sink) return;
      if (bars.length) this.lastTime = bars[bars.length - 1].time;
      this.sink.append(bars);
      if (page.items.length < PAGE_LIMIT) return;
    }
  }
}

function makeBarSource(session, symbol, timeframe) {
  return new PollingBarSource(session, symbol, timeframe);
}

function toCandle(bar) {
  const time = Math.round(bar.ts_open / NS_PER_S);
  return { time, open: bar.open, high: bar.high, low: bar.low, close: bar.close };
}

// --- exact decimals (money travels as strings) ---------------------------------------------------

const SCALE = 64n;
const TEN = 10n;

/** A decimal string as a BigInt scaled by 10^64: exact for every quantity the API sends. */
function scaled(text) {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(String(text).trim());
  if (!match || (match[2] === "" && !match[3])) throw new Error(`not a decimal: ${text}`);
  const fraction = match[3] || "";
  const digits = BigInt((match[2] || "0") + fraction);
  const shift = SCALE - BigInt(fraction.length) + BigInt(match[4] || 0);
  const value = shift >= 0n ? digits * TEN ** shift : digits / TEN ** -shift;
  return match[1] === "-" ? -value : value;
}

const abs = (n) => (n < 0n ? -n : n);

// --- formatting -----------------------------------------------------------------------------------

function timeText(ns) {
  if (ns === null || ns === undefined) return "—";
  return new Date(ns / 1e6).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function money(text, digits = 2) {
  if (text === null || text === undefined) return "—";
  const n = Number(text);
  if (!Number.isFinite(n)) return String(text);
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function plain(value, digits = 2) {
  if (value === null || value === undefined || value === "") return "—";
  const n = Number(value);
  return Number.isFinite(n) && typeof value === "number" ? n.toFixed(digits) : String(value);
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const [text, className] = Array.isArray(cell) ? cell : [cell, ""];
    tr.append(el("td", text, className));
  }
  return tr;
}

function fillTable(bodyId, emptyId, rows) {
  document.getElementById(bodyId).replaceChildren(...rows);
  document.getElementById(emptyId).hidden = rows.length > 0;
}

const $ = (id) => document.getElementById(id);

// --- problems shown to the user ----------------------------------------------------------------------

/** What is wrong right now, by source; each source clears its own entry when it recovers. */
class Problems {
  constructor(node) {
    this.node = node;
    this.entries = new Map();
  }

  set(key, message) {
    this.entries.set(key, message);
    this.render();
  }

  clear(key) {
    if (this.entries.delete(key)) this.render();
  }

  clearAll() {
    this.entries.clear();
    this.render();
  }

  render() {
    const items = [...this.entries.values()].map((message) => el("p", message));
    this.node.replaceChildren(...items);
    this.node.hidden = items.length === 0;
  }
}

function explain(err) {
  if (err instanceof NetworkError) return `Network: ${err.message}; retrying.`;
  if (err instanceof ApiError && err.status === 403) return `Not allowed: ${err.detail}`;
  if (err instanceof ApiError) return `${err.path} answered ${err.status}: ${err.detail}`;
  return `Unexpected error: ${err.message}`;
}

// --- views --------------------------------------------------------------------------------------------

const CHART_OPTIONS = {
  autoSize: true,
  layout: { attributionLogo: false }, // the attribution is in the page footer (CSP: no inline style)
  timeScale: { timeVisible: true, secondsVisible: false, barSpacing: 8, rightOffset: 4 },
  rightPriceScale: { borderVisible: false },
};

/** Decimals to show for prices around `price`: about five significant digits, 2 to 8. */
function pricePrecision(price) {
  if (!(price > 0)) return 2;
  return Math.min(8, Math.max(2, 4 - Math.floor(Math.log10(price))));
}

function priceText(price) {
  return Number(price).toFixed(pricePrecision(Math.abs(price)));
}

/** The candlestick chart of one symbol with entry/exit markers from its fills. */
class CandleView {
  constructor(container, status) {
    const LC = window.LightweightCharts;
    this.container = container;
    this.status = status;
    this.chart = LC.createChart(container, CHART_OPTIONS);
    this.series = this.chart.addSeries(LC.CandlestickSeries);
    this.markers = LC.createSeriesMarkers(this.series, []);
    this.count = 0;
    this.last = null;
    this.label = "";
  }

  show(symbol, timeframe) {
    this.label = `${symbol} ${timeframe}`;
    this.timeframe = timeframe;
    this.series.setData([]);
    this.setMarkers([]);
    this.count = 0;
    this.last = null;
    this.describe("loading…");
  }

  reset(bars, total) {
    this.count = bars.length;
    this.last = bars.length ? bars[bars.length - 1] : null;
    if (this.last) this.fitPrices(this.last.close);
    this.series.setData(bars); // the latest bars at the right edge; older ones a scroll away
    const older = total > bars.length ? ` (latest ${bars.length} of ${total})` : "";
    this.describe(bars.length ? older : NO_BARS);
  }

  append(bars) {
    for (const bar of bars) {
      if (this.last && bar.time < this.last.time) continue;
      if (!this.last || bar.time > this.last.time) this.count += 1;
      if (!this.last) this.fitPrices(bar.close);
      this.series.update(bar);
      this.last = bar;
    }
    this.describe(this.count ? "" : NO_BARS);
  }

  fitPrices(price) {
    const precision = pricePrecision(price);
    this.series.applyOptions({ priceFormat: { type: "price", precision, minMove: 10 ** -precision } });
  }

  describe(note) {
    const last = this.last
      ? `, last ${timeText(this.last.time * NS_PER_S)} close ${priceText(this.last.close)}`
      : "";
    const extra = note ? ` — ${note}` : "";
    this.status.textContent = `${this.label}: ${this.count} candles${last}${extra}`;
    this.container.dataset.count = String(this.count);
  }

  setMarkers(markers) {
    this.markers.setMarkers(markers);
    this.container.dataset.markers = String(markers.length);
  }

  destroy() {
    this.chart.remove();
  }
}

/**
 * Markers for a symbol's fills, each an entry, exit or reversal of its strategy's position (see
 * `fillKind`). Walks back from the current positions through the fills, newest
 * first, so the answer does not depend on how far back the fills go.
 */
function fillMarkers(fills, positions, timeframe) {
  const held = new Map(positions.map((p) => [p.strategy_id, scaled(p.quantity)]));
  const step = TIMEFRAME_SECONDS[timeframe] || 60;
  const markers = [];
  for (const fill of fills) {
    const after = held.get(fill.strategy_id) ?? 0n;
    const signed = fill.side === "BUY" ? scaled(fill.quantity) : -scaled(fill.quantity);
    const before = after - signed;
    held.set(fill.strategy_id, before);
    const kind = fillKind(before, after);
    const buy = fill.side === "BUY";
    const seconds = Math.floor(fill.ts_event / NS_PER_S);
    markers.push({
      time: seconds - (seconds % step),
      position: buy ? "belowBar" : "aboveBar",
      shape: buy ? "arrowUp" : "arrowDown",
      color: MARKER_COLORS[kind],
      text: kind,
    });
  }
  return markers.reverse();
}

const MARKER_COLORS = { entry: "#26a69a", exit: "#ef5350", reverse: "#2962ff" };

/** "entry" when a fill grows a position, "exit" when it shrinks it, "reverse" when it flips it. */
function fillKind(before, after) {
  if (before !== 0n && after !== 0n && before < 0n !== after < 0n) return "reverse";
  return abs(after) > abs(before) ? "entry" : "exit";
}

/** The equity line, one point per poll at the account's event time. */
class EquityView {
  constructor(container) {
    const LC = window.LightweightCharts;
    this.chart = LC.createChart(container, CHART_OPTIONS);
    this.series = this.chart.addSeries(LC.LineSeries, { color: "#2962ff", lineWidth: 2 });
    this.lastTime = null;
    this.points = 0;
  }

  add(ns, value) {
    const time = Math.floor(ns / NS_PER_S);
    if (this.lastTime !== null && time < this.lastTime) return;
    if (time !== this.lastTime) this.points += 1;
    this.series.update({ time, value });
    this.lastTime = time;
    if (this.points < EQUITY_FIT_POINTS) this.chart.timeScale().fitContent();
  }

  destroy() {
    this.chart.remove();
  }
}

function renderPositions(positions) {
  const rows = positions
    .filter((p) => scaled(p.quantity) !== 0n)
    .map((p) =>
      row([
        p.strategy_id,
        p.symbol,
        [p.quantity, "num"],
        [money(p.avg_price, 4), "num"],
        [money(p.realized_pnl), "num"],
        timeText(p.ts),
      ]),
    );
  fillTable("positions", "positions-empty", rows);
}

function renderOrders(orders) {
  const rows = orders
    .filter((o) => OPEN_ORDER_STATUSES.has(o.status))
    .map((o) =>
      row([
        o.order_id,
        o.strategy_id,
        o.symbol,
        [o.side, o.side === "BUY" ? "buy" : "sell"],
        o.status,
        [o.quantity ?? "—", "num"],
        [o.filled_quantity, "num"],
        o.order_type ?? "—",
        [o.limit_price ?? "—", "num"],
        timeText(o.ts_event),
      ]),
    );
  fillTable("orders", "orders-empty", rows);
}

/** Fills and rejections, newest first; entries not seen before are highlighted. */
class FeedView {
  constructor(list, empty) {
    this.list = list;
    this.empty = empty;
    this.seen = new Set();
    this.first = true;
  }

  render(fills, rejections) {
    const entries = [
      ...fills.map((f) => ({ id: `f:${f.fill_id}`, ts: f.ts_event, node: () => fillEntry(f) })),
      ...rejections.map((r) => ({ id: `r:${r.event_id}`, ts: r.ts_event, node: () => rejectionEntry(r) })),
    ].sort((a, b) => b.ts - a.ts);
    const nodes = entries.slice(0, FEED_SIZE).map((entry) => {
      const node = entry.node();
      if (!this.first && !this.seen.has(entry.id)) node.classList.add("new");
      this.seen.add(entry.id);
      return node;
    });
    this.first = false;
    this.list.replaceChildren(...nodes);
    this.empty.hidden = nodes.length > 0;
  }
}

function fillEntry(f) {
  const li = el("li", undefined, "fill");
  li.dataset.kind = "fill";
  li.append(
    el("time", timeText(f.ts_event)),
    el("span", "FILL", "tag fill"),
    el("span", `${f.side} ${f.quantity} ${f.symbol} @ ${f.price}`, f.side === "BUY" ? "buy" : "sell"),
    el("span", `fee ${f.fee} · ${f.strategy_id}`, "muted"),
  );
  return li;
}

function rejectionEntry(r) {
  const li = el("li", undefined, "rejection");
  li.dataset.kind = "rejection";
  li.dataset.reason = r.reason;
  li.append(
    el("time", timeText(r.ts_event)),
    el("span", "REJECTED", "tag rejection"),
    el("span", `${r.side} ${r.symbol}`, r.side === "BUY" ? "buy" : "sell"),
    el("strong", r.reason, "reason"),
    el("span", `${r.detail} · ${r.strategy_id}`, "muted"),
  );
  return li;
}

function paramsText(strategies) {
  const text = (spec) => (typeof spec.params === "string" ? spec.params : JSON.stringify(spec.params));
  return strategies.filter((spec) => spec.params).map((spec) => `${spec.name}: ${text(spec)}`).join("; ");
}

function renderBacktests(runs) {
  const rows = runs.map(({ run_id, created_ns, summary, config, stats }) =>
    row([
      run_id,
      timeText(created_ns),
      summary,
      paramsText(config.strategies || []) || "defaults",
      stats.start && stats.end ? `${stats.start.slice(0, 10)} – ${stats.end.slice(0, 10)}` : "—",
      [plain(stats.return_pct), "num"],
      [plain(stats.max_drawdown_pct), "num"],
      [plain(stats.n_trades, 0), "num"],
      [plain(stats.sharpe_ratio), "num"],
    ]),
  );
  fillTable("backtests", "backtests-empty", rows);
}

function renderRisk(body) {
  const badge = $("risk-state");
  const risk = body.risk;
  const state = risk ? risk.state : "UNKNOWN";
  badge.textContent = state;
  badge.dataset.state = state;
  $("risk-reason").textContent = risk
    ? `${risk.reason || "no reason given"} (since ${timeText(risk.ts)})`
    : "the risk manager has not stored a state yet";
  $("namespace").textContent = body.namespace;
  $("peak-equity").textContent = risk ? money(risk.peak_equity) : "—";
  return state;
}

// --- the dashboard ---------------------------------------------------------------------------------------

class Dashboard {
  constructor() {
    this.problems = new Problems($("problems"));
    this.session = new Session({
      onEnded: (reason) => this.showLogin(reason),
      onReachable: () => this.reachable(),
      onUnreachable: () => this.unreachable(),
    });
    this.pollers = [];
    this.symbols = new Set();
    this.marks = new Map(); // symbol -> timeframe with stored bars, for marking positions
    this.source = null;
    this.candles = null;
    this.equity = null;
    this.feed = null;
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
      this.pick($("symbol").value.trim(), $("timeframe").value);
    });
    $("timeframe").addEventListener("change", () => {
      if (this.symbol) this.pick(this.symbol, $("timeframe").value);
    });
    $("halt").addEventListener("click", () => this.command("halt", "HALTED"));
    $("resume").addEventListener("click", () => this.command("resume", "ACTIVE"));
  }

  reachable() {
    this.problems.clear("network");
    $("connection").dataset.state = "ok";
    $("connection").textContent = "connected";
  }

  unreachable() {
    $("connection").dataset.state = "down";
    $("connection").textContent = "unreachable";
    if (this.session.active) {
      this.problems.set("network", "Network: cannot reach the tickmesh API; retrying every 2 s.");
    }
  }

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

  start() {
    const { sub, role } = this.session.claims;
    this.operator = OPERATOR_ROLES.has(role);
    $("who").textContent = `${sub} (${role})`;
    $("who").hidden = false;
    $("logout").hidden = false;
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("ops-form").hidden = !this.operator;
    $("ops-message").textContent = this.operator ? "" : "Operators can halt and resume trading.";
    this.feed = new FeedView($("feed"), $("feed-empty"));
    this.candles = new CandleView($("candles"), $("chart-status"));
    this.equity = new EquityView($("equity-chart"));
    this.markerPoller = new Poller(POLL_MS, () => this.guard("markers", () => this.refreshMarkers()));
    this.pollers = [
      new Poller(POLL_MS, () => this.guard("overview", () => this.overview())),
      this.markerPoller,
      new Poller(SYMBOLS_POLL_MS, () => this.guard("symbols", () => this.discoverSymbols())),
      new Poller(BACKTESTS_POLL_MS, () => this.guard("backtests", () => this.backtests())),
    ].map((poller) => poller.start());
    const wanted = new URLSearchParams(location.hash.slice(1));
    if (wanted.get("symbol")) this.pick(wanted.get("symbol"), wanted.get("timeframe") || "1m");
  }

  stop() {
    for (const poller of this.pollers) poller.stop();
    this.pollers = [];
    this.markerPoller = null;
    if (this.source) this.source.stop();
    this.source = null;
    if (this.candles) this.candles.destroy();
    if (this.equity) this.equity.destroy();
    this.candles = null;
    this.equity = null;
    this.symbol = null;
  }

  /** Runs one poll's work, showing its failure until it succeeds again. */
  async guard(key, task) {
    try {
      await task();
      this.problems.clear(key);
    } catch (err) {
      if (!this.session.active) return;
      if (err instanceof NetworkError) return; // reported once, as "network"
      this.problems.set(key, explain(err));
    }
  }

  pick(symbol, timeframe) {
    if (!symbol) {
      $("chart-status").textContent = "Pick a symbol.";
      return;
    }
    if (!(timeframe in TIMEFRAME_SECONDS)) timeframe = "1m";
    this.symbol = symbol;
    this.timeframe = timeframe;
    $("symbol").value = symbol;
    $("timeframe").value = timeframe;
    history.replaceState(null, "", `#symbol=${encodeURIComponent(symbol)}&timeframe=${timeframe}`);
    if (this.source) this.source.stop();
    this.candles.show(symbol, timeframe);
    this.source = makeBarSource(this.session, symbol, timeframe);
    const source = this.source;
    const current = () => this.source === source;
    source.start({
      reset: (bars, total) => {
        if (!current()) return;
        this.problems.clear("bars");
        this.candles.reset(bars, total);
        this.markerPoller.tick();
      },
      append: (bars) => {
        if (!current()) return;
        this.problems.clear("bars");
        this.candles.append(bars);
      },
      error: (err) => {
        if (current() && this.session.active && !(err instanceof NetworkError)) {
          this.problems.set("bars", explain(err));
        }
      },
    });
  }

  async overview() {
    const [portfolio, risk, orders, fills, rejections] = await Promise.all([
      this.session.get("/portfolio"),
      this.session.get("/risk"),
      this.session.get("/orders", { sort: "-ts_event", limit: 200 }),
      this.session.get("/fills", { sort: "-ts_event", limit: 50 }),
      this.session.get("/rejections", { sort: "-ts_event", limit: 50 }),
    ]);
    renderRisk(risk);
    renderPositions(portfolio.positions);
    renderOrders(orders.items);
    this.feed.render(fills.items, rejections.items);
    this.learn([...portfolio.positions, ...orders.items, ...fills.items, ...rejections.items]);
    await this.account(portfolio);
  }

  async account(portfolio) {
    const account = portfolio.account;
    if (!account) {
      $("equity-note").textContent = "No portfolio snapshot stored yet.";
      return;
    }
    $("cash-value").textContent = money(account.cash);
    $("start-cash").textContent = money(account.starting_cash);
    const held = portfolio.positions.filter((p) => scaled(p.quantity) !== 0n);
    const marks = await Promise.all(held.map((p) => this.markPrice(p.symbol)));
    const missing = held.filter((_, i) => marks[i] === null).map((p) => p.symbol);
    if (missing.length) {
      $("equity-value").textContent = "—";
      $("equity-note").textContent = `Equity unknown: no stored bars for ${missing.join(", ")}.`;
      return;
    }
    const value = held.reduce((sum, p, i) => sum + Number(p.quantity) * marks[i], Number(account.cash));
    if (!this.equity) return;
    $("equity-value").textContent = money(value);
    $("equity-note").textContent = EQUITY_NOTE;
    this.equity.add(account.ts, value);
  }

  /** The last stored close of `symbol`, in the shortest timeframe that has bars for it. */
  async markPrice(symbol) {
    const known = this.marks.get(symbol);
    for (const timeframe of known ? [known] : Object.keys(TIMEFRAME_SECONDS)) {
      const page = await this.session.get("/bars", { symbol, timeframe, sort: "-ts_open", limit: 1 });
      if (page.items.length) {
        this.marks.set(symbol, timeframe);
        return page.items[0].close;
      }
    }
    this.marks.delete(symbol);
    return null;
  }

  async refreshMarkers() {
    if (!this.symbol || !this.candles) return;
    const [symbol, timeframe] = [this.symbol, this.timeframe];
    const [fills, positions] = await Promise.all([
      this.session.get("/fills", { symbol, sort: "-ts_event", limit: PAGE_LIMIT }),
      this.session.get("/positions", { symbol, limit: PAGE_LIMIT }),
    ]);
    if (symbol !== this.symbol || timeframe !== this.timeframe || !this.candles) return;
    this.candles.setMarkers(fillMarkers(fills.items, positions.items, timeframe));
  }

  async discoverSymbols() {
    const signals = await this.session.get("/signals", { sort: "-ts_event", limit: PAGE_LIMIT });
    this.learn(signals.items);
  }

  learn(items) {
    const before = this.symbols.size;
    for (const item of items) if (item.symbol) this.symbols.add(item.symbol);
    if (this.symbols.size === before) return;
    const sorted = [...this.symbols].sort();
    $("symbols").replaceChildren(...sorted.map((name) => new Option(name, name)));
    if (!this.symbol && !$("symbol").value) this.pick(sorted[0], $("timeframe").value);
  }

  async backtests() {
    const page = await this.session.get("/backtests", { limit: 50 });
    renderBacktests(page.items);
  }

  /** Sends halt or resume, then watches the stored risk state until it shows the outcome. */
  async command(action, expected) {
    const message = $("ops-message");
    const buttons = [$("halt"), $("resume")];
    buttons.forEach((b) => (b.disabled = true));
    message.textContent = `Sending ${action}…`;
    try {
      const reason = $("ops-reason").value.trim();
      const sent = await this.session.post(`/ops/${action}`, reason ? { reason } : {});
      message.textContent = `${sent.command} sent by ${sent.issued_by} (command ${sent.command_id}); waiting for the risk manager…`;
      const state = await this.awaitState(expected);
      message.textContent =
        state === expected
          ? `${sent.command} done: trading is ${state} in ${sent.namespace}.`
          : `${sent.command} was sent, but the risk state still reads ${state} after ${STATE_WAIT_MS / 1000} s.`;
    } catch (err) {
      message.textContent = explain(err);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  async awaitState(expected) {
    const deadline = Date.now() + STATE_WAIT_MS;
    let state = "UNKNOWN";
    while (this.session.active) {
      state = renderRisk(await this.session.get("/risk"));
      if (state === expected || Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return state;
  }
}

function main() {
  if (!window.LightweightCharts) {
    $("login-message").textContent = "The chart library did not load; reload the page.";
    return;
  }
  new Dashboard();
  $("username").focus();
}

main();
