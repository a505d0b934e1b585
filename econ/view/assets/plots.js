// Small SVG plots drawn by hand (no library: the page must open offline): lines and histograms.
"use strict";

const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#0a7f86", "#bc4c00", "#6e7781"];
const SVG_NS = "http://www.w3.org/2000/svg";
const PLOT = { w: 340, h: 196, left: 42, right: 12, top: 8, bottom: 32 };

function svgEl(tag, attrs, parent) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function niceTicks(lo, hi, count, integer) {
  // about `count` round-numbered ticks covering [lo, hi], each with as many decimals as its step needs
  if (!(hi > lo)) return [{ v: lo, label: tickLabel(lo, 0) }];
  const raw = Math.max((hi - lo) / Math.max(count, 1), integer ? 1 : 0);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const multiple = [1, 2, 2.5, 5, 10].find(m => m * mag >= raw * 0.999) || 10;
  const step = (integer && multiple === 2.5 && mag === 1 ? 2 : multiple) * mag;  // 2.5 episodes is no tick
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (Math.abs(step / mag - 2.5) < 1e-9 ? 1 : 0));
  const ticks = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push({ v: +t.toFixed(10), label: tickLabel(t, decimals) });
  }
  return ticks;
}

function tickLabel(v, decimals) {
  const a = Math.abs(v);
  if (decimals > 3) return v === 0 ? "0" : v.toExponential(1);
  if (a >= 10000) return (v / 1000).toFixed(0) + "k";
  if (a >= 1000 && decimals === 0 && Math.round(v) % 100 === 0) return (v / 1000).toFixed(1).replace(/\.0$/, "") + "k";
  return v.toFixed(decimals);
}

function paddedRange(values, fixed) {
  if (fixed) return fixed;
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!isFinite(lo)) return [0, 1];
  if (hi === lo) {  // a constant: centre it in a range wide enough for readable ticks
    const pad = Math.max(Math.abs(lo) * 0.1, 0.5);
    lo -= pad; hi += pad;
  }
  return [lo, hi];
}

function axes(svg, xr, yr, opts) {
  const { w, h, left, right, top, bottom } = PLOT;
  const sx = x => left + (x - xr[0]) / (xr[1] - xr[0]) * (w - left - right);
  const sy = y => h - bottom - (y - yr[0]) / (yr[1] - yr[0]) * (h - top - bottom);
  svgEl("line", { x1: left, y1: h - bottom, x2: w - right, y2: h - bottom, stroke: "#8c959f" }, svg);
  svgEl("line", { x1: left, y1: top, x2: left, y2: h - bottom, stroke: "#8c959f" }, svg);
  const xticks = opts.xticks ? opts.xticks.map(v => ({ v, label: String(v) })) : niceTicks(xr[0], xr[1], 5, opts.integer);
  for (const t of xticks) {
    svgEl("line", { x1: sx(t.v), y1: h - bottom, x2: sx(t.v), y2: h - bottom + 3, stroke: "#8c959f" }, svg);
    svgEl("text", { x: sx(t.v), y: h - bottom + 12, "text-anchor": "middle" }, svg).textContent = t.label;
  }
  for (const t of niceTicks(yr[0], yr[1], 4)) {
    svgEl("line", { x1: left, y1: sy(t.v), x2: w - right, y2: sy(t.v), stroke: "#eaeef2" }, svg);
    svgEl("text", { x: left - 4, y: sy(t.v) + 3, "text-anchor": "end" }, svg).textContent =
      opts.yfmt ? opts.yfmt(t.v) : t.label;
  }
  if (opts.xlabel) {
    svgEl("text", { x: (left + w - right) / 2, y: h - 3, "text-anchor": "middle" }, svg).textContent = opts.xlabel;
  }
  return { sx, sy };
}

