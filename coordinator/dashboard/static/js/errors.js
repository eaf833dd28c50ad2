// Errors: the category mix and trend over a chosen window, live errors, and top patterns with
// drill-down to their events (each opens the drawer with its traceback).
import { $, h, fillTable, toDate, fmtTime, fmtAgo, fmtNum, idCell, pill, setText, categoryColor, categoryLabel, humanize } from "./dom.js";
import { barsH, stackedColumns, legend } from "./charts.js";
import { getJSON } from "./api.js";
import { store, register, touch, pushCapped, LIMITS } from "./store.js";
import { openEvent, correlationGroups } from "./event.js";

// window -> the trend's bucket: about 15-168 columns, never more
const WINDOWS = { 900: "minute", 3600: "minute", 86400: "hour", 604800: "hour" };
const BUCKET_MS = { minute: 60000, hour: 3600000, day: 86400000 };
const view = { window: 3600, summary: null, trends: null, patterns: [], pattern: null, events: [],
  loading: false, again: false, lastLoad: 0 };

function windowLabel(sec) { return { 900: "last 15 min", 3600: "last hour", 86400: "last 24 h", 604800: "last 7 days" }[sec]; }

export async function refresh() {
  if (!store.errorTracking) return;
  if (view.loading) { view.again = true; return; }
  view.loading = true;
  view.lastLoad = Date.now();
  try {
    const bucket = WINDOWS[view.window];
    const [summary, trends, patterns, hour] = await Promise.all([
      getJSON("/api/v1/errors/summary", { window_seconds: view.window }),
      getJSON("/api/v1/errors/trends", { bucket, window_seconds: view.window }),
      getJSON("/api/v1/errors/patterns", { limit: 15, window_seconds: view.window }),
      view.window === 3600 ? null : getJSON("/api/v1/errors/summary", { window_seconds: 3600 }),
    ]);
    view.summary = summary;
    view.trends = trends;
    view.patterns = patterns.items || [];
    for (const p of view.patterns) store.patterns.set(p.pattern_id, p);
    store.lastHour = hour || summary;
    touch("errors-charts", "errors-patterns", "errors-summary");
  } catch (err) {
    console.warn("errors view:", err.message);
  } finally {
    view.loading = false;
    if (view.again) { view.again = false; setTimeout(refresh, 500); }
  }
}

// A burst of live errors asks for one refresh every 3 s at most, and only while the view shows.
let pending = null;
function refreshSoon() {
  if (store.view !== "errors") { view.stale = true; return; }
  if (pending) return;
  const wait = Math.max(0, 3000 - (Date.now() - view.lastLoad));
  pending = setTimeout(() => { pending = null; refresh(); }, wait);
}

function renderCharts() {
  const by = (view.summary && view.summary.by_category) || {};
  const items = Object.entries(by).sort((a, b) => b[1] - a[1])
    .map(([c, n]) => ({ label: humanize(c.replace(/_error$/, "")), value: n, color: categoryColor(c) }));
  barsH($("cat-chart"), items);
  setText("cat-window", `${windowLabel(view.window)} · ${fmtNum(view.summary ? view.summary.total : 0)} errors`);
  const buckets = ((view.trends && view.trends.items) || []).map((b) => ({ start: new Date(b.bucket), counts: b.counts || {} }));
  const cats = [...new Set(buckets.flatMap((b) => Object.keys(b.counts)))].sort();
  const bucket = (view.trends && view.trends.bucket) || WINDOWS[view.window];
  stackedColumns($("trend-chart"), buckets, cats, categoryColor, { spanMs: view.window * 1000, bucketMs: BUCKET_MS[bucket] });
  const totals = {};
  for (const b of buckets) for (const [c, n] of Object.entries(b.counts)) totals[c] = (totals[c] || 0) + n;
  legend($("trend-legend"), cats.map((c) => [c.replace(/_error$/, ""), categoryColor(c), totals[c]]));
}

function renderSummary() {
  const s = store.lastHour;
  if (!s) return;
  setText("sum-errors", fmtNum(s.total));
  const top = Object.entries(s.by_category || {})[0];
  setText("sum-errors-sub", top ? `most: ${humanize(top[0].replace(/_error$/, ""))}` : "none");
}

function topShare(shares) {
  const e = Object.entries(shares || {})[0];
  return e ? `${e[0]} ${Math.round(e[1] * 100)}%` : null;
}

