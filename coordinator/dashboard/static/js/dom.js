// DOM helpers. Every piece of data reaches the page through textContent or an attribute value,
// never through innerHTML: messages and tracebacks are attacker-controlled text.

export function $(id) { return document.getElementById(id); }

// h("td", {class: "id", dataset: {taskId: t}}, "text", childNode, ...)
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "title") el.title = String(v);
    else if (k === "onclick") el.addEventListener("click", v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function setText(id, value) { const el = $(id); if (el) el.textContent = value == null ? "" : String(value); }

export function fillTable(tableId, rows, emptyId) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...rows);
  if (emptyId) $(emptyId).hidden = rows.length > 0;
}

// Timestamps arrive as epoch seconds (live events) or ISO 8601 strings (the API).
export function toDate(v) {
  if (v === null || v === undefined || v === "") return null;
  const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtTime(v) {
  const d = toDate(v);
  if (!d) return "–";
  const sameDay = d.toDateString() === new Date().toDateString();
  const t = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  return sameDay ? t : `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${t}`;
}

export function fmtAgo(v) {
  const d = toDate(v);
  if (!d) return "–";
  const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function shortId(id) {
  if (!id) return "–";
  const s = String(id);
  return s.length > 14 ? `${s.slice(0, 12)}…` : s;
}

export function idCell(id) { return h("td", { class: "id", title: id || "" }, shortId(id)); }

export function fmtNum(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString(); }

export function humanize(name) { return String(name || "unknown").replaceAll("_", " "); }

// ---- status colours ----------------------------------------------------------------------------
const TONES = {
  completed: "ok", idle: "ok", true: "ok", rising: "bad", new: "warn", steady: "idle", falling: "ok",
  failed: "bad", error: "bad", crashed: "bad", false: "bad", timed_out: "warn", retry_wait: "warn",
  slow: "warn", overloaded: "warn", running: "info", busy: "info", assigned: "info", queued: "idle",
  cancelled: "idle", unavailable: "idle", disconnected: "idle", draining: "violet",
};

export function pill(value, label) {
  const tone = TONES[String(value)] || "idle";
  return h("span", { class: `pill ${tone}` }, label ?? humanize(value));
}

export const STATUS_COLORS = {
  queued: "#9aa5b1", assigned: "#8bb8e8", running: "#2f6fb3", retry_wait: "#e7b04a", completed: "#2e8b57",
  failed: "#c0392b", error: "#e0703f", timed_out: "#c77c02", cancelled: "#c5ccd4",
};

// Families share a hue so the 14 categories stay readable: resource amber, network blue,
// hardware violet, worker red, test teal, unknown grey.
export const CATEGORY_COLORS = {
  resource_allocation_error: "#d99a1e", resource_cleanup_error: "#f0c36b",
  network_connection_error: "#2f6fb3", network_timeout_error: "#7fb0e0",
  hardware_availability_error: "#7b4fb5", hardware_capability_error: "#a887d3", hardware_performance_error: "#cdb8ea",
  worker_disconnection_error: "#c0392b", worker_crash_error: "#e06a5c", worker_overload_error: "#f0a79e",
  test_execution_error: "#1f8a84", test_dependency_error: "#54b7ae", test_configuration_error: "#9ad5cf",
  unknown_error: "#9aa5b1",
};
const EXTRA = ["#8c6d46", "#5f7d3a", "#b0567e", "#46708c", "#7a7a3a"];

export function categoryColor(cat) {
  if (CATEGORY_COLORS[cat]) return CATEGORY_COLORS[cat];
  let hash = 0;
  for (const ch of String(cat)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return EXTRA[hash % EXTRA.length];  // custom categories: stable colour per name
}

export function swatch(color) {
  const s = h("span", { class: "swatch" });
  s.style.background = color;
  return s;
}

export function categoryLabel(cat) {
  return h("span", { class: "cat", title: cat }, swatch(categoryColor(cat)), humanize(String(cat).replace(/_error$/, "")));
}

export function chips(entries, limit = 4) {
  return entries.slice(0, limit).map(([k, n]) => h("span", { class: "chip", title: `${k}: ${n}` }, String(k), h("b", {}, fmtNum(n))));
}
