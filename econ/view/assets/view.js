// The problem list (filtered, paginated) and the page's start; state lives in the URL hash
// (#view=eval&filter=wrong&method=econ&q=apples&page=2&open=<id>).
"use strict";

const PAGE_SIZE = 50;
const FILTERS = [
  ["correct", "correct"], ["wrong", "wrong"], ["changed", "changed by BNE"],
  ["overruled", "commitment overruled the majority"], ["unparsable", "unparsable answers"],
  ["leak", "strategy leak"],
];
const state = { view: "eval", filter: [], method: null, q: "", page: 1, open: null, call: null };

// ---------------------------------------------------------------- hash state

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  state.view = p.get("view") || "eval";
  state.filter = (p.get("filter") || "").split(",").filter(f => f && f !== "all");
  state.method = p.get("method");
  state.q = p.get("q") || "";
  state.page = Math.max(1, parseInt(p.get("page") || "1", 10) || 1);
  state.open = p.get("open");
  state.call = p.get("call");  // "<method>:<call index>" of the opened problem
}

function setState(patch) {
  Object.assign(state, patch);
  if (!state.open) state.call = null;
  writeHash();
  renderBrowser();
}

function writeHash() {
  const p = new URLSearchParams();
  if (state.view !== "eval") p.set("view", state.view);
  if (state.filter.length) p.set("filter", state.filter.join(","));
  if (state.method) p.set("method", state.method);
  if (state.q) p.set("q", state.q);
  if (state.page > 1) p.set("page", String(state.page));
  if (state.open) p.set("open", state.open);
  if (state.open && state.call) p.set("call", state.call);
  history.replaceState(null, "", "#" + p.toString().replace(/%2C/g, ",").replace(/%3A/g, ":"));
}

function openCallFromHash() {
  const item = state.open && state.call && dataset().items.find(it => it.id === state.open);
  const [method, index] = (state.call || "").split(/:(?=\d+$)/);
  if (item && item.eps[method]) showCall(item.eps[method], parseInt(index, 10));
}

// ---------------------------------------------------------------- the problem list

function dataset() {
  if (state.view.startsWith("train")) {
    const train = D.train[parseInt(state.view.slice(5) || "0", 10)] || D.train[0];
    return { methods: train.methods, items: train.items, train };
  }
  return { methods: D.eval.methods, items: D.eval.items, train: null };
}

function focusMethod(ds) {
  if (state.method && ds.methods.includes(state.method)) return state.method;
  return ds.methods.includes(D.reference) ? D.reference : ds.methods[ds.methods.length - 1];
}

function matches(item, method, filters, query) {
  if (query) {
    const text = `${item.question || ""}\n${item.id}\n${item.problem_id}`.toLowerCase();
    if (!text.includes(query)) return false;
  }
  if (!filters.length) return true;
  for (const f of filters) {
    if (f === "disagree") {
      const verdicts = new Set(Object.values(item.eps).map(ep => ep.correct));
      if (verdicts.size < 2) return false;
      continue;
    }
    const ep = item.eps[method];
    if (!ep || !ep.flags[f]) return false;
  }
  return true;
}

function controls(ds, method, counts) {
  const filters = D.mode === "compare" && !ds.train ? [...FILTERS, ["disagree", "methods disagree"]] : FILTERS;
  const toggle = key => {
    let next = state.filter.includes(key) ? state.filter.filter(f => f !== key) : [...state.filter, key];
    if (key === "correct") next = next.filter(f => f !== "wrong");
    if (key === "wrong") next = next.filter(f => f !== "correct");
    setState({ filter: next, page: 1, open: null });
  };
  const search = el("input", { type: "search", id: "search", placeholder: "search question text or id", value: state.q });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => setState({ q: search.value.trim(), page: 1, open: null }), 150);
  });
  const chooser = ds.methods.length > 1 ? el("label", { class: "small" }, "filters apply to ",
    el("select", { id: "method", onchange: e => setState({ method: e.target.value, page: 1 }) },
      ds.methods.map(m => el("option", { value: m, selected: m === method, text: methodInfo(m).label })))) : null;
  return el("div", { class: "controls" }, chooser,
    el("button", { type: "button", class: `filter${state.filter.length ? "" : " on"}`, data: { filter: "all" },
      onclick: () => setState({ filter: [], page: 1, open: null }) }, "all"),
    filters.map(([key, label]) => el("button", {
      type: "button", class: `filter${state.filter.includes(key) ? " on" : ""}`, data: { filter: key },
      onclick: () => toggle(key) }, label, el("span", { class: "n", text: counts[key] }))),
    search);
}

