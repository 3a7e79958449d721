// The dashboard's state: loaded over REST at the start and after a stream `reset`, then kept
// current by stream events. Events of the panels that arrive while a load is under way are held
// and applied after it, in order, so the last word is always the newest event. The chart holds
// its own (see chart.js).

import { NetworkError, unlessMissing } from "./api.js";
import { AccountPanel } from "./account.js";
import { BacktestRuns } from "./backtests.js";
import { CandleView, LiveTail, MarkerBook, TIMEFRAME_SECONDS, toCandle } from "./chart.js";
import { $ } from "./format.js";
import { FeedView, OrdersBook, explain, renderPositions, renderRisk } from "./panels.js";
import { StrategiesPanel } from "./strategies.js";

const HISTORY_BARS = 1000;
const PAGE_LIMIT = 1000;
const CHART_RETRY_MS = 5000;
const STATE_WAIT_MS = 15000;

export class Board {
  constructor(session, problems, { operator }) {
    this.session = session;
    this.problems = problems;
    this.strategies = new StrategiesPanel(session, operator);
    this.runs = new BacktestRuns(session);
    this.feed = new FeedView($("feed"), $("feed-empty"));
    this.orders = new OrdersBook();
    this.candles = new CandleView($("candles"), $("chart-status"));
    this.account = new AccountPanel(session);
    this.markers = null;
    this.tail = new LiveTail();
    this.symbols = new Map(); // symbol -> what /symbols says of it ({} when only seen)
    this.positions = new Map(); // "strategy|symbol" -> row shown, to keep its "updated" time
    this.symbol = null;
    this.timeframe = null;
    this.riskState = "UNKNOWN";
    this.riskWake = () => {};
    this.queue = []; // panel events held until the first load is done
    this.generation = 0;
    this.live = false;
    this.destroyed = false;
  }

  destroy() {
    this.destroyed = true;
    this.candles.destroy();
    this.account.destroy();
    this.strategies.destroy();
    this.runs.destroy();
  }

  // --- REST ---------------------------------------------------------------------------------

  /** Everything over REST (the chart too, when one is shown), then the events held meanwhile. */
  async reload() {
    const generation = ++this.generation;
    this.queue = this.queue || [];
    await Promise.all([
      this.guard("overview", () => this.overview()),
      this.guard("symbols", () => this.loadSymbols()),
      this.guard("strategies", () => this.strategies.load()),
      this.guard("backtests", () => this.runs.load()),
      this.symbol ? this.loadChart() : null,
    ]);
    if (generation !== this.generation || this.destroyed) return;
    const held = this.queue;
    this.queue = null;
    for (const [topic, data] of held) this.apply(topic, data);
  }

  /** Runs one load, showing its failure until it succeeds again. */
  async guard(key, task) {
    try {
      await task();
      this.problems.clear(key);
    } catch (err) {
      if (!this.session.active || this.destroyed) return;
      if (err instanceof NetworkError) return; // shown once, as the connection's state
      this.problems.set(key, explain(err));
    }
  }

  async overview() {
    const [portfolio, risk, orders, fills, rejections] = await Promise.all([
      this.session.get("/portfolio"),
      this.session.get("/risk"),
      this.session.get("/orders", { sort: "-ts_event", limit: 200 }),
      this.session.get("/fills", { sort: "-ts_event", limit: 50 }),
      this.session.get("/rejections", { sort: "-ts_event", limit: 50 }),
    ]);
    if (this.destroyed) return;
    $("namespace").textContent = risk.namespace;
    this.setRisk(risk.risk);
    this.positions.clear();
    this.showPositions(portfolio.positions);
    this.orders.load(orders.items);
    this.feed.load(fills.items, rejections.items);
    this.learn([...portfolio.positions, ...orders.items, ...fills.items, ...rejections.items]);
    if (!this.destroyed) await this.account.load(portfolio);
  }

  /** The symbol picker from GET /symbols; a server without it: symbols of recent signals. */
  async loadSymbols() {
    const page = await unlessMissing(this.session.get("/symbols", { limit: PAGE_LIMIT }));
    if (page !== null) {
      for (const info of page.items) this.symbols.set(info.symbol, info);
      this.learn(page.items, true);
      return;
    }
    const signals = await this.session.get("/signals", { sort: "-ts_event", limit: PAGE_LIMIT });
    this.learn(signals.items);
  }

  learn(items, changed = false) {
    for (const item of items) {
      if (item.symbol && !this.symbols.has(item.symbol)) {
        this.symbols.set(item.symbol, {});
        changed = true;
      }
    }
    const sorted = [...this.symbols.keys()].sort();
    if (!changed || !sorted.length || this.destroyed) return;
    $("symbols").replaceChildren(...sorted.map((name) => new Option(symbolLabel(this.symbols.get(name)), name)));
    if (!this.symbol && !$("symbol").value) {
      const { timeframes } = this.symbols.get(sorted[0]);
      const wanted = $("timeframe").value;
      this.pick(sorted[0], timeframes && !timeframes.includes(wanted) ? timeframes[0] : wanted);
    }
  }

  // --- the chart ------------------------------------------------------------------------------

