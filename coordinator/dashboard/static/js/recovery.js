// Recovery actions: the stored list once, then every executed action live from the stream.
import { h, fillTable, fmtTime, idCell, pill, humanize, setText } from "./dom.js";
import { getJSON } from "./api.js";
import { store, register, touch, LIMITS } from "./store.js";

// Live events and stored rows describe the same action; an action tied to an error event is
// unique by (event, action); a health action (no event) by its second as well.
function key(a) {
  const base = `${a.event_id || ""}|${a.action}|${a.task_id || ""}|${a.worker_id || ""}`;
  if (a.event_id) return base;
  const t = a.timestamp ? Date.parse(a.timestamp) / 1000 : a.ts;
  return `${base}|${Math.floor(t || 0)}`;
}

export function actionRow(a) {
  return h("tr", { dataset: { action: a.action, taskId: a.task_id || "", workerId: a.worker_id || "" } },
    h("td", { class: "muted" }, fmtTime(a.timestamp ?? a.ts)), h("td", {}, h("strong", {}, humanize(a.action))),
    h("td", {}, pill(String(Boolean(a.success)), a.success ? "done" : "no effect")),
    idCell(a.task_id), idCell(a.worker_id), h("td", { class: "msg", title: a.detail || "" }, a.detail || ""));
}

function render() {
  fillTable("actions-table", store.actions.slice(0, 100).map(actionRow), "actions-empty");
  setText("actions-hint", `live; latest first · ${store.actions.length} shown`);
}

export async function load() {
  if (!store.errorTracking) return;
  try {
    const body = await getJSON("/api/v1/recovery-actions", { limit: 100 });
    const seen = new Set(store.actions.map(key));
    const stored = (body.items || []).filter((a) => !seen.has(key(a)));
    store.actions = [...store.actions, ...stored]
      .sort((a, b) => (Date.parse(b.timestamp || 0) || b.ts * 1000) - (Date.parse(a.timestamp || 0) || a.ts * 1000))
      .slice(0, LIMITS.actions);
    touch("recovery");
  } catch (err) {
    console.warn("recovery actions:", err.message);
  }
}

export function onAction(a) {
  const k = key(a);
  if (store.actions.some((x) => key(x) === k)) return;
  store.actions.unshift(a);
  if (store.actions.length > LIMITS.actions) store.actions.length = LIMITS.actions;
  touch("recovery");
}

export function init() {
  if (store.errorTracking) register("recovery", "recovery", render);
}
