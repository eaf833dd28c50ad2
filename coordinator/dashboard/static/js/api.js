// The API client and the live stream. The token comes from ?token= (or this tab's session storage)
// and travels as a Bearer header; EventSource cannot set headers, so the stream URL carries it.

const TOKEN_KEY = "dtf-api-token";
const listeners = { unauthorized: [] };

export function token() {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) sessionStorage.setItem(TOKEN_KEY, fromUrl);
  return fromUrl || sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) { sessionStorage.setItem(TOKEN_KEY, value); }
export function onUnauthorized(fn) { listeners.unauthorized.push(fn); }

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export function url(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u;
}

export async function getJSON(path, params) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  const resp = await fetch(url(path, params), { headers, cache: "no-store" });
  if (resp.status === 401) listeners.unauthorized.forEach((fn) => fn());
  if (!resp.ok) {
    let message = `HTTP ${resp.status}`;
    try { message = (await resp.json()).error.message || message; } catch (_) { /* not JSON */ }
    throw new ApiError(resp.status, `${path}: ${message}`);
  }
  return resp.json();
}

// Opens /api/v1/stream and keeps it open: the browser's own retry covers network blips; a closed
// stream (HTTP error, coordinator restart, "bye", or 40 s without even a heartbeat) is reopened
// with backoff. Every (re)connection starts with a snapshot, so nothing is stale afterwards.
export function openStream(handlers, onState) {
  // "error_event" on the wire: a plain "error" would collide with EventSource's own error event
  const kinds = ["snapshot", "task", "worker", "error_event", "action", "status", "dropped", "heartbeat", "bye"];
  let es = null;
  let backoff = 1000;
  let lastSeen = Date.now();
  let timer = null;

  function reopen(delay) {
    if (es) es.close();
    es = null;
    onState("reconnecting");
    clearTimeout(timer);
    timer = setTimeout(connect, delay);
    backoff = Math.min(backoff * 2, 15000);
  }

  function connect() {
    const u = url("/api/v1/stream", { token: token() || undefined });
    lastSeen = Date.now();
    es = new EventSource(u.toString());
    onState("connecting");
    for (const kind of kinds) {
      es.addEventListener(kind, (e) => {
        lastSeen = Date.now();
        let data;
        try { data = JSON.parse(e.data); } catch (_) { return; }
        if (kind === "snapshot") { backoff = 1000; onState("live"); }
        if (kind === "bye") { reopen(1000); return; }
        const fn = handlers[kind];
        if (fn) fn(data);
      });
    }
    es.onerror = (e) => {
      if (e instanceof MessageEvent) return;
      if (es && es.readyState === EventSource.CLOSED) reopen(backoff);
      else onState("reconnecting");
    };
  }

  setInterval(() => { if (es && Date.now() - lastSeen > 40000) reopen(0); }, 5000);
  connect();
}
