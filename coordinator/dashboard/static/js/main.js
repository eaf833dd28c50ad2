// Boot: views, the live stream and the first loads. Nothing here talks to any other host.
import { $, fmtTime, setText } from "./dom.js";
import { openStream, onUnauthorized, setToken, getJSON } from "./api.js";
import { store, flush, touch } from "./store.js";
import * as fleet from "./fleet.js";
import * as tasks from "./tasks.js";
import * as errors from "./errors.js";
import * as recovery from "./recovery.js";
import * as history from "./history.js";
import * as event from "./event.js";

const VIEWS = ["fleet", "tasks", "errors", "recovery", "history"];
const ON_SHOW = { errors: errors.onShow, history: history.onShow };

function show(name) {
  if (!VIEWS.includes(name) || (!store.errorTracking && ["errors", "recovery", "history"].includes(name))) name = "fleet";
  store.view = name;
  $("drawer").hidden = true;
  for (const sec of document.querySelectorAll("main > .view")) sec.hidden = sec.dataset.view !== name;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("on", a.dataset.view === name);
  document.body.dataset.view = name;
  flush();
  const hook = ON_SHOW[name];
  if (hook) hook();
}

function setConn(state) {
  const el = $("conn");
  el.dataset.state = state;
  el.querySelector(".label").textContent = { live: "live", connecting: "connecting", reconnecting: "reconnecting" }[state] || state;
}

function onSnapshot(snap) {
  fleet.setWorkers(snap.workers || []);
  tasks.setSnapshot(snap);
  // after a (re)connection, reload what the stream cannot replay
  errors.refresh();
  errors.loadLatest();
  recovery.load();
  if (store.view === "history") history.load();
}

function boot() {
  if (!store.errorTracking) for (const el of document.querySelectorAll("[data-needs=errors]")) el.hidden = true;
  setText("foot-mode", store.mode === "remote" ? "remote dashboard (proxied to the coordinator)" : "served by the coordinator");
  setInterval(() => setText("foot-time", `page time ${fmtTime(Date.now() / 1000)}`), 1000);
  for (const init of [fleet.init, tasks.init, errors.init, recovery.init, history.init, event.init]) init();

  onUnauthorized(() => { $("token-bar").hidden = false; });
  $("token-bar").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken($("token-input").value.trim());
    location.reload();
  });

  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  show(location.hash.slice(1) || "fleet");

  openStream({
    snapshot: onSnapshot,
    task: (ev) => { tasks.onTaskEvent(ev); fleet.onTaskEvent(ev); },
    worker: fleet.onWorkerEvent,
    error_event: errors.onError,
    action: recovery.onAction,
    status: tasks.onStatus,
    dropped: () => { getJSON("/api/v1/workers").then((b) => fleet.setWorkers(b.items || [])).catch(() => {}); },
    heartbeat: () => touch("fleet"),
  }, setConn);
}

boot();
