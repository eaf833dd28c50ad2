// Tasks: the status mix, what runs now, what finished lately, and what turned out flaky or needed a retry.
import { $, h, fillTable, fmtTime, fmtNum, idCell, pill, setText, STATUS_COLORS } from "./dom.js";
import { stackedBar, legend } from "./charts.js";
import { store, register, touch, pushCapped, LIMITS, TERMINAL, ACTIVE } from "./store.js";

const ORDER = ["queued", "assigned", "running", "retry_wait", "completed", "failed", "error", "timed_out", "cancelled"];

function model(tags) { return tags && (tags.model ?? tags.suite ?? null); }

function renderStatus() {
  const counts = (store.status && store.status.tasks) || {};
  const entries = ORDER.map((s) => [s, counts[s] || 0]);
  const total = entries.reduce((a, [, n]) => a + n, 0);
  stackedBar($("status-bar"), entries, STATUS_COLORS);
  legend($("status-legend"), entries.filter(([, n]) => n).map(([s, n]) => [s, STATUS_COLORS[s], n]));
  setText("tasks-total", `${fmtNum(total)} tasks`);
}

function renderSummary() {
  const st = store.status;
  if (!st) return;
  const t = st.tasks || {};
  setText("sum-queue", fmtNum(st.queue_depth ?? t.queued ?? 0));
  setText("sum-running", fmtNum((t.running || 0) + (t.assigned || 0)));
  setText("sum-completed", fmtNum(t.completed || 0));
  const lately = [[store.flaky.length, "flaky"], [store.retried.length, "retried"]].filter(([n]) => n);
  setText("sum-flaky", lately.length ? lately.map(([n, k]) => `${fmtNum(n)} ${k}`).join(" · ") + " lately" : "");
  setText("sum-failed", fmtNum((t.failed || 0) + (t.error || 0) + (t.timed_out || 0)));
  const parts = [["failed", t.failed], ["error", t.error], ["timed out", t.timed_out]].filter(([, n]) => n);
  setText("sum-failed-sub", parts.map(([k, n]) => `${fmtNum(n)} ${k}`).join(" · "));
}

function renderRunning() {
  const rows = [...store.running.values()].map((t) => h("tr", { dataset: { taskId: t.task_id } },
    idCell(t.task_id), h("td", {}, t.type || "–"), idCell(t.worker_id),
    h("td", { class: "num" }, t.attempt || 1), h("td", {}, model(t.tags) || "–")));
  fillTable("running-table", rows.slice(0, 50), "running-empty");
  setText("running-count", store.running.size ? `${store.running.size}` : "");
}

function renderRecent() {
  fillTable("recent-table", store.recent.slice(0, 30).map((t) => h("tr", { dataset: { taskId: t.task_id, status: t.status } },
    h("td", { class: "muted" }, fmtTime(t.ts)), idCell(t.task_id), h("td", {}, t.type || "–"),
    h("td", {}, pill(t.status), t.flaky ? h("span", { class: "pill warn" }, "flaky")
      : t.retried ? h("span", { class: "pill", title: "passed after an infrastructure fault" }, "retried") : null),
    idCell(t.worker_id), h("td", { class: "num" }, t.attempt || 1))), "recent-empty");
  fillTable("flaky-table", store.flaky.slice(0, 20).map((t) => h("tr", { dataset: { taskId: t.task_id } },
    idCell(t.task_id), h("td", {}, t.type || "–"), h("td", { class: "num" }, t.attempt || "–"),
    h("td", { class: "muted" }, fmtTime(t.ts)))), "flaky-empty");
}

export function onTaskEvent(ev) {
  if (ACTIVE.has(ev.status)) store.running.set(ev.task_id, ev);
  else store.running.delete(ev.task_id);
  if (TERMINAL.has(ev.status)) {
    pushCapped(store.recent, ev, LIMITS.recent);
    if (ev.flaky && ev.status === "completed") pushCapped(store.flaky, ev, LIMITS.flaky);
    else if (ev.retried) pushCapped(store.retried, ev, LIMITS.retried);
  }
  touch("tasks-running", "tasks-recent");
}

export function onStatus(status) { store.status = status; touch("tasks-status", "tasks-summary"); }

export function setSnapshot(snap) {
  store.status = snap.status;
  store.running = new Map((snap.running || []).map((t) => [t.task_id, t]));
  store.recent = (snap.recent || []).slice().reverse();
  store.flaky = (snap.flaky || []).slice().reverse();
  store.retried = (snap.retried || []).slice().reverse();
  touch("tasks-status", "tasks-summary", "tasks-running", "tasks-recent");
}

export function init() {
  register("tasks-status", "tasks", renderStatus);
  register("tasks-summary", "*", renderSummary);
  register("tasks-running", "tasks", renderRunning);
  register("tasks-recent", "tasks", renderRecent);
}