  /** Show `symbol` in `timeframe` without loading it yet (the next load does). */
  choose(symbol, timeframe) {
    if (!(timeframe in TIMEFRAME_SECONDS)) timeframe = "1m";
    this.symbol = symbol;
    this.timeframe = timeframe;
    $("symbol").value = symbol;
    $("timeframe").value = timeframe;
    history.replaceState(null, "", `#symbol=${encodeURIComponent(symbol)}&timeframe=${timeframe}`);
    this.candles.show(symbol, timeframe);
  }

  pick(symbol, timeframe) {
    if (!symbol) {
      $("chart-status").textContent = "Pick a symbol.";
      return;
    }
    this.choose(symbol, timeframe);
    this.loadChart();
  }

  /** The latest stored bars, fills and positions of the shown symbol, topped up with the live
   * ones the store did not have yet. */
  async loadChart() {
    const { symbol, timeframe } = this;
    const markers = new MarkerBook(this.candles, timeframe);
    this.markers = markers;
    this.candles.expect();
    try {
      const [bars, fills, positions] = await Promise.all([
        this.session.get("/bars", { symbol, timeframe, sort: "-ts_open", limit: HISTORY_BARS }),
        this.session.get("/fills", { symbol, sort: "-ts_event", limit: PAGE_LIMIT }),
        this.session.get("/positions", { symbol, limit: PAGE_LIMIT }),
      ]);
      if (this.markers !== markers || this.destroyed) return;
      const candles = bars.items.map(toCandle).reverse();
      this.candles.reset(candles, bars.total);
      const last = candles.length ? candles[candles.length - 1].time : null;
      this.candles.append(this.tail.barsFrom(symbol, timeframe, last));
      markers.load(fills.items, positions.items);
      for (const fill of this.tail.fillsOf(symbol)) markers.add(fill);
      this.problems.clear("bars");
    } catch (err) {
      if (this.markers !== markers || this.destroyed || !this.session.active) return;
      if (err.status) this.problems.set("bars", explain(err));
      setTimeout(() => this.markers === markers && this.loadChart(), CHART_RETRY_MS);
    }
  }

  // --- live events -------------------------------------------------------------------------------

  /** One stream event: the chart takes its share at once, the panels after any load. */
  onEvent(topic, data) {
    if (this.destroyed) return;
    if (topic === "bars") {
      this.tail.addBar(data);
      this.bar(data);
      return;
    }
    if (topic === "fills") {
      this.tail.addFill(data.fill);
      if (data.fill.symbol === this.symbol && this.markers) this.markers.add(data.fill);
    }
    if (this.queue) this.queue.push([topic, data]);
    else this.apply(topic, data);
  }

  apply(topic, data) {
    if (topic === "fills") this.feed.addFill(data.fill);
    else if (topic === "rejections") this.feed.addRejection(data);
    else if (topic === "orders") this.orders.apply(data);
    else if (topic === "portfolio") this.portfolio(data);
    else if (topic === "risk") this.setRisk({ ...data, ts: data.ts_event });
  }

  bar(bar) {
    this.learn([bar]);
    if (bar.symbol === this.symbol && bar.timeframe === this.timeframe) {
      this.candles.append([toCandle(bar)]);
    }
  }

  /** A namespace snapshot: figures, positions (the strategies' too) and the next point of the
   * equity line. */
  portfolio(snapshot) {
    if (snapshot.strategy_id) return;
    this.account.snapshot(snapshot);
    this.strategies.snapshot(snapshot.positions);
    this.showPositions(snapshot.positions.map((p) => ({ ...p, ts: snapshot.ts_event })));
  }

  /** Positions, keeping the time a row last changed rather than the snapshot's. */
  showPositions(positions) {
    const rows = positions.map((p) => {
      const key = `${p.strategy_id}|${p.symbol}`;
      const before = this.positions.get(key);
      const same = before && before.quantity === p.quantity && before.avg_price === p.avg_price;
      return same ? before : p;
    });
    this.positions = new Map(rows.map((p) => [`${p.strategy_id}|${p.symbol}`, p]));
    renderPositions(rows);
  }

  setRisk(risk) {
    this.riskState = renderRisk(risk);
    this.riskWake();
  }

  // --- operator commands ----------------------------------------------------------------------

  /** Sends halt or resume, then waits for the risk state to show the outcome. */
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

  /** The risk state once it reads `expected`, or at the deadline: from the stream while it is
   * live, else asked over REST every half second. */
  async awaitState(expected) {
    const deadline = Date.now() + STATE_WAIT_MS;
    while (this.session.active && !this.destroyed && this.riskState !== expected) {
      if (Date.now() >= deadline) break;
      if (!this.live) this.setRisk((await this.session.get("/risk")).risk);
      await new Promise((resolve) => {
        this.riskWake = resolve;
        setTimeout(resolve, 500);
      });
    }
    this.riskWake = () => {};
    return this.riskState;
  }
}

/** "1m, 5m · 120 bars, last 99.5" from what GET /symbols says of a symbol ("" when nothing). */
function symbolLabel(info) {
  const bars = info.bar_count ?? info.bars;
  if (bars === undefined) return "";
  const timeframes = (info.timeframes || []).join(", ");
  const close = info.last_close === undefined || info.last_close === null ? "" : `, last ${info.last_close}`;
  return `${timeframes} · ${bars} bars${close}`;
}
