// The strategies panel: every strategy instance with its state, position and realized PnL, and
// for operators a switch per instance. The state is not on the event stream, so the list is
// loaded over REST with the rest of the page, and again after a switch until it shows the
// outcome (or a deadline passes); never on a timer of its own.

import { $, el, fillTable, money, noteRow, row, scaled } from "./format.js";
import { explain } from "./panels.js";

const SETTLE_WAIT_MS = 10000; // how long a switch may take to show in the list
const SETTLE_STEP_MS = 500;
const COLUMNS = 8;
const OPERATOR_NOTE = "Operators can enable and disable strategies.";
const PENDING_TEXT = { enable: "enabling…", disable: "disabling…" };

export class StrategiesPanel {
  constructor(session, operator) {
    this.session = session;
    this.operator = operator;
    this.items = [];
    this.pending = new Map(); // id -> "enable" | "disable", sent and not yet shown
    this.notes = new Map(); // id -> {text, failed}: what is under way, or why the switch failed
    this.loads = 0;
    this.latest = []; // the positions of the latest live portfolio snapshot
    this.destroyed = false;
    $("strategies-action-head").hidden = !operator;
    $("strategies-note").textContent = operator ? "" : OPERATOR_NOTE;
  }

  destroy() {
    this.destroyed = true;
  }

  /** GET /strategies; an answer overtaken by a later load is dropped. */
  async load() {
    const load = ++this.loads;
    const items = await this.session.get("/strategies");
    if (this.destroyed || load !== this.loads) return;
    this.items = items.map((item) => withPositions(item, this.latest));
    this.render();
  }

  /** Positions and realized PnL from a live namespace snapshot (it books flat positions too),
   * so those columns stay current between loads; the store is never newer than the stream, so
   * each load takes them from the latest snapshot too. Re-rendered only on a change. */
  snapshot(positions) {
    this.latest = positions;
    const items = this.items.map((item) => withPositions(item, positions));
    if (items.some((item, i) => item !== this.items[i])) {
      this.items = items;
      this.render();
    }
  }

  /** Sends enable or disable for instance `id`, then reloads the list until it reads so. */
  async switch(id, action) {
    this.pending.set(id, action);
    this.note(id, `Sending ${action}…`);
    try {
      const sent = await this.session.post(`/ops/strategies/${encodeURIComponent(id)}/${action}`, {});
      this.note(id, `${sent.command} sent (command ${sent.command_id}); waiting for the strategy…`);
      const state = await this.settle(id, action === "enable" ? "enabled" : "disabled");
      const late = `${sent.command} was sent, but it still reads ${state}.`;
      this.note(id, state === null ? null : late, true);
    } catch (err) {
      this.note(id, explain(err), true);
    } finally {
      this.pending.delete(id);
      this.render();
    }
  }

  /** Null once instance `id` reads `expected` (or is gone), else its state at the deadline. */
  async settle(id, expected) {
    const deadline = Date.now() + SETTLE_WAIT_MS;
    for (;;) {
      await this.load();
      const item = this.items.find((s) => s.id === id);
      if (!item || stateOf(item) === expected || this.destroyed) return null;
      if (Date.now() >= deadline) return stateOf(item);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_STEP_MS));
    }
  }

  note(id, text, failed = false) {
    if (text) this.notes.set(id, { text, failed });
    else this.notes.delete(id);
    this.render();
  }

  render() {
    if (this.destroyed) return;
    fillTable("strategies", "strategies-empty", this.items.flatMap((item) => this.rows(item)));
  }

  /** The instance's row, and under it the note about its switch, if any. */
  rows(item) {
    const state = stateOf(item);
    const pending = this.pending.get(item.id);
    const tr = row([
      item.id,
      item.symbol,
      item.timeframe,
      [paramsText(item.params), "params"],
      "",
      [scaled(item.position) === 0n ? "0" : item.position, "num"],
      [money(item.realized_pnl), "num"],
    ]);
    tr.dataset.id = item.id;
    tr.dataset.state = pending ? "pending" : state;
    const badge = el("span", pending ? PENDING_TEXT[pending] : state, "badge");
    badge.dataset.state = tr.dataset.state;
    badge.title = stateTitle(item);
    tr.children[4].append(badge);
    if (this.operator) tr.append(this.actionCell(item, state, pending));
    const note = this.notes.get(item.id);
    return note ? [tr, noteRow(item.id, note, COLUMNS)] : [tr];
  }

  actionCell(item, state, pending) {
    const action = state === "enabled" ? "disable" : "enable";
    const button = el("button", action === "enable" ? "Enable" : "Disable", "small-button");
    button.type = "button";
    button.dataset.action = action;
    button.disabled = pending !== undefined;
    button.addEventListener("click", () => this.switch(item.id, action));
    const cell = el("td", undefined, "action");
    cell.append(button);
    return cell;
  }
}

/** `item` with its position and realized PnL as `positions` (a snapshot's) have them. */
function withPositions(item, positions) {
  const own = positions.filter((p) => p.strategy_id === item.id);
  if (!own.length) return item;
  const held = own.find((p) => p.symbol === item.symbol);
  const position = held ? held.quantity : "0";
  const total = () => String(own.reduce((sum, p) => sum + Number(p.realized_pnl), 0)); // shown only
  const pnl = own.length === 1 ? own[0].realized_pnl : total();
  if (position === item.position && pnl === item.realized_pnl) return item;
  return { ...item, position, realized_pnl: pnl };
}

/** "quarantined" (enabling clears it), "enabled" or "disabled". */
function stateOf(item) {
  if (item.quarantined) return "quarantined";
  return item.enabled ? "enabled" : "disabled";
}

function stateTitle(item) {
  const errors = item.errors ? `${item.errors} error${item.errors === 1 ? "" : "s"}` : "";
  const last = item.last_error ? `last error: ${item.last_error}` : "";
  const source = item.live ? "" : "as configured (the API does not run beside the platform)";
  return [errors, last, source].filter(Boolean).join("; ");
}

/** `{entry: 5, exit: 3}` as "entry=5, exit=3". */
function paramsText(params) {
  const entries = Object.entries(params || {});
  if (!entries.length) return "defaults";
  const text = (value) => (value !== null && typeof value === "object" ? JSON.stringify(value) : String(value));
  return entries.map(([key, value]) => `${key}=${text(value)}`).join(", ");
}
