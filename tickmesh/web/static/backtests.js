// Stored backtest runs (`tickmesh backtest` saves them) and their reports. A report is the run's
// self-contained HTML file: fetched with the session's token and saved as a download, never
// opened in this page's origin, whose CSP (rightly) forbids the report's inline scripts.

import { ApiError } from "./api.js";
import { el, fillTable, noteRow, plain, row, timeText } from "./format.js";
import { explain } from "./panels.js";

const REVOKE_AFTER_MS = 10000; // the download has long read the Blob by then
const COLUMNS = 10;

export class BacktestRuns {
  constructor(session) {
    this.session = session;
    this.runs = [];
    this.notes = new Map(); // run id -> {text, failed}: what is under way, or why it failed
    this.busy = new Set(); // run ids whose report is being fetched
    this.destroyed = false;
  }

  destroy() {
    this.destroyed = true;
  }

  async load() {
    const page = await this.session.get("/backtests", { limit: 50 });
    if (this.destroyed) return;
    this.runs = page.items;
    this.render();
  }

  /** Fetches run `runId`'s report and saves it as `report-<id>.html`; a refusal shows beside the row. */
  async report(runId) {
    this.busy.add(runId);
    this.note(runId, "Fetching the report…");
    try {
      const blob = await this.session.file(`/backtests/${encodeURIComponent(runId)}/report`);
      if (!this.destroyed) save(blob, `report-${runId}.html`);
      this.note(runId, null);
    } catch (err) {
      const reason = err instanceof ApiError && err.status !== 403 ? err.detail : explain(err);
      this.note(runId, reason, true);
    } finally {
      this.busy.delete(runId);
      this.render();
    }
  }

  note(runId, text, failed = false) {
    if (text) this.notes.set(runId, { text, failed });
    else this.notes.delete(runId);
    this.render();
  }

  render() {
    if (this.destroyed) return;
    fillTable("backtests", "backtests-empty", this.runs.flatMap((run) => this.rows(run)));
  }

  /** The run's row, and under it the note about its report, if any. */
  rows({ run_id, created_ns, summary, config, stats }) {
    const tr = row([
      run_id,
      timeText(created_ns),
      summary,
      paramsText(config.strategies || []) || "defaults",
      stats.start && stats.end ? `${stats.start.slice(0, 10)} – ${stats.end.slice(0, 10)}` : "—",
      [plain(stats.return_pct), "num"],
      [plain(stats.max_drawdown_pct), "num"],
      [plain(stats.n_trades, 0), "num"],
      [plain(stats.sharpe_ratio), "num"],
    ]);
    tr.dataset.run = run_id;
    const button = el("button", "Report", "small-button");
    button.type = "button";
    button.title = "Download the run's report: one HTML file that opens offline";
    button.disabled = this.busy.has(run_id);
    button.addEventListener("click", () => this.report(run_id));
    const cell = el("td", undefined, "action");
    cell.append(button);
    tr.append(cell);
    const note = this.notes.get(run_id);
    return note ? [tr, noteRow(run_id, note, COLUMNS)] : [tr];
  }
}

/** Saves `blob` as a file named `name` through a temporary object URL. */
function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
}

function paramsText(strategies) {
  const text = (spec) => (typeof spec.params === "string" ? spec.params : JSON.stringify(spec.params));
  return strategies.filter((spec) => spec.params).map((spec) => `${spec.name}: ${text(spec)}`).join("; ");
}
