// DOM and formatting helpers, and the error box the browser tests read.
"use strict";

// ---------------------------------------------------------------- errors: shown on the page, checked by tests

function report(message) {
  const box = document.getElementById("errors");
  box.hidden = false;
  const line = document.createElement("div");
  line.className = "error";
  line.textContent = message;
  box.appendChild(line);
}
window.addEventListener("error", e => report(`error: ${e.message} (${e.filename}:${e.lineno})`));
window.addEventListener("unhandledrejection", e => report(`error: ${e.reason && e.reason.stack || e.reason}`));

// ---------------------------------------------------------------- helpers

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "data") Object.entries(v).forEach(([dk, dv]) => { node.dataset[dk] = dv; });
    else node.setAttribute(k, v === true ? "" : v);
  }
  fill(node, children);
  return node;
}

function fill(node, children) {
  // append children, flattening nested arrays and skipping null / undefined / false
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function replace(node, ...children) {
  node.replaceChildren();
  return fill(node, children);
}

const isNum = v => typeof v === "number" && isFinite(v);
const pct = v => isNum(v) ? (v * 100).toFixed(1) + "%" : "–";
const fixed = (v, d = 2) => isNum(v) ? v.toFixed(d) : "–";
const round0 = v => isNum(v) ? Math.round(v).toLocaleString("en-US") : "–";
const mean = xs => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;

function any(v) {
  // compact text for a value whose shape the viewer does not know (a field added after it was written)
  if (v === null || v === undefined) return "–";
  if (isNum(v)) return Number.isInteger(v) ? String(v) : String(+v.toPrecision(4));
  if (Array.isArray(v)) return "[" + v.map(any).join(", ") + "]";
  if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${k} ${any(x)}`).join(" · ");
  return String(v);
}

function mark(correct, text) {
  const cls = correct === true ? "ok" : correct === false ? "bad" : "none";
  const sign = correct === true ? "✓" : correct === false ? "✗" : "·";
  return el("span", { class: `mark ${cls}`, title: correct === true ? "correct" : correct === false ? "wrong" : "" },
    text === undefined ? sign : `${text} ${sign}`);
}
