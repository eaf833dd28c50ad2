// Inline SVG charts built with createElementNS; labels are text nodes, never markup.
import { fmtNum, fmtTime, humanize, swatch, h } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

function svg(width, height) {
  return s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", preserveAspectRatio: "xMidYMid meet" });
}

function titled(el, text) { el.appendChild(s("title", {}, text)); return el; }

// One horizontal bar split by status (the task mix at a glance).
export function stackedBar(container, entries, colors) {
  const total = entries.reduce((a, [, n]) => a + n, 0);
  const W = 1000, H = 34;
  const root = svg(W, H);
  let x = 0;
  if (!total) root.appendChild(s("rect", { x: 0, y: 4, width: W, height: 26, rx: 5, fill: "#eef1f4" }));
  for (const [name, n] of entries) {
    if (!n) continue;
    const w = Math.max(2, (n / total) * W);
    root.appendChild(titled(s("rect", { x, y: 4, width: w, height: 26, fill: colors[name] || "#9aa5b1" }),
      `${humanize(name)}: ${fmtNum(n)}`));
    x += w;
  }
  container.replaceChildren(root);
}

// Horizontal bars with labels and counts (errors by category).
export function barsH(container, items) {
  if (!items.length) { container.replaceChildren(h("p", { class: "empty" }, "No errors in this window.")); return; }
  const row = 28, labelW = 170, W = 470, H = items.length * row + 4;
  const max = Math.max(...items.map((i) => i.value), 1);
  const root = svg(W, H);
  items.forEach((it, i) => {
    const y = i * row + 2;
    root.appendChild(s("text", { x: labelW - 8, y: y + 16, "text-anchor": "end" }, it.label));
    const w = Math.max(2, ((W - labelW - 60) * it.value) / max);
    root.appendChild(titled(s("rect", { x: labelW, y: y + 4, width: w, height: 16, rx: 3, fill: it.color }),
      `${it.label}: ${fmtNum(it.value)}`));
    root.appendChild(s("text", { x: labelW + w + 6, y: y + 16 }, fmtNum(it.value)));
  });
  container.replaceChildren(root);
}

// Stacked columns over time: buckets [{start: Date, counts: {cat: n}}], a fixed category order.
export function stackedColumns(container, buckets, categories, colorOf, { spanMs, bucketMs }) {
  const W = 900, H = 220, L = 40, R = 10, T = 10, B = 28;
  const end = Date.now();
  const start = end - spanMs;
  const n = Math.max(1, Math.ceil(spanMs / bucketMs));
  const slots = new Map();
  for (const b of buckets) {
    const i = Math.floor((b.start.getTime() - start) / bucketMs);
    if (i < -1 || i > n) continue;
    const idx = Math.min(n - 1, Math.max(0, i));
    const slot = slots.get(idx) || {};
    for (const [c, v] of Object.entries(b.counts)) slot[c] = (slot[c] || 0) + v;
    slots.set(idx, slot);
  }
  const totals = [...slots.values()].map((o) => Object.values(o).reduce((a, v) => a + v, 0));
  const max = Math.max(1, ...totals);
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const root = svg(W, H);
  const plotH = H - T - B, plotW = W - L - R;
  for (let v = 0; v <= top; v += step) {
    const y = T + plotH - (v / top) * plotH;
    root.appendChild(s("line", { x1: L, x2: W - R, y1: y, y2: y, class: v ? "gridline" : "axis" }));
    root.appendChild(s("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, fmtNum(v)));
  }
  const colW = plotW / n;
  const gap = colW > 6 ? Math.min(3, colW * 0.2) : 0;
  for (const [idx, counts] of slots) {
    let y = T + plotH;
    const x = L + idx * colW + gap / 2;
    const when = new Date(start + idx * bucketMs);
    for (const c of categories) {
      const v = counts[c];
      if (!v) continue;
      const hgt = (v / top) * plotH;
      y -= hgt;
      root.appendChild(titled(s("rect", { x, y, width: Math.max(1, colW - gap), height: hgt, fill: colorOf(c) }),
        `${fmtTime(when.getTime() / 1000)} · ${humanize(c)}: ${fmtNum(v)}`));
    }
  }
  const ticks = 6;
  for (let i = 0; i <= ticks; i++) {
    const t = start + (spanMs * i) / ticks;
    const x = L + (plotW * i) / ticks;
    root.appendChild(s("text", { x, y: H - 8, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" },
      tickLabel(t, spanMs)));
  }
  if (!slots.size) {
    root.appendChild(s("text", { x: L + plotW / 2, y: T + plotH / 2, "text-anchor": "middle" }, "no errors in this window"));
  }
  container.replaceChildren(root);
}

function niceStep(max) {
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return Math.max(1, m * p);
  return Math.max(1, 10 * p);
}

function tickLabel(ms, spanMs) {
  const d = new Date(ms);
  if (spanMs > 2 * 86400000) return d.toLocaleDateString([], { month: "short", day: "numeric" });
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

export function legend(container, entries) {
  container.replaceChildren(...entries.map(([label, color, n]) =>
    h("span", {}, swatch(color), humanize(label), n !== undefined ? ` ${fmtNum(n)}` : "")));
}
