// One problem: its question, then per method the strategy, rounds of executors and commitments, calls.
"use strict";

function detail(item, ds) {
  return el("div", { class: "detail" },
    el("div", { class: "question-full" }, el("b", { text: "Question. " }), item.question || "(not recorded)",
      el("div", { class: "small" }, "gold: ", el("code", { text: item.gold }), " · id ", el("code", { text: item.problem_id }))),
    el("div", { class: "panels" }, ds.methods.filter(m => item.eps[m]).map(m => panel(item.eps[m]))));
}

function callTitle(ep, call) {
  const who = call.role === "executor" ? `executor #${call.agent}` : call.role;
  return `${methodInfo(ep.method).label} · ${who} · round ${call.round}` +
    (call.group !== null ? ` · group ${call.group}` : "") + (call.level !== null ? ` · level ${call.level}` : "");
}

function callSummary(ep, call) {
  // what the round made of this call: the executor's action and answer, or the commitment
  const record = ep.rounds.find(r => r.round === call.round);
  if (!record) return null;
  if (call.role === "executor") {
    const e = record.executors.find(x => x.agent === call.agent);
    return e ? `T ${fixed(e.T)} · p ${fixed(e.p)} · answer ${e.answer === null ? "(none extracted)" : e.answer}` +
      (e.answer === null ? "" : e.correct ? " (right)" : " (wrong)") : null;
  }
  return record.calls.includes(ep.calls.indexOf(call)) ? `round ${record.round} commitment ${record.commitment ?? "(none)"}` +
    ` (${record.source})` : null;
}

function showCall(ep, index) {
  const call = ep.calls[index];
  if (!call) return;
  const summary = callSummary(ep, call);
  replace(document.getElementById("dialog-body"),
    summary ? el("div", { class: "small", text: summary }) : null,
    el("div", { class: "small muted", text: `${call.tokens[0]} prompt + ${call.tokens[1]} completion tokens` +
      (call.cached ? " · served from the cache" : "") }),
    call.messages.map(([role, content]) => el("div", { class: "msg" }, el("div", { class: "role", text: role }),
      el("pre", { text: content }))),
    el("div", { class: "msg reply" }, el("div", { class: "role", text: "reply" }), el("pre", { id: "dialog-reply", text: call.text })));
  document.getElementById("dialog-title").textContent = callTitle(ep, call);
  document.getElementById("dialog").hidden = false;
  state.call = `${ep.method}:${index}`;  // in the address too, so a link opens this call
  writeHash();
}

function closeDialog() {
  document.getElementById("dialog").hidden = true;
  state.call = null;
  writeHash();
}

function executorChip(ep, e) {
  const action = isNum(e.T) ? `T ${fixed(e.T)} · p ${fixed(e.p)}` : "no action";
  const call = e.call !== null ? ep.calls[e.call] : null;
  const cls = e.answer === null ? "none" : e.correct ? "ok" : "bad";
  const extra = [isNum(e.br_gap) ? `ε ${+e.br_gap.toPrecision(3)}` : null, e.group !== null ? `group ${e.group}` : null,
    call && call.cached ? "cached" : null].filter(Boolean).join(" · ");
  return el("button", { type: "button", class: `chip ${cls}`, data: { agent: e.agent },
    title: call ? "show the full text" : "no call recorded",
    onclick: () => e.call !== null && showCall(ep, e.call) },
    el("span", { class: "ans" }, el("span", { class: "who", text: `#${e.agent} ` }),
      mark(e.answer === null ? null : e.correct, e.answer === null ? "∅ unparsable" : e.answer)),
    el("span", { class: "act", text: action }),
    el("span", { class: "tok", text: (call ? `${call.tokens[0]}+${call.tokens[1]} tok` : "") + (extra ? ` · ${extra}` : "") }));
}

