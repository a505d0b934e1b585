// The run's header, results table (read from results.json), runs' config and usage, and the plots.
"use strict";

let D = null;  // the page's data (econ/view/runs.py: page_data)
const methodInfo = name => D.methods.find(m => m.name === name) || { name, label: name };
const colorOf = name => PALETTE[Math.max(0, D.eval.methods.indexOf(name)) % PALETTE.length];

// ---------------------------------------------------------------- header, results table, runs

function header() {
  const run = D.runs[0] || {};
  const facts = [
    D.mode === "compare" ? `${D.runs.length} runs` : null,
    run.dataset ? `dataset ${run.dataset}` : null,
    run.split ? `split ${run.split}` : null,
    run.model ? `model ${run.model}` : null,
    isNum(run.n_agents) ? `N = ${run.n_agents}` : null,
    `${D.eval.items.length} problems`,
  ].filter(Boolean);
  return el("header", {},
    el("h1", { text: D.title }),
    el("div", { class: "muted small" }, facts.join(" · "), " — ", el("code", { text: D.source })));
}

function samplingText(m) {
  // results.json's sampling ({temperature, penalty} → {mean, min, max}), else read off the traces
  const range = (label, mid, lo, hi) => `${label} ${fixed(mid)}` + (hi - lo > 0.005 ? ` [${fixed(lo)}–${fixed(hi)}]` : "");
  const both = (t, p) => el("span", {}, t, el("span", { class: "sub", text: p }));
  const own = m.columns.sampling;
  if (own && own.temperature && own.penalty) {
    const part = (stats, label) => range(label, stats.mean, stats.min, stats.max);
    return both(part(own.temperature, "T"), part(own.penalty, "p"));
  }
  if (own !== null && own !== undefined) return any(own);
  const acts = [];
  for (const item of D.eval.items) {
    const ep = item.eps[m.name];
    if (ep) for (const r of ep.rounds) for (const e of r.executors) if (isNum(e.T)) acts.push([e.T, e.p]);
  }
  if (!acts.length) return "–";
  const part = (k, label) => {
    const xs = acts.map(a => a[k]).filter(isNum);
    return range(label, mean(xs), Math.min(...xs), Math.max(...xs));
  };
  return both(part(0, "T"), part(1, "p"));
}

function voted(m) {
  // a baseline: its rounds end in a majority vote, so JSON and fallback rates do not apply
  const item = D.eval.items.find(it => it.eps[m.name] && it.eps[m.name].rounds.length);
  return Boolean(item) && item.eps[m.name].rounds[0].source === "majority";
}

function pairedText(m) {
  // results.json's vs_econ when the run wrote it, else the same statistics computed from the problems
  // both methods answered: paired accuracy difference, bootstrap interval, McNemar p
  const own = m.columns.paired;
  const paired = own && typeof own.difference === "number" ? own : m.paired;
  if (paired && typeof paired.difference === "number" && Array.isArray(paired.ci95)) {
    const pp = x => `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(1)}`;
    return el("span", {}, `${pp(paired.difference)} pp [${pp(paired.ci95[0])}, ${pp(paired.ci95[1])}]`,
      el("span", { class: "sub", text: `McNemar p=${Number(paired.mcnemar_p).toPrecision(2)}` }));
  }
  return own !== null && own !== undefined ? any(own) : "–";
}

