// History: errors and recovery actions read back from DuckDB through the API, so they outlive
// any coordinator restart; filtered, paginated with the API's cursors.
import { $, h, fillTable, fmtTime, idCell, categoryLabel } from "./dom.js";
import { getJSON } from "./api.js";
import { store } from "./store.js";
import { openEvent } from "./event.js";
import { actionRow } from "./recovery.js";

const CATEGORIES = ["resource_allocation_error", "resource_cleanup_error", "network_connection_error",
  "network_timeout_error", "hardware_availability_error", "hardware_capability_error", "hardware_performance_error",
  "worker_disconnection_error", "worker_crash_error", "worker_overload_error", "test_execution_error",
  "test_dependency_error", "test_configuration_error", "unknown_error"];
const state = { errors: [], actions: [], errorsCursor: null, actionsCursor: null, loaded: false };

function filters() {
  const win = $("hf-window").value;
  const since = win ? new Date(Date.now() - Number(win) * 1000).toISOString() : undefined;
  return { category: $("hf-category").value, worker_id: $("hf-worker").value.trim(),
    task_id: $("hf-task").value.trim(), since };
}

function errorRow(ev) {
  const tr = h("tr", { dataset: { eventId: ev.event_id, taskId: ev.task_id || "" } },
    h("td", { class: "muted" }, fmtTime(ev.timestamp)), h("td", {}, categoryLabel(ev.category)),
    h("td", { class: "msg", title: ev.message || "" }, ev.message || ""), idCell(ev.task_id), idCell(ev.worker_id),
    h("td", {}, ev.hardware_type || "–"));
  tr.addEventListener("click", () => openEvent(ev));
  return tr;
}

function render() {
  fillTable("history-errors", state.errors.map(errorRow), "history-errors-empty");
  fillTable("history-actions", state.actions.map(actionRow), "history-actions-empty");
  $("history-errors-more").hidden = !state.errorsCursor;
  $("history-actions-more").hidden = !state.actionsCursor;
}

async function loadErrors(more) {
  const f = filters();
  const body = await getJSON("/api/v1/errors", { ...f, limit: 50, cursor: more ? state.errorsCursor : undefined });
  state.errors = more ? [...state.errors, ...body.items] : body.items;
  state.errorsCursor = body.next_cursor;
}

async function loadActions(more) {
  const { category, ...f } = filters();
  const body = await getJSON("/api/v1/recovery-actions", { ...f, limit: 50, cursor: more ? state.actionsCursor : undefined });
  state.actions = more ? [...state.actions, ...body.items] : body.items;
  state.actionsCursor = body.next_cursor;
}

export async function load() {
  if (!store.errorTracking) return;
  try {
    await Promise.all([loadErrors(false), loadActions(false)]);
    state.loaded = true;
    render();
  } catch (err) {
    console.warn("history:", err.message);
  }
}

export function onShow() { load(); }

export function init() {
  if (!store.errorTracking) return;
  const sel = $("hf-category");
  for (const c of CATEGORIES) sel.appendChild(h("option", { value: c }, c.replace(/_error$/, "").replaceAll("_", " ")));
  $("history-filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  $("history-errors-more").addEventListener("click", async () => { await loadErrors(true); render(); });
  $("history-actions-more").addEventListener("click", async () => { await loadActions(true); render(); });
}