function commitmentChip(ep, round) {
  const source = { json: "JSON", fallback: "fallback: majority", majority: "majority vote" }[round.source] || round.source;
  const calls = round.calls.map(i => ep.calls[i]);
  const tokens = calls.reduce((a, c) => [a[0] + c.tokens[0], a[1] + c.tokens[1]], [0, 0]);
  const top = round.commitment_call;
  const cls = round.commitment === null ? "none" : round.commitment_correct ? "ok" : "bad";
  return el("button", { type: "button", class: `chip commit ${cls}`, title: top !== null ? "show the commitment call" : "",
    onclick: () => top !== null && showCall(ep, top) },
    el("span", { class: "ans" }, el("span", { class: "who", text: "⇒ " }),
      mark(round.commitment === null ? null : round.commitment_correct, round.commitment === null ? "∅ none" : round.commitment)),
    el("span", { class: "act", text: source + (round.overruled ? ` · overruled majority ${round.majority}` : "") }),
    el("span", { class: "tok", text: calls.length ? `${tokens[0]}+${tokens[1]} tok` + (calls.length > 1 ? ` in ${calls.length} calls` : "") : "" }));
}

function roundView(ep, round) {
  const facts = [
    isNum(round.residual) ? `residual ${round.residual.toPrecision(3)}` : null,
    round.commitment_changed === true ? "commitment changed" : round.commitment_changed === false ? "commitment unchanged" : null,
    isNum(round.br_gap) ? `max BR gap ε ${round.br_gap.toPrecision(3)}` : null,
    round.stop_reason ? `stop: ${round.stop_reason}` : null,
    round.reward_terms ? `rewards ${any(round.reward_terms)}` : null,
  ].filter(Boolean);
  return el("div", { class: "round", data: { round: round.round } },
    el("div", { class: "round-head" }, el("b", { text: `round ${round.round}` }), facts.length ? " · " + facts.join(" · ") : ""),
    el("div", { class: "chips" }, round.executors.map(e => executorChip(ep, e)), commitmentChip(ep, round)),
    round.levels ? el("div", { class: "small muted", text: "commitments by tree level, local first: " +
      round.levels.map(level => level.map(a => a ?? "∅").join(", ")).join(" → ") }) : null);
}

function panel(ep) {
  const info = methodInfo(ep.method);
  const strategyCall = ep.calls.findIndex(c => c.role === "strategy");
  const meta = [
    `${ep.rounds.length} round${ep.rounds.length === 1 ? "" : "s"}`,
    ep.converged ? "converged" : null,
    ep.stop_reason ? `stop: ${ep.stop_reason}` : null,
    `${ep.llm_calls} calls (${ep.cache_hits} cached)`,
    `${round0(ep.tokens[0])}+${round0(ep.tokens[1])} tokens`,
    isNum(ep.wall_s) ? `${ep.wall_s.toFixed(2)} s` : null,
    isNum(ep.cost_usd) ? `$${ep.cost_usd.toFixed(4)}` : null,
  ].filter(Boolean);
  const rewards = Array.isArray(ep.reward_terms) && ep.reward_terms.length ? el("details", {},
    el("summary", { text: "reward terms at the final step" }),
    el("table", { class: "rewards" }, el("tr", {}, ["executor", "AL", "TS", "CC"].map(t => el("th", { text: t }))),
      ep.reward_terms.map((row, i) => el("tr", {}, el("td", { text: `#${i}` }), row.map(v => el("td", { text: fixed(v, 3) })))))) : null;
  const calls = el("details", {}, el("summary", { text: `all ${ep.calls.length} calls` }),
    el("table", { class: "calls" }, el("tr", {}, ["role", "round", "agent", "group", "level", "tokens", "cached"].map(t => el("th", { text: t }))),
      ep.calls.map((c, i) => el("tr", { onclick: () => showCall(ep, i) },
        el("td", { text: c.role }), el("td", { text: c.round }), el("td", { text: c.agent ?? "" }), el("td", { text: c.group ?? "" }),
        el("td", { text: c.level ?? "" }), el("td", { text: `${c.tokens[0]}+${c.tokens[1]}` }), el("td", { text: c.cached ? "yes" : "" })))));
  return el("section", { class: "panel", data: { method: ep.method } },
    el("div", { class: "panel-head" }, el("h3", { text: info.label }), "final ", mark(ep.correct, ep.final === null ? "∅" : ep.final),
      flagsOf(ep)),
    el("div", { class: "meta", text: meta.join(" · ") }),
    ep.strategy ? el("div", { class: "strategy", title: "show the strategy call", onclick: () => strategyCall >= 0 && showCall(ep, strategyCall) },
      el("b", { text: "Strategy: " }), ep.strategy, ep.flags.leak ? el("span", { class: "flag", text: "leaks the answer" }) : null) : null,
    ep.rounds.map(r => roundView(ep, r)),
    rewards, calls);
}