const COLUMNS = [
  ["n", "n", m => round0(m.columns.n)],
  ["accuracy", "accuracy\n95% CI", m => {
    const ci = m.columns.accuracy_ci95;
    return el("span", {}, pct(m.columns.accuracy),
      Array.isArray(ci) ? el("span", { class: "sub", text: `[${pct(ci[0])}, ${pct(ci[1])}]` }) : null);
  }],
  ["paired", "vs econ", pairedText, m => m.paired || m.columns.paired],
  ["parse_rate", "parse", m => pct(m.columns.parse_rate)],
  ["commitment_json_rate", "JSON", m => voted(m) ? "vote" : pct(m.columns.commitment_json_rate)],
  ["commitment_fallback_rate", "fallback", m => voted(m) ? "vote" : pct(m.columns.commitment_fallback_rate)],
  ["strategy_leak_rate", "leak", m => pct(m.columns.strategy_leak_rate)],
  ["mean_rounds", "rounds", m => fixed(m.columns.mean_rounds)],
  ["converged_rate", "converged", m => pct(m.columns.converged_rate)],
  ["stop_reasons", "stop reasons", m => {
    // one reason per line, so the column stays narrow enough for the table to fit the page
    const reasons = m.columns.stop_reasons;
    if (!reasons || typeof reasons !== "object") return any(reasons);
    return el("span", {}, ...Object.entries(reasons).map(([why, n]) => el("span", { class: "line", text: `${why} ${n}` })));
  }],
  ["best_response_gap", "BR gap ε", m => any(m.columns.best_response_gap)],
  ["sampling", "T, p\nmean [range]", samplingText, () => true],
  ["tokens_per_problem", "tokens / problem", m => el("span", {}, round0(m.columns.tokens_per_problem),
    isNum(m.columns.prompt_tokens) ? el("span", { class: "sub",
      text: `${round0(m.columns.prompt_tokens)} + ${round0(m.columns.completion_tokens)}` }) : null)],
  ["llm_calls_per_problem", "calls / problem", m => fixed(m.columns.llm_calls_per_problem)],
  ["cache_hits", "cache hits", m => round0(m.columns.cache_hits)],
  ["wall_s", "wall s", m => fixed(m.columns.wall_s, 1)],
  ["cost_usd", "cost $", m => isNum(m.columns.cost_usd) ? "$" + m.columns.cost_usd.toFixed(4) : any(m.columns.cost_usd)],
  ["other", "other fields", m => Object.keys(m.other).length ? any(m.other) : "–", m => Object.keys(m.other).length],
];

const HINTS = {
  paired: "accuracy minus econ's on the same problems, 95% paired-bootstrap interval, exact McNemar p",
  parse_rate: "share of executor answers from which an answer could be extracted",
  commitment_json_rate: "share of commitments the coordinator wrote as valid JSON",
  commitment_fallback_rate: "share of commitments that fell back to the executors' majority",
  strategy_leak_rate: "share of strategies that state the answer",
  best_response_gap: "ε-best-response gap of the final round (from each executor's critic)",
  sampling: "executors' sampling actions: temperature T and repetition-penalty strength p",
};

function resultsTable() {
  // a column is shown when some method has it: older runs lack the newer fields
  const has = (key, test) => D.methods.some(m => test ? test(m) : m.columns[key] !== null && m.columns[key] !== undefined);
  const shown = COLUMNS.filter(([key, , , test]) => has(key, test));
  const head = el("tr", {}, el("th", { text: "method" }), shown.map(([key, label]) => el("th", { text: label, title: HINTS[key] })));
  const rows = D.methods.map(m => el("tr", { data: { method: m.name } },
    el("td", {}, el("span", { class: "legend" }, el("span", {}, el("i", { style: `background:${colorOf(m.name)}` }),
      el("b", { text: m.label }))),
      el("span", { class: "sub", text: [m.budget, D.mode === "compare" ? `run ${m.run}` : null,
        m.from_traces ? "summarised from traces.jsonl (not in results.json)" : null].filter(Boolean).join(" · ") })),
    shown.map(([, , cell]) => el("td", {}, cell(m)))));
  return el("div", { class: "scroll-x" }, el("table", { class: "results", id: "results" }, el("thead", {}, head),
    el("tbody", {}, rows)));
}

function runsInfo() {
  return el("div", { class: "runs-info" }, D.runs.map(run => {
    const usage = run.usage ? `calls ${run.usage.calls} (${run.usage.cache_hits} from cache) · tokens ` +
      `${round0(run.usage.prompt_tokens)} + ${round0(run.usage.completion_tokens)} · retries ${run.usage.retries}` +
      ` · failures ${run.usage.failures}` : "no usage recorded";
    const facts = [run.split && `split ${run.split}`, run.dataset && `dataset ${run.dataset}`,
      run.model && `model ${run.model}`, run.baseline && `baseline ${any(run.baseline)}`,
      isNum(run.train_episodes) && `policy trained ${run.train_episodes} episodes`,
      run.alpha && `α ${any(run.alpha)}`].filter(Boolean);
    return el("details", { class: "run" }, el("summary", { text: `${run.name}: config and usage` }),
      el("div", { class: "small" }, facts.join(" · ")), el("div", { class: "small muted", text: usage }),
      el("pre", { text: run.config_text || "(no config_resolved.yaml)" }));
  }));
}

