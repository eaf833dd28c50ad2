// Fleet: every worker with its state, hardware, running tasks and error counts, live.
import { $, h, fillTable, fmtAgo, fmtNum, idCell, pill, chips, shortId, categoryColor, swatch, setText } from "./dom.js";
import { store, register, touch, ACTIVE } from "./store.js";

function hardwareCell(hw) {
  hw = hw || {};
  const types = (hw.types || ["cpu"]).join(", ");
  const bits = [];
  if (hw.cpu_count) bits.push(`${hw.cpu_count} cpu`);
  if (hw.memory_gb) bits.push(`${Number(hw.memory_gb).toFixed(0)} GB`);
  const gpus = (hw.gpus || []).map((g) => g.name).filter(Boolean);
  return h("td", {}, h("strong", {}, types), bits.length ? h("span", { class: "muted" }, ` · ${bits.join(" · ")}`) : null,
    gpus.length ? h("div", { class: "muted" }, gpus.join(", ")) : null);
}

function errorsCell(counts) {
  const entries = Object.entries(counts || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return h("td", { class: "muted" }, "none");
  return h("td", {}, entries.slice(0, 4).map(([cat, n]) =>
    h("span", { class: "chip", title: `${cat}: ${n}` }, swatch(categoryColor(cat)), cat.replace(/_error$/, "").replaceAll("_", " "), h("b", {}, fmtNum(n)))));
}

function row(w) {
  const running = w.running_tasks || [];
  const state = w.connected === false && w.state !== "crashed" ? (w.state || "disconnected") : w.state;
  return h("tr", { dataset: { workerId: w.worker_id, state } },
    idCell(w.worker_id),
    h("td", {}, pill(state)),
    hardwareCell(w.hardware),
    h("td", {}, h("span", {}, `${running.length} / ${w.concurrency ?? "–"}`),
      running.length ? h("div", { class: "id muted" }, running.slice(0, 3).map(shortId).join(" ")) : null),
    h("td", { class: "num" }, fmtNum(w.completed ?? 0)),
    h("td", { class: "num" }, fmtNum(w.failed_attempts ?? 0)),
    errorsCell(w.error_counts),
    h("td", { class: "muted" }, fmtAgo(w.last_seen)));
}

function render() {
  const workers = [...store.workers.values()].sort((a, b) => String(a.worker_id).localeCompare(String(b.worker_id)));
  fillTable("fleet-table", workers.map(row), "fleet-empty");
  const states = {};
  for (const w of workers) states[w.state] = (states[w.state] || 0) + 1;
  setText("fleet-legend", Object.entries(states).map(([s, n]) => `${n} ${s}`).join(" · "));
}

function renderSummary() {
  const workers = [...store.workers.values()];
  const connected = workers.filter((w) => w.connected !== false).length;
  setText("sum-workers", fmtNum(connected));
  setText("sum-workers-sub", workers.length === connected ? "connected" : `connected of ${workers.length} known`);
}

// A task event moves the task between workers' running lists, so the fleet stays live between
// the worker events the engine sends on state changes.
export function onTaskEvent(ev) {
  for (const w of store.workers.values()) {
    const list = w.running_tasks || (w.running_tasks = []);
    const i = list.indexOf(ev.task_id);
    const here = ACTIVE.has(ev.status) && w.worker_id === ev.worker_id;
    if (here && i < 0) list.push(ev.task_id);
    else if (!here && i >= 0) list.splice(i, 1);
  }
  touch("fleet", "fleet-summary");
}

export function onWorkerEvent(w) {
  const { kind, ts, ...worker } = w;
  store.workers.set(worker.worker_id, worker);
  touch("fleet", "fleet-summary");
}

export function setWorkers(list) {
  store.workers = new Map(list.map((w) => [w.worker_id, w]));
  touch("fleet", "fleet-summary");
}

export function init() {
  register("fleet", "fleet", render);
  register("fleet-summary", "*", renderSummary);
  setInterval(() => touch("fleet"), 10000);  // keeps "last seen" honest
  $("fleet-empty").hidden = false;
}
