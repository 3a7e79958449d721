// The panels beside the chart: problems banner, risk, positions, open orders and the feed of
// fills and rejections. Each takes REST answers for its first state and, where the stream
// carries its data, live events after that.

import { ApiError, NetworkError } from "./api.js";
import { $, el, fillTable, money, row, scaled, timeText } from "./format.js";

const FEED_SIZE = 100;
const OPEN = ["PENDING", "ACCEPTED", "PARTIALLY_FILLED"]; // in the order a status may advance
const STATUS_OF_EVENT = {
  OrderAccepted: "ACCEPTED",
  OrderPartiallyFilled: "PARTIALLY_FILLED",
  OrderFilled: "FILLED",
  OrderCanceled: "CANCELED",
  OrderRejected: "REJECTED",
  OrderFailed: "FAILED",
};

/** What is wrong right now, by source; each source clears its own entry when it recovers. */
export class Problems {
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

export function explain(err) {
  if (err instanceof NetworkError) return `Network: ${err.message}; retrying.`;
  if (err instanceof ApiError && err.status === 403) return `Not allowed: ${err.detail}`;
  if (err instanceof ApiError) return `${err.path} answered ${err.status}: ${err.detail}`;
  return `Unexpected error: ${err.message}`;
}

/** The risk badge from `{state, reason, peak_equity, ts}` (REST or stream), or null; returns the state. */
export function renderRisk(risk) {
  const badge = $("risk-state");
  const state = risk ? risk.state : "UNKNOWN";
  badge.textContent = state;
  badge.dataset.state = state;
  $("risk-reason").textContent = risk
    ? `${risk.reason || "no reason given"} (since ${timeText(risk.ts)})`
    : "the risk manager has not stored a state yet";
  $("peak-equity").textContent = risk ? money(risk.peak_equity) : "—";
  return state;
}

/** Positions with a quantity, from REST (`ts`) or a portfolio snapshot (`ts` of the snapshot). */
export function renderPositions(positions) {
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

/** Orders by id as their lifecycle left them: a status only moves forward, a final one stays. */
export class OrdersBook {
  constructor() {
    this.orders = new Map();
  }

  load(orders) {
    this.orders = new Map(orders.map((o) => [o.order_id, o]));
    this.render();
  }

  /** A live event of the `orders` stream. */
  apply(event) {
    const status = STATUS_OF_EVENT[event.type];
    if (!status) return;
    const known = this.orders.get(event.order_id);
    if (known && !advances(known.status, status)) return;
    const next = {
      order_id: event.order_id,
      strategy_id: event.strategy_id,
      symbol: event.symbol,
      side: event.side,
      quantity: event.quantity ?? known?.quantity ?? null,
      order_type: event.order_type ?? known?.order_type ?? null,
      limit_price: event.limit_price ?? known?.limit_price ?? null,
      filled_quantity: event.filled_quantity ?? known?.filled_quantity ?? "0",
      ts_event: known ? known.ts_event : event.ts_event,
      status,
    };
    this.orders.set(event.order_id, next);
    this.render();
  }

  render() {
    const rows = [...this.orders.values()]
      .filter((o) => OPEN.includes(o.status))
      .sort((a, b) => b.ts_event - a.ts_event)
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
}

function advances(from, to) {
  if (!OPEN.includes(from)) return false;
  return !OPEN.includes(to) || OPEN.indexOf(to) >= OPEN.indexOf(from);
}

/**
 * Fills and rejections, newest first; live entries are highlighted. A reload merges the stored
 * entries with the live ones seen so far, since the store may not have the newest yet.
 */
export class FeedView {
  constructor(list, empty) {
    this.list = list;
    this.empty = empty;
    this.live = new Map(); // id -> entry that came over the stream
  }

  /** The stored fills and rejections, with the live entries the store does not have yet. */
  load(fills, rejections) {
    const stored = [
      ...fills.map((f) => ({ id: `f:${f.fill_id}`, ts: f.ts_event, make: () => fillEntry(f) })),
      ...rejections.map((r) => ({ id: `r:${r.event_id}`, ts: r.ts_event, make: () => rejectionEntry(r) })),
    ];
    const ids = new Set(stored.map((entry) => entry.id));
    const entries = [...stored, ...[...this.live.values()].filter((entry) => !ids.has(entry.id))];
    const shown = entries.sort((a, b) => b.ts - a.ts).slice(0, FEED_SIZE);
    this.list.replaceChildren(...shown.map((entry) => this.node(entry)));
    this.empty.hidden = shown.length > 0;
  }

  addFill(f) {
    this.add({ id: `f:${f.fill_id}`, ts: f.ts_event, make: () => fillEntry(f) });
  }

  addRejection(r) {
    this.add({ id: `r:${r.event_id}`, ts: r.ts_event, make: () => rejectionEntry(r) });
  }

  add(entry) {
    if (this.list.querySelector(`[data-id="${CSS.escape(entry.id)}"]`)) return;
    this.live.set(entry.id, entry);
    if (this.live.size > FEED_SIZE) this.live.delete(this.live.keys().next().value);
    this.list.prepend(this.node(entry));
    while (this.list.children.length > FEED_SIZE) this.list.lastElementChild.remove();
    this.empty.hidden = true;
  }

  node(entry) {
    const li = entry.make();
    li.dataset.id = entry.id;
    if (this.live.has(entry.id)) li.classList.add("new");
    return li;
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
