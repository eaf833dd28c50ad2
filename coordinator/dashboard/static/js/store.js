// What the page knows, and a coalescing scheduler: live events mark views dirty; visible views
// re-render at most every 150 ms, hidden ones when they are shown.

export const store = {
  errorTracking: document.querySelector('meta[name="dtf-error-tracking"]')?.content === "on",
  mode: document.querySelector('meta[name="dtf-mode"]')?.content || "embedded",
  workers: new Map(),      // worker_id -> worker (API shape)
  status: null,            // /api/v1/status shape
  running: new Map(),      // task_id -> task event
  recent: [],              // terminal task events, newest first
  flaky: [],               // completed after a failed attempt (the test said no, then yes)
  retried: [],             // completed after an infrastructure fault (not flaky)
  liveErrors: [],          // error events since the page opened, newest first
  actions: [],             // recovery actions, newest first
  view: "fleet",
};

export const LIMITS = { recent: 100, flaky: 50, retried: 50, liveErrors: 100, actions: 200 };

const renderers = new Map();  // name -> {view, fn}
const dirty = new Set();
let timer = null;

export function register(name, view, fn) { renderers.set(name, { view, fn }); dirty.add(name); schedule(); }

export function touch(...names) { for (const n of names) dirty.add(n); schedule(); }

function schedule() { if (!timer) timer = setTimeout(flush, 150); }

export function flush() {
  timer = null;
  for (const name of [...dirty]) {
    const r = renderers.get(name);
    if (!r) { dirty.delete(name); continue; }
    if (r.view !== "*" && r.view !== store.view) continue;
    dirty.delete(name);
    try { r.fn(); } catch (err) { console.warn(`render ${name} failed:`, err); }
  }
}

export function pushCapped(list, item, cap) {
  list.unshift(item);
  if (list.length > cap) list.length = cap;
}

export const TERMINAL = new Set(["completed", "failed", "error", "timed_out", "cancelled"]);
export const ACTIVE = new Set(["assigned", "running"]);
