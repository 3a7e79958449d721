// Small helpers shared by the views: exact decimals, times, numbers and DOM building. Data from
// the server is only ever written with textContent, never as HTML.

export const NS_PER_S = 1e9;

export const $ = (id) => document.getElementById(id);

// --- exact decimals (money travels as strings) -----------------------------------------------

const SCALE = 64n;
const TEN = 10n;

/** A decimal string as a BigInt scaled by 10^64: exact for every quantity the API sends. */
export function scaled(text) {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(String(text).trim());
  if (!match || (match[2] === "" && !match[3])) throw new Error(`not a decimal: ${text}`);
  const fraction = match[3] || "";
  const digits = BigInt((match[2] || "0") + fraction);
  const shift = SCALE - BigInt(fraction.length) + BigInt(match[4] || 0);
  const value = shift >= 0n ? digits * TEN ** shift : digits / TEN ** -shift;
  return match[1] === "-" ? -value : value;
}

export const abs = (n) => (n < 0n ? -n : n);

// --- times and numbers ---------------------------------------------------------------------------

/** Seconds since the epoch of a time the API sent: ns as a number or digits, or ISO 8601. */
export function secondsOf(ts) {
  if (typeof ts === "number") return Math.floor(ts / NS_PER_S);
  const text = String(ts).trim();
  if (/^-?\d+$/.test(text)) return Math.floor(Number(text) / NS_PER_S);
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
}

export function timeText(ns) {
  if (ns === null || ns === undefined) return "—";
  return new Date(ns / 1e6).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function money(text, digits = 2) {
  if (text === null || text === undefined) return "—";
  const n = Number(text);
  if (!Number.isFinite(n)) return String(text);
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function plain(value, digits = 2) {
  if (value === null || value === undefined || value === "") return "—";
  const n = Number(value);
  return Number.isFinite(n) && typeof value === "number" ? n.toFixed(digits) : String(value);
}

/** Decimals to show for prices around `price`: about five significant digits, 2 to 8. */
export function pricePrecision(price) {
  if (!(price > 0)) return 2;
  return Math.min(8, Math.max(2, 4 - Math.floor(Math.log10(price))));
}

export function priceText(price) {
  return Number(price).toFixed(pricePrecision(Math.abs(price)));
}

// --- DOM -------------------------------------------------------------------------------------------

export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const [text, className] = Array.isArray(cell) ? cell : [cell, ""];
    tr.append(el("td", text, className));
  }
  return tr;
}

/** A full-width row to put under row `id`: what is under way, or what went wrong (`failed`). */
export function noteRow(id, { text, failed }, columns) {
  const tr = document.createElement("tr");
  tr.className = failed ? "note-row failed" : "note-row";
  tr.dataset.noteFor = id;
  const cell = el("td", text, "note");
  cell.colSpan = columns;
  tr.append(cell);
  return tr;
}

export function fillTable(bodyId, emptyId, rows) {
  $(bodyId).replaceChildren(...rows);
  $(emptyId).hidden = rows.length > 0;
}

/** Runs `task` every `intervalMs`, never two at once; the first run starts at once. */
export class Poller {
  constructor(intervalMs, task) {
    this.intervalMs = intervalMs;
    this.task = task;
    this.timer = null;
    this.running = false;
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

  async tick() {
    if (!this.running) return;
    try {
      await this.task();
    } finally {
      if (this.running) this.timer = setTimeout(() => this.tick(), this.intervalMs);
    }
  }
}
