// The REST client: one login's tokens kept in memory, refreshed before they expire, and JSON
// calls that turn every failure into an ApiError (the server said no) or a NetworkError (no
// answer at all).

export const API = "/api/v1";

/** The API answered with an error status; `detail` is its reason, as a readable string. */
export class ApiError extends Error {
  constructor(status, detail, path) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
    this.path = path;
  }
}

/** The request never got an answer: the server is down or the network is. */
export class NetworkError extends Error {}

/** `promise`'s value, or null when the endpoint does not exist here (404): an older server. */
export async function unlessMissing(promise) {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

function describeDetail(body, fallback) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
  }
  return fallback;
}

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
export class Session {
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
   * GET or POST an API path with the access token; JSON in, JSON out (`as: "blob"`: the answer's
   * body as a Blob, for files). A 401 refreshes the tokens (unless another call already did) and
   * retries once; when that fails too, the session ends with the reason the API gave for the 401.
   */
  async call(method, path, { params, body, as } = {}) {
    const used = this.tokens;
    if (!used) throw new ApiError(401, "not logged in", path);
    try {
      return await this.send(method, path, { params, body, as, token: used.access_token });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      let reason = err.detail; // why the tokens were refused, until a refresh succeeds
      try {
        if (this.tokens === used) await this.refresh();
        if (!this.tokens) throw err;
        reason = null;
        return await this.send(method, path, { params, body, as, token: this.tokens.access_token });
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

  /** A file the API serves (not JSON) as a Blob of its media type; errors as for `get`. */
  file(path, params) {
    return this.call("GET", path, { params, as: "blob" });
  }

  async send(method, path, { params, body, as, token } = {}) {
    const headers = { Accept: as === "blob" ? "*/*" : "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(apiUrl(path, params), {
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
    if (as === "blob" && response.ok) return blobOf(response);
    return parse(response, path);
  }
}

/** The absolute URL of an API path with `params` (undefined and null ones left out). */
export function apiUrl(path, params) {
  const url = new URL(API + path, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  return url;
}

async function blobOf(response) {
  try {
    return await response.blob();
  } catch (err) {
    throw new NetworkError(`the answer broke off (${err.message})`);
  }
}

async function parse(response, path) {
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