function renderPatterns() {
  fillTable("patterns-table", view.patterns.map((p) => {
    const c = p.correlations || {};
    const where = [topShare(c.worker_id), topShare(c.hardware_type), topShare((c.tags || {}).model)].filter(Boolean).join(" · ");
    const tr = h("tr", { dataset: { patternId: p.pattern_id }, class: view.pattern && view.pattern.pattern_id === p.pattern_id ? "sel" : "" },
      h("td", { class: "msg", title: p.template }, p.template), h("td", {}, categoryLabel(p.category)),
      h("td", { class: "num" }, fmtNum(p.count)), h("td", {}, pill(p.trend)),
      h("td", { class: "muted" }, fmtAgo(p.last_seen)), h("td", { class: "muted" }, where || "–"));
    tr.addEventListener("click", () => openPattern(p));
    return tr;
  }), "patterns-empty");
}

function eventRow(ev, cells) {
  const tr = h("tr", { dataset: { eventId: ev.event_id || "", taskId: ev.task_id || "", category: ev.category || "" } }, ...cells);
  tr.addEventListener("click", () => openEvent(ev));
  return tr;
}

export async function openPattern(p) {
  view.pattern = p;
  const box = $("pattern-detail");
  box.hidden = false;
  box.dataset.patternId = p.pattern_id;
  $("pattern-template").textContent = p.template || "";
  const groups = correlationGroups(p);
  $("pattern-corr").replaceChildren(...(groups.length ? groups : [h("span", { class: "muted" }, "no correlations yet")]));
  renderPatterns();
  try {
    const body = await getJSON("/api/v1/errors", { pattern_id: p.pattern_id, limit: 50 });
    if (view.pattern !== p) return;
    fillTable("pattern-events", (body.items || []).map((ev) => eventRow(ev, [
      h("td", { class: "muted" }, fmtTime(ev.timestamp)), h("td", { class: "msg", title: ev.message || "" }, ev.message || ""),
      idCell(ev.task_id), idCell(ev.worker_id), h("td", {}, ev.hardware_type || "–"), h("td", { class: "num" }, ev.attempt ?? "–")])));
    box.scrollIntoView({ block: "nearest" });
  } catch (err) {
    console.warn("pattern events:", err.message);
  }
}

function renderLive() {
  fillTable("live-errors", store.liveErrors.slice(0, 50).map((ev, i) => {
    const tr = eventRow(ev, [
      h("td", { class: "muted" }, fmtTime(ev.ts ?? ev.timestamp)), h("td", {}, categoryLabel(ev.category)),
      h("td", { class: "msg", title: ev.message || "" }, ev.message || ""), idCell(ev.task_id), idCell(ev.worker_id),
      h("td", {}, ev.retry ? pill("retry_wait", "retry") : pill(ev.outcome || "error", humanize(ev.outcome || "final")))]);
    if (i === 0 && Date.now() - (ev.received || 0) < 2000) tr.classList.add("fresh");
    return tr;
  }), "live-errors-empty");
}

// The latest stored errors seed the list (so a reload or a reconnect shows them); live events
// then arrive on top. One event can come from both: its event_id decides.
export async function loadLatest() {
  if (!store.errorTracking) return;
  try {
    const body = await getJSON("/api/v1/errors", { limit: 30 });
    const seen = new Set(store.liveErrors.map((e) => e.event_id));
    const when = (e) => (toDate(e.timestamp ?? e.ts) || new Date(0)).getTime();
    store.liveErrors = [...store.liveErrors, ...(body.items || []).filter((e) => !seen.has(e.event_id))]
      .sort((a, b) => when(b) - when(a)).slice(0, LIMITS.liveErrors);
    touch("errors-live");
  } catch (err) {
    console.warn("latest errors:", err.message);
  }
}

export function onError(ev) {
  ev.received = Date.now();
  if (ev.event_id && store.liveErrors.some((e) => e.event_id === ev.event_id)) return;
  pushCapped(store.liveErrors, ev, LIMITS.liveErrors);
  if (store.lastHour) {
    store.lastHour.total = (store.lastHour.total || 0) + 1;
    touch("errors-summary");
  }
  touch("errors-live");
  refreshSoon();
}

export function onShow() { if (view.stale || !view.summary) { view.stale = false; refresh(); } }

export function init() {
  if (!store.errorTracking) return;
  register("errors-charts", "errors", renderCharts);
  register("errors-patterns", "errors", renderPatterns);
  register("errors-live", "errors", renderLive);
  register("errors-summary", "*", renderSummary);
  for (const b of $("trend-windows").querySelectorAll("button")) {
    b.addEventListener("click", () => {
      view.window = Number(b.dataset.window);
      for (const o of $("trend-windows").querySelectorAll("button")) o.classList.toggle("on", o === b);
      refresh();
    });
  }
  $("pattern-close").addEventListener("click", () => { $("pattern-detail").hidden = true; view.pattern = null; renderPatterns(); });
  setInterval(() => { if (store.view === "errors") refresh(); }, 30000);  // trends move with the clock
}