// ---------------------------------------------------------------- plots

function evalPlots() {
  const methods = D.eval.methods;
  const epsOf = m => D.eval.items.map(item => item.eps[m]).filter(Boolean);
  const maxRounds = Math.max(1, ...methods.flatMap(m => epsOf(m).map(ep => ep.rounds.length)));
  const byRound = methods.map(m => {
    const eps = epsOf(m);
    const points = [];
    for (let r = 0; r < maxRounds && eps.length; r++) {
      // a problem that stopped early keeps its last commitment for the later rounds
      const right = eps.map(ep => ep.rounds.length ? ep.rounds[Math.min(r, ep.rounds.length - 1)].commitment_correct
        : ep.correct);
      points.push([r, mean(right.map(Number))]);
    }
    const played = Math.max(1, ...eps.map(ep => ep.rounds.length));
    return { name: m, color: colorOf(m), points, solidUntil: played };
  });
  const actions = k => methods.map(m => ({ name: m, color: colorOf(m),
    values: epsOf(m).flatMap(ep => ep.rounds.flatMap(r => r.executors.map(e => k ? e.p : e.T))).filter(isNum) }));
  const tokens = methods.map(m => ({ name: m, color: colorOf(m),
    values: epsOf(m).map(ep => ep.tokens[0] + ep.tokens[1]) }));
  return el("div", { class: "plots", id: "plots" },
    linePlot("Accuracy by round", byRound, {
      yrange: [0, 1], yfmt: v => Math.round(v * 100) + "%", xlabel: "round",
      xticks: [...Array(maxRounds).keys()], xrange: maxRounds > 1 ? [0, maxRounds - 1] : [-0.5, 0.5],
      note: "the commitment's (a baseline's vote's) accuracy; dashed: carried forward from a problem's last round" }),
    histogram("Temperature T of every executor call", actions(0), { xlabel: "T" }),
    histogram("Penalty p of every executor call", actions(1), { xlabel: "p", note: "p: repetition-penalty strength in [0, 1]" }),
    histogram("Tokens per problem", tokens, { xlabel: "prompt + completion tokens" }));
}

function trainPlots(train) {
  const curve = (metric, name, color) => ({ name: name || metric, color, points: train.curves[metric] || [] });
  const metrics = Object.keys(train.curves);
  const alpha = metrics.filter(m => m.startsWith("alpha/")).map((m, i) => curve(m, m.slice(6), PALETTE[i]));
  const rewards = metrics.filter(m => m.startsWith("train/reward")).map((m, i) => curve(m, m.slice(6), PALETTE[i + 1]));
  const correct = train.curves["train/correct"] || [];
  const rolling = correct.map((p, i) => [p[0], mean(correct.slice(Math.max(0, i - 9), i + 1).map(q => q[1]))]);
  const episodes = { xlabel: "episode", integer: true };
  const losses = metrics.filter(m => m.startsWith("loss/"));
  const lossPlot = (m, i) => linePlot(m, [curve(m, m.slice(5), PALETTE[(i + 3) % PALETTE.length])], episodes);
  const total = losses.includes("loss/loss") ? "loss/loss" : losses[0];
  const others = losses.filter(m => m !== total);
  // the total loss beside α; every term in a fold below, so the episode list stays in sight
  return el("div", { id: "train-plots" },
    el("div", { class: "plots" },
      linePlot("α (reward weights)", alpha, episodes),
      linePlot("Correct (mean of the last 10 episodes) and rewards",
        [{ name: "correct", color: PALETTE[0], points: rolling }, ...rewards], episodes),
      linePlot("Tokens per episode", [curve("train/tokens", "tokens", PALETTE[4])], episodes),
      total ? lossPlot(total, 0) : null),
    others.length ? el("details", { class: "more-plots" }, el("summary", { text: `the other ${others.length} loss terms` }),
      el("div", { class: "plots" }, others.map((m, i) => lossPlot(m, i + 1)))) : null);
}
