// The error-event drawer: message, traceback and what the event's pattern correlates with.
import { $, h, fmtTime, humanize, categoryLabel } from "./dom.js";
import { getJSON } from "./api.js";
import { store } from "./store.js";

store.patterns = new Map();  // pattern_id -> pattern (API shape), filled by the errors view

function fact(label, value) {
  return [h("dt", {}, label), h("dd", {}, value instanceof Node ? value : (value ?? "–"))];
}

function decision(ev) {
  if (ev.retry === true) return `retry${ev.retry_delay != null ? ` in ${Number(ev.retry_delay).toFixed(1)} s` : ""}`;
  if (ev.outcome) return humanize(ev.outcome);
  return ev.retry === false ? "no retry" : "–";
}

function shareChips(label, shares) {
  const entries = Object.entries(shares || {});
  if (!entries.length) return null;
  return h("div", { class: "group", dataset: { corr: label } }, h("span", {}, label),
    entries.map(([k, v]) => h("span", { class: "chip", title: `${k}: ${Math.round(v * 100)}% of this pattern` },
      k, h("b", {}, `${Math.round(v * 100)}%`))));
}

export function correlationGroups(pattern) {
  const c = (pattern && pattern.correlations) || {};
  const groups = [shareChips("workers", c.worker_id), shareChips("hardware", c.hardware_type)];
  for (const [tag, shares] of Object.entries(c.tags || {})) {
    groups.push(shareChips(tag === "model" ? "models" : `tag ${tag}`, shares));
  }
  return groups.filter(Boolean);
}

async function patternOf(id) {
  if (!id) return null;
  if (store.patterns.has(id)) return store.patterns.get(id);
  try {
    const body = await getJSON("/api/v1/errors/patterns", { limit: 1000, window_seconds: 604800 });
    for (const p of body.items || []) store.patterns.set(p.pattern_id, p);
  } catch (err) {
    console.warn("patterns unavailable:", err.message);
  }
  return store.patterns.get(id) || null;
}

export async function openEvent(ev) {
  const drawer = $("drawer");
  drawer.hidden = false;
  drawer.dataset.eventId = ev.event_id || "";
  $("ev-title").textContent = `Error event ${ev.event_id ? String(ev.event_id).slice(0, 12) : ""}`;
  const actions = (ev.actions || []).join(", ");
  $("ev-facts").replaceChildren(
    ...fact("When", fmtTime(ev.timestamp ?? ev.ts)), ...fact("Category", categoryLabel(ev.category)),
    ...fact("Type", ev.type), ...fact("Task", ev.task_id), ...fact("Worker", ev.worker_id),
    ...fact("Hardware", ev.hardware_type), ...fact("Attempt", ev.attempt), ...fact("Decision", decision(ev)),
    ...fact("Actions", actions || "none"), ...fact("Pattern", ev.pattern_id),
    ...(ev.tags && Object.keys(ev.tags).length ? fact("Tags", Object.entries(ev.tags).map(([k, v]) => `${k}=${v}`).join(", ")) : []));
  $("ev-message").textContent = ev.message || "(no message)";
  $("ev-traceback").textContent = ev.traceback || "(no traceback recorded for this error)";
  const corr = $("ev-corr");
  corr.replaceChildren(h("span", { class: "muted" }, "loading…"));
  const pattern = await patternOf(ev.pattern_id);
  if (drawer.dataset.eventId !== (ev.event_id || "")) return;  // another event was opened meanwhile
  const groups = correlationGroups(pattern);
  corr.replaceChildren(...(groups.length ? groups
    : [h("span", { class: "muted" }, "no correlation data for this pattern yet")]));
}

export function init() {
  $("drawer-close").addEventListener("click", () => { $("drawer").hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") $("drawer").hidden = true; });
}