function flagsOf(ep) {
  const out = [];
  if (ep.flags.changed) out.push(el("span", { class: "flag", title: "round-0 commitment differs from the final answer", text: "changed" }));
  if (ep.flags.overruled) out.push(el("span", { class: "flag", title: "a commitment differs from the executors' majority", text: "overruled" }));
  if (ep.flags.unparsable) out.push(el("span", { class: "flag", title: "an answer could not be extracted", text: "unparsable" }));
  if (ep.flags.leak) out.push(el("span", { class: "flag", title: "the strategy states the answer", text: "leak" }));
  return out;
}

function problemRow(item, ds) {
  const open = state.open === item.id;
  const question = item.question || "(question not recorded)";
  return el("tr", { class: `row${open ? " open" : ""}`, data: { problemId: item.id },
    onclick: () => setState({ open: open ? null : item.id }) },
    el("td", { class: "pid", text: item.id }),
    el("td", { class: "question", title: question, text: question.length > 140 ? question.slice(0, 140) + "…" : question }),
    el("td", { class: "ans mono", text: item.gold }),
    ds.methods.map(m => {
      const ep = item.eps[m];
      return el("td", { class: "ans", data: { method: m } },
        ep ? [mark(ep.correct, ep.final === null ? "∅" : ep.final.length > 14 ? ep.final.slice(0, 14) + "…" : ep.final),
          flagsOf(ep)] : el("span", { class: "muted", text: "–" }));
    }));
}

function renderBrowser() {
  const root = document.getElementById("browser");
  if (!root) return;
  const ds = dataset();
  const method = focusMethod(ds);
  const query = state.q.toLowerCase();
  const counts = {};
  for (const [key] of [...FILTERS, ["disagree"]]) {
    counts[key] = ds.items.filter(item => matches(item, method, [key], query)).length;
  }
  const shown = ds.items.filter(item => matches(item, method, state.filter, query));
  const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
  const page = Math.min(state.page, pages);
  const slice = shown.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  const what = ds.train ? "episodes" : "problems";
  const count = el("span", { class: "count", id: "count" }, shown.length ?
    `${what} ${(page - 1) * PAGE_SIZE + 1}–${(page - 1) * PAGE_SIZE + slice.length} of ${shown.length}` : `no ${what}`,
    shown.length < ds.items.length ? ` (filtered from ${ds.items.length})` : "");
  const head = el("tr", {}, el("th", { text: ds.train ? "episode" : "problem" }), el("th", { text: "question" }),
    el("th", { text: "gold" }), ds.methods.map(m => el("th", { text: methodInfo(m).label })));
  const body = el("tbody", { id: "problem-rows" });
  for (const item of slice) {
    body.appendChild(problemRow(item, ds));
    if (state.open === item.id) {
      body.appendChild(el("tr", { class: "detail-row" },
        el("td", { class: "detail-cell", colspan: 3 + ds.methods.length }, detail(item, ds))));
    }
  }
  const pager = pages > 1 ? el("div", { class: "pager" },
    el("button", { type: "button", disabled: page <= 1, onclick: () => setState({ page: page - 1, open: null }) }, "‹ previous"),
    el("span", { text: `page ${page} of ${pages}` }),
    el("button", { type: "button", disabled: page >= pages, onclick: () => setState({ page: page + 1, open: null }) }, "next ›")) : null;
  // fixed layout: a wide detail row scrolls inside the table instead of widening the page
  const cols = el("colgroup", {}, el("col", { style: "width:170px" }), el("col", {}), el("col", { style: "width:80px" }),
    ds.methods.map(() => el("col", { style: `width:${ds.methods.length > 3 ? 120 : 170}px` })));
  const table = el("table", { class: "problems", id: "problems" }, cols, el("thead", {}, head), body);
  const focused = document.activeElement && document.activeElement.id === "search";
  replace(root,
    ds.train ? trainSummary(ds) : null,
    controls(ds, method, counts), el("div", { class: "controls" }, count), pager,
    slice.length ? table : el("div", { class: "empty card", text: `No ${what} match these filters.` }), pager && pager.cloneNode(true));
  root.querySelectorAll(".pager").forEach((p, i) => {
    if (i > 0) {  // cloneNode drops listeners
      const [prev, , next] = p.children;
      prev.onclick = () => setState({ page: page - 1, open: null });
      next.onclick = () => setState({ page: page + 1, open: null });
    }
  });
  if (focused) { const s = document.getElementById("search"); s.focus(); s.setSelectionRange(s.value.length, s.value.length); }
  document.querySelectorAll(".tabs button").forEach(b => b.classList.toggle("active", b.dataset.view === state.view));
  const row = state.open && root.querySelector("tr.detail-row");
  if (row && state.scrollTo) {  // bring an opened problem into view, without a jump when it is already there
    const box = row.previousSibling.getBoundingClientRect();
    if (box.top < 0 || box.top > window.innerHeight * 0.6) row.previousSibling.scrollIntoView({ block: "start" });
    state.scrollTo = false;
  }
}

