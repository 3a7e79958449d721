// The equity panel: equity and cash figures and the equity line. The line starts from the stored
// history (GET /equity) and grows with each live portfolio snapshot. A server without that
// endpoint gets what the page did before it: one point from the stored positions marked at
// their last stored close, then the live snapshots.

import { unlessMissing } from "./api.js";
import { EquityView, TIMEFRAME_SECONDS } from "./chart.js";
import { $, money, scaled, secondsOf } from "./format.js";

const PAGE_LIMIT = 1000;
const NOTE_STORED = "Cash plus positions at their marks: the stored history, extended live.";
const NOTE_LIVE = "Cash plus positions at their marks, from each portfolio snapshot since this page opened.";

export class AccountPanel {
  constructor(session) {
    this.session = session;
    this.line = new EquityView($("equity-chart"));
    this.marks = new Map(); // symbol -> a timeframe with stored bars (servers without /equity)
  }

  destroy() {
    this.line.destroy();
  }

  /** The figures and the line from GET /portfolio's answer and the stored history. */
  async load(portfolio) {
    const account = portfolio.account;
    if (!account) {
      $("equity-note").textContent = "No portfolio snapshot stored yet.";
      return;
    }
    $("start-cash").textContent = money(account.starting_cash);
    const history = await this.history();
    if (history !== null) {
      this.line.load(history);
      show(history.length ? history[history.length - 1].equity : null, account.cash);
      $("equity-note").textContent = NOTE_STORED;
      return;
    }
    const value = await this.markedEquity(portfolio);
    show(value, account.cash);
    $("equity-note").textContent = NOTE_LIVE;
    if (value !== null) this.line.add(account.ts, value);
  }

  /** A live namespace snapshot of the portfolio. */
  snapshot(snapshot) {
    show(snapshot.equity, snapshot.cash);
    this.line.add(snapshot.ts_event, snapshot.equity);
  }

  /** The latest page of the stored equity curve, oldest first; null without GET /equity. */
  async history() {
    const page = await unlessMissing(this.session.get("/equity", { limit: PAGE_LIMIT }));
    if (page === null) return null;
    const items = page.items;
    if (items.length > 1 && secondsOf(items[0].ts) > secondsOf(items.at(-1).ts)) {
      return items.reverse(); // newest first: this page is already the latest
    }
    if (page.total <= items.length) return items;
    const offset = page.total - PAGE_LIMIT;
    return (await this.session.get("/equity", { limit: PAGE_LIMIT, offset })).items;
  }

  /** Cash plus positions at their last stored close; null when a mark is missing. */
  async markedEquity(portfolio) {
    const held = portfolio.positions.filter((p) => scaled(p.quantity) !== 0n);
    const marks = await Promise.all(held.map((p) => this.markPrice(p.symbol)));
    if (marks.includes(null)) return null;
    const cash = Number(portfolio.account.cash);
    return held.reduce((sum, p, i) => sum + Number(p.quantity) * marks[i], cash);
  }

  async markPrice(symbol) {
    const known = this.marks.get(symbol);
    for (const timeframe of known ? [known] : Object.keys(TIMEFRAME_SECONDS)) {
      const page = await this.session.get("/bars", { symbol, timeframe, sort: "-ts_open", limit: 1 });
      if (page.items.length) {
        this.marks.set(symbol, timeframe);
        return page.items[0].close;
      }
    }
    return null;
  }
}

/** Equity and cash figures; `equity` null when it is not known yet. */
function show(equity, cash) {
  $("equity-value").textContent = equity === null ? "—" : money(equity);
  $("cash-value").textContent = money(cash);
}
