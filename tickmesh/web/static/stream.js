// The live event stream (GET /api/v1/stream, Server-Sent Events) with its ticket and resume
// rules. EventSource cannot send an Authorization header, so each connection is opened with a
// single-use ticket from POST /stream/ticket. Because the ticket is spent, the browser's own
// reconnect (same URL) would be refused: on any error this client closes the EventSource at
// once, gets a new ticket and opens a new one with ?last_event_id= so the server replays what
// was missed, or answers `reset` when it no longer can.

import { apiUrl } from "./api.js";

const BACKOFF_MS = [0, 1000, 2000, 4000, 8000];
const MAX_BACKOFF_MS = 10000;

/**
 * Delivers the chosen `topics` to `onEvent(topic, data, id)` until `stop()`, across reconnects.
 * `onReset(reason)` means the state must be reloaded over REST (events already delivered after
 * it are newer than that reset). `onStatus(state, detail)` reports "connecting", "live" and
 * "reconnecting". `firstOpen` settles once the first connection is open or has failed.
 */
export class LiveStream {
  constructor(session, { topics, onEvent, onReset, onStatus }) {
    this.session = session;
    this.topics = topics;
    this.onEvent = onEvent;
    this.onReset = onReset;
    this.onStatus = onStatus;
    this.source = null;
    this.lastId = null;
    this.failures = 0;
    this.timer = null;
    this.running = false;
    this.firstOpen = new Promise((resolve) => {
      this.settleFirst = resolve;
    });
  }

  start() {
    this.running = true;
    this.onStatus("connecting", "");
    this.connect();
    return this;
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.close();
    this.settleFirst();
  }

  close() {
    if (this.source) this.source.close();
    this.source = null;
  }

  async connect() {
    let ticket;
    try {
      ticket = (await this.session.post("/stream/ticket")).ticket;
    } catch (err) {
      if (err.status === 404) this.failures = BACKOFF_MS.length; // no stream here: try seldom
      this.retry(`no stream ticket: ${err.detail || err.message}`);
      return;
    }
    if (!this.running) return;
    const params = { topics: this.topics.join(","), ticket, last_event_id: this.lastId };
    const source = new EventSource(apiUrl("/stream", params));
    this.source = source;
    source.onopen = () => this.opened(source);
    source.onerror = () => this.lost(source, "the connection was lost");
    for (const topic of this.topics) {
      source.addEventListener(topic, (message) => this.deliver(source, topic, message));
    }
    source.addEventListener("reset", (message) => this.reset(source, message));
    source.addEventListener("disconnect", (message) => {
      this.lost(source, `the server ended the stream: ${reasonOf(message)}`);
    });
  }

  opened(source) {
    if (source !== this.source) return;
    this.failures = 0;
    this.onStatus("live", "");
    this.settleFirst();
  }

  deliver(source, topic, message) {
    if (source !== this.source) return;
    this.lastId = message.lastEventId || this.lastId;
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return; // not ours to show; the next event carries on
    }
    this.onEvent(topic, data, this.lastId);
  }

  reset(source, message) {
    if (source !== this.source) return;
    this.lastId = message.lastEventId || this.lastId;
    this.onReset(reasonOf(message));
  }

  /** The connection ended or never opened: drop it before the browser retries the spent ticket. */
  lost(source, why) {
    if (source !== this.source) return;
    this.close();
    this.retry(why);
  }

  retry(why) {
    if (!this.running) return;
    this.settleFirst();
    const delay = BACKOFF_MS[this.failures] ?? MAX_BACKOFF_MS;
    this.failures += 1;
    this.onStatus("reconnecting", why);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

function reasonOf(message) {
  try {
    return JSON.parse(message.data).reason || "no reason given";
  } catch {
    return "no reason given";
  }
}