function plotBox(title, series, note) {
  const box = document.createElement("div");
  box.className = "plot";
  const head = document.createElement("h4");
  head.textContent = title;
  box.appendChild(head);
  const legend = document.createElement("div");
  legend.className = "legend";
  for (const s of series) {
    const item = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = s.color;
    item.append(sw, s.name);
    legend.appendChild(item);
  }
  box.appendChild(legend);
  const svg = svgEl("svg", { viewBox: `0 0 ${PLOT.w} ${PLOT.h}`, role: "img", "aria-label": title });
  box.appendChild(svg);
  if (note) {
    const p = document.createElement("div");
    p.className = "small muted";
    p.textContent = note;
    box.appendChild(p);
  }
  return { box, svg };
}

// series: [{name, color, points: [[x, y], ...]}]
function linePlot(title, series, opts = {}) {
  series = series.filter(s => s.points.length);
  const { box, svg } = plotBox(title, series, opts.note);
  if (!series.length) return box;
  const xs = series.flatMap(s => s.points.map(p => p[0]));
  const ys = series.flatMap(s => s.points.map(p => p[1]));
  const xr = paddedRange(xs, opts.xrange), yr = paddedRange(ys, opts.yrange);
  const { sx, sy: sy0 } = axes(svg, xr, yr, opts);
  series.forEach((s, k) => {
    // equal series would hide each other: dodge each by a pixel or two
    const dodge = opts.dodge === false ? 0 : (k - (series.length - 1) / 2) * 1.6;
    const sy = y => sy0(y) + dodge;
    const solid = s.solidUntil === undefined ? s.points.length : s.solidUntil;
    const path = pts => pts.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    svgEl("path", { d: path(s.points.slice(0, solid)), fill: "none", stroke: s.color, "stroke-width": 1.6 }, svg);
    if (solid < s.points.length) {  // carried forward, not measured
      svgEl("path", { d: path(s.points.slice(solid - 1)), fill: "none", stroke: s.color, "stroke-width": 1.2,
        "stroke-dasharray": "3 3" }, svg);
    }
    if (s.points.length <= 40) {
      for (const p of s.points.slice(0, solid)) {
        const dot = svgEl("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.6, fill: s.color }, svg);
        svgEl("title", {}, dot).textContent = `${s.name}: ${+p[0].toPrecision(4)} → ${opts.yfmt ? opts.yfmt(p[1]) : +p[1].toPrecision(4)}`;
      }
    }
  });
  return box;
}

// series: [{name, color, values: [...]}]; each drawn as the share of its values per bin
function histogram(title, series, opts = {}) {
  series = series.filter(s => s.values.length);
  const { box, svg } = plotBox(title, series, opts.note);
  if (!series.length) return box;
  const bins = opts.bins || 16;
  const xr = paddedRange(series.flatMap(s => s.values), opts.xrange);
  const width = (xr[1] - xr[0]) / bins;
  const shares = series.map(s => {
    const counts = new Array(bins).fill(0);
    for (const v of s.values) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - xr[0]) / width)))] += 1;
    return counts.map(c => c / s.values.length);
  });
  const { sx, sy } = axes(svg, xr, [0, Math.max(...shares.flat(), 0.05)], { ...opts, yfmt: v => Math.round(v * 100) + "%" });
  const slot = width / series.length;  // bars of one bin side by side, one slot per series
  series.forEach((s, k) => {
    const total = s.values.reduce((a, b) => a + b, 0);
    shares[k].forEach((share, b) => {
      if (!share) return;
      const x0 = sx(xr[0] + b * width + k * slot), x1 = sx(xr[0] + b * width + (k + 1) * slot);
      const bar = svgEl("rect", { x: x0.toFixed(1), y: sy(share).toFixed(1), width: Math.max(1, x1 - x0 - 0.4).toFixed(1),
        height: (sy(0) - sy(share)).toFixed(1), fill: s.color, "fill-opacity": 0.85 }, svg);
      const lo = xr[0] + b * width;
      svgEl("title", {}, bar).textContent = `${s.name}: ${Math.round(share * 100)}% of ${s.values.length} in ` +
        `[${+lo.toPrecision(3)}, ${+(lo + width).toPrecision(3)}) · mean ${+(total / s.values.length).toPrecision(4)}`;
    });
  });
  return box;
}
