// The charts: candles of one symbol with markers from its fills, and the equity line. Both are
// loaded over REST and then extended by live events. The stream runs ahead of the store (the
// recorder writes in batches), so a chart loaded over REST is topped up from the LiveTail: the
// newest live bars and fills, which also covers whatever arrived while the load was under way.

import { NS_PER_S, abs, pricePrecision, priceText, scaled, secondsOf, timeText } from "./format.js";

export const TIMEFRAME_SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };
const NO_BARS = "no stored bars yet (the platform stores the timeframes its strategies trade on)";
const EQUITY_FIT_POINTS = 60; // fit the whole line until it is long enough to scroll
const MARKER_COLORS = { entry: "#26a69a", exit: "#ef5350", reverse: "#2962ff" };
const CHART_OPTIONS = {
  autoSize: true,
  layout: { attributionLogo: false }, // the attribution is in the page footer (CSP: no inline style)
  timeScale: { timeVisible: true, secondsVisible: false, barSpacing: 8, rightOffset: 4 },
  rightPriceScale: { borderVisible: false },
};

/** A bar of the API or the stream as a chart candle (`time` in seconds). */
export function toCandle(bar) {
  const time = Math.round(bar.ts_open / NS_PER_S);
  return { time, open: bar.open, high: bar.high, low: bar.low, close: bar.close };
}

/** The candlestick chart of one symbol, with entry/exit markers from its fills. */
export class CandleView {
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
    this.loading = false; // live candles wait for the load (the LiveTail keeps them)
  }

  /** Switch to another symbol: clear the chart and ignore live candles until `reset`. */
  show(symbol, timeframe) {
    this.label = `${symbol} ${timeframe}`;
    this.series.setData([]);
    this.setMarkers([]);
    this.count = 0;
    this.last = null;
    this.expect();
    this.describe("loading…");
  }

  /** A reload is under way: ignore live candles until `reset`. */
  expect() {
    this.loading = true;
  }

  reset(bars, total) {
    this.loading = false;
    this.count = bars.length;
    this.last = bars.length ? bars[bars.length - 1] : null;
    if (this.last) this.fitPrices(this.last.close);
    this.series.setData(bars); // the latest bars at the right edge; older ones a scroll away
    const older = total > bars.length ? ` (latest ${bars.length} of ${total})` : "";
    this.describe(bars.length ? older : NO_BARS);
  }

  /** New candles, or the last one again with new prices; older ones are ignored. */
  append(bars) {
    if (this.loading) return;
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
 * The markers of one symbol's fills, each an entry, exit or reversal of its strategy's position
 * (see `fillKind`). The stored fills are read back from the current positions, newest first, so
 * the answer does not depend on how far back they go; live fills then move the positions on.
 */
export class MarkerBook {
  constructor(view, timeframe) {
    this.view = view;
    this.step = TIMEFRAME_SECONDS[timeframe] || 60;
    this.markers = [];
    this.held = new Map(); // strategy_id -> signed quantity now
    this.seen = new Set();
    this.loaded = false;
  }

  load(fills, positions) {
    this.held = new Map(positions.map((p) => [p.strategy_id, scaled(p.quantity)]));
    const walk = new Map(this.held);
    const markers = [];
    for (const fill of fills) {
      const after = walk.get(fill.strategy_id) ?? 0n;
      const before = after - signed(fill);
      walk.set(fill.strategy_id, before);
      markers.push(this.marker(fill, fillKind(before, after)));
      this.seen.add(fill.fill_id);
    }
    this.markers = markers.reverse();
    this.loaded = true;
    this.view.setMarkers(this.markers);
  }

  /** A live fill of this symbol (ignored before `load`, and when the stored fills had it). */
  add(fill) {
    if (!this.loaded || this.seen.has(fill.fill_id)) return;
    this.seen.add(fill.fill_id);
    const before = this.held.get(fill.strategy_id) ?? 0n;
    const after = before + signed(fill);
    this.held.set(fill.strategy_id, after);
    this.markers.push(this.marker(fill, fillKind(before, after)));
    this.markers.sort((a, b) => a.time - b.time);
    this.view.setMarkers(this.markers);
  }

  marker(fill, kind) {
    const buy = fill.side === "BUY";
    const seconds = Math.floor(fill.ts_event / NS_PER_S);
    return {
      time: seconds - (seconds % this.step),
      position: buy ? "belowBar" : "aboveBar",
      shape: buy ? "arrowUp" : "arrowDown",
      color: MARKER_COLORS[kind],
      text: kind,
    };
  }
}

/** The newest live bars (per symbol and timeframe) and fills, `size` of each. */
export class LiveTail {
  constructor(size = 100) {
    this.size = size;
    this.bars = new Map();
    this.fills = [];
  }

  addBar(bar) {
    const key = `${bar.symbol}|${bar.timeframe}`;
    const candles = this.bars.get(key) || [];
    const candle = toCandle(bar);
    const last = candles.at(-1);
    if (last && candle.time === last.time) candles[candles.length - 1] = candle;
    else if (!last || candle.time > last.time) candles.push(candle);
    if (candles.length > this.size) candles.shift();
    this.bars.set(key, candles);
  }

  /** Live candles of `symbol` in `timeframe` from `time` on (all when `time` is null). */
  barsFrom(symbol, timeframe, time) {
    const candles = this.bars.get(`${symbol}|${timeframe}`) || [];
    return time === null ? candles : candles.filter((c) => c.time >= time);
  }

  addFill(fill) {
    this.fills.push(fill);
    if (this.fills.length > this.size) this.fills.shift();
  }

  fillsOf(symbol) {
    return this.fills.filter((f) => f.symbol === symbol);
  }
}

const signed = (fill) => (fill.side === "BUY" ? scaled(fill.quantity) : -scaled(fill.quantity));

/** "entry" when a fill grows a position, "exit" when it shrinks it, "reverse" when it flips it. */
function fillKind(before, after) {
  if (before !== 0n && after !== 0n && before < 0n !== after < 0n) return "reverse";
  return abs(after) > abs(before) ? "entry" : "exit";
}

/** The equity line: the stored history when the server has it, extended by live snapshots. */
export class EquityView {
  constructor(container) {
    const LC = window.LightweightCharts;
    this.chart = LC.createChart(container, CHART_OPTIONS);
    this.series = this.chart.addSeries(LC.LineSeries, { color: "#2962ff", lineWidth: 2 });
    this.lastTime = null;
    this.points = 0;
  }

  /** Replace the line with `points` of `{ts, equity}`, oldest first. */
  load(points) {
    const byTime = new Map();
    for (const point of points) {
      const time = secondsOf(point.ts);
      if (time !== null) byTime.set(time, Number(point.equity));
    }
    const data = [...byTime].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time, value }));
    this.series.setData(data);
    this.points = data.length;
    this.lastTime = data.length ? data[data.length - 1].time : null;
    this.chart.timeScale().fitContent();
  }

  add(ts, value) {
    const time = secondsOf(ts);
    if (time === null || (this.lastTime !== null && time < this.lastTime)) return;
    if (time !== this.lastTime) this.points += 1;
    this.series.update({ time, value: Number(value) });
    this.lastTime = time;
    if (this.points < EQUITY_FIT_POINTS) this.chart.timeScale().fitContent();
  }

  destroy() {
    this.chart.remove();
  }
}