function trainSummary(ds) {
  const eps = ds.items.flatMap(item => Object.values(item.eps));
  const right = eps.filter(ep => ep.correct).length;
  return el("div", { class: "card small", style: "margin-top:10px" },
    `training run ${ds.train.run}: ${eps.length} episodes, ${right} correct (${pct(right / Math.max(eps.length, 1))}), `,
    `${round0(mean(eps.map(ep => ep.tokens[0] + ep.tokens[1])))} tokens per episode`,
    el("div", { style: "margin-top:8px" }, trainPlots(ds.train)));
}

// ---------------------------------------------------------------- the page

function tabs() {
  const views = [["eval", `Problems (${D.eval.items.length})`],
    ...D.train.map((t, i) => [i ? `train${i}` : "train", `Training${D.train.length > 1 ? " " + t.run : ""} (${t.items.length} episodes)`])];
  if (views.length < 2) return null;
  return el("div", { class: "tabs" }, views.map(([view, label]) => el("button", { type: "button", data: { view },
    onclick: () => setState({ view, page: 1, open: null, method: null }) }, label)));
}

async function loadData() {
  const node = document.getElementById("econ-data");
  const binary = atob(node.textContent.trim());
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

async function main() {
  D = await loadData();
  readHash();
  if (state.open) state.scrollTo = true;
  document.title = D.title;
  const app = document.getElementById("app");
  replace(app, header(),
    el("h2", { text: "Results" }), resultsTable(), runsInfo(),
    D.eval.items.length ? [el("h2", { text: "At a glance" }), evalPlots()] : null,
    tabs(), el("div", { id: "browser" }));
  renderBrowser();
  openCallFromHash();
  window.addEventListener("hashchange", () => { readHash(); state.scrollTo = true; renderBrowser(); openCallFromHash(); });
  document.getElementById("dialog-close").addEventListener("click", closeDialog);
  document.getElementById("dialog").addEventListener("click", e => { if (e.target.id === "dialog") closeDialog(); });
  document.addEventListener("keydown", e => { if (e.key === "Escape") closeDialog(); });
  document.body.dataset.ready = "1";
}

main().catch(e => report(`error: ${e && e.stack || e}`));
