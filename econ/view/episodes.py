"""One trace line (an episode) as the page shows it: rounds of executors, commitments, calls and flags.

The shape (all keys always present; null where a run did not record it):

    {"method", "problem_id", "episode", "question", "gold", "strategy", "final", "correct", "converged",
     "stop_reason", "reward_terms", "tokens": [prompt, completion], "llm_calls", "cache_hits", "wall_s",
     "cost_usd", "flags": {"correct", "wrong", "changed", "overruled", "unparsable", "leak"},
     "rounds": [{"round", "residual", "commitment_changed", "stop_reason", "reward_terms",
                 "executors": [{"agent", "T", "p", "answer", "correct", "br_gap", "belief_norm", "group",
                                "call"}],
                 "commitment", "commitment_correct", "source": "json"|"fallback"|"majority",
                 "majority", "overruled", "levels", "br_gap", "calls": [coordinator call index, ...],
                 "commitment_call": index of the call that made the commitment}],
     "calls": [{"role", "round", "agent", "group", "level", "messages": [[role, content]], "text",
                "tokens": [prompt, completion], "cached"}]}

"call" of an executor is the index in "calls" of the call that produced its answer.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from econ.data.answers import KINDS, answers_match
from econ.view import fields as F

_PROBLEM = re.compile(r"<problem>\n?(.*?)\n?</problem>", re.DOTALL)
COORDINATOR_ROLES = ("commitment", "merge_commitment", "local_commitment")


class AnswerChecker:
    """answers_match for one dataset kind, memoised; plain string equality for a kind econ does not know."""

    def __init__(self, kind: str):
        self.kind = kind if kind in KINDS else None
        self._same = lru_cache(maxsize=65536)(self._compare)

    def _compare(self, pred: str, gold: str) -> bool:
        if self.kind is None:
            return pred.strip() == gold.strip()
        return answers_match(pred, gold, self.kind)

    def same(self, pred: str | None, gold: str | None) -> bool:
        if pred is None or gold is None or not str(pred).strip() or not str(gold).strip():
            return False
        return self._same(str(pred), str(gold))


def question_of(calls: list[dict[str, Any]]) -> str | None:
    """The problem text, read from the <problem> fence of the first prompt (of _call_view calls) that has one."""
    for call in calls:
        for _, content in call["messages"]:
            found = _PROBLEM.search(content)
            if found:
                return found.group(1)
    return None


def strict_majority(answers: list[str | None], check: AnswerChecker) -> str | None:
    """The answer held by more than half of all executors (equivalent answers pooled), else None."""
    for candidate in answers:
        if candidate is not None and sum(check.same(a, candidate) for a in answers) * 2 > len(answers):
            return candidate
    return None


def _call_view(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": F.pick(call, F.CALL_ROLE, "?"),
        "round": F.pick(call, F.CALL_ROUND),
        "agent": F.pick(call, F.CALL_AGENT),
        "group": F.pick(call, F.CALL_GROUP),
        "level": F.pick(call, F.CALL_LEVEL),
        "messages": [[str(m.get("role", "")), str(m.get("content", ""))] for m in F.pick(call, F.CALL_MESSAGES, [])],
        "text": F.pick(call, F.CALL_TEXT, ""),
        "tokens": [F.pick(call, F.CALL_PROMPT_TOKENS, 0), F.pick(call, F.CALL_COMPLETION_TOKENS, 0)],
        "cached": bool(F.pick(call, F.CALL_CACHED, False)),
    }


def _per_executor(value: Any, n: int) -> list[Any]:
    """A per-executor list from a list (padded with None) or one number (shown on no executor)."""
    if isinstance(value, list):
        return [value[i] if i < len(value) else None for i in range(n)]
    return [None] * n


def _round_view(
    record: dict[str, Any], gold: str, check: AnswerChecker, calls: list[dict[str, Any]], voted: bool
) -> dict[str, Any]:
    index = F.pick(record, F.ROUND_INDEX, 0)
    answers = list(F.pick(record, F.ANSWERS, []))
    actions = list(F.pick(record, F.ACTIONS, []))
    n = max(len(answers), len(actions))
    norms = _per_executor(F.pick(record, F.BELIEF_NORMS), n)
    groups = _per_executor(F.pick(record, F.GROUPS), n)
    gap = F.pick(record, F.BEST_RESPONSE_GAP)
    gaps = _per_executor(gap, n)
    executor_call = {(c["round"], c["agent"]): i for i, c in enumerate(calls) if c["role"] == "executor"}
    executors = []
    for i in range(n):
        action = actions[i] if i < len(actions) and isinstance(actions[i], list) else [None, None]
        answer = answers[i] if i < len(answers) else None
        executors.append(
            {
                "agent": i,
                "T": action[0] if action else None,
                "p": action[1] if len(action) > 1 else None,
                "answer": answer,
                "correct": check.same(answer, gold),
                "br_gap": gaps[i],
                "belief_norm": norms[i],
                "group": groups[i],
                "call": executor_call.get((index, i)),
            }
        )
    coordinator = [i for i, c in enumerate(calls) if c["round"] == index and c["role"] in COORDINATOR_ROLES]
    commitment = F.pick(record, F.COMMITMENT)
    majority = strict_majority(answers, check)
    if voted:
        source = "majority"
    elif F.pick(record, F.COMMITMENT_JSON_OK, False):
        source = "json"
    else:
        source = "fallback"
    return {
        "round": index,
        "residual": F.pick(record, F.RESIDUAL),
        "commitment_changed": F.pick(record, F.COMMITMENT_CHANGED),
        "stop_reason": F.pick(record, F.ROUND_STOP_REASON),
        "reward_terms": F.pick(record, F.ROUND_REWARD_TERMS),
        "executors": executors,
        "commitment": commitment,
        "commitment_correct": check.same(commitment, gold),
        "source": source,
        "majority": majority,
        "overruled": majority is not None and commitment is not None and not check.same(commitment, majority),
        "levels": F.pick(record, F.COMMITMENT_LEVELS),
        "br_gap": gap if not isinstance(gap, list) else (max((g for g in gap if g is not None), default=None)),
        "calls": coordinator,
        "commitment_call": _root_call(coordinator, calls),
    }


def _root_call(indices: list[int], calls: list[dict[str, Any]]) -> int | None:
    """The call that made the round's commitment: the flat "commitment", else the highest tree level's."""
    if not indices:
        return None
    return max(indices, key=lambda i: (calls[i]["role"] == "commitment", calls[i]["level"] or 0, i))


def episode_view(line: dict[str, Any], check: AnswerChecker) -> dict[str, Any]:
    """The page's record of one trace line (see the module docstring); tolerant of absent fields."""
    calls = [_call_view(c) for c in F.pick(line, F.CALLS, [])]
    gold = str(F.pick(line, F.GOLD, ""))
    # baselines (single, self-consistency, MAD) have no coordinator: each round ends in a majority vote
    voted = bool(calls) and not any(c["role"] in COORDINATOR_ROLES for c in calls)
    rounds = [_round_view(r, gold, check, calls, voted) for r in F.pick(line, F.ROUNDS, [])]
    final = F.pick(line, F.FINAL_ANSWER)
    correct = bool(F.pick(line, F.CORRECT, False))
    first = rounds[0]["commitment"] if rounds else None
    stop = F.pick(line, F.EPISODE_STOP_REASON)
    if stop is None:
        stop = next((r["stop_reason"] for r in reversed(rounds) if r["stop_reason"]), None)
    return {
        "method": F.pick(line, F.METHOD, "?"),
        "problem_id": str(F.pick(line, F.PROBLEM_ID, "?")),
        "episode": F.pick(line, F.EPISODE),
        "question": question_of(calls),
        "gold": gold,
        "strategy": F.pick(line, F.STRATEGY, ""),
        "final": final,
        "correct": correct,
        "converged": bool(F.pick(line, F.CONVERGED, False)),
        "stop_reason": stop,
        "reward_terms": F.pick(line, F.EPISODE_REWARD_TERMS),
        "tokens": [F.pick(line, F.PROMPT_TOKENS, 0), F.pick(line, F.COMPLETION_TOKENS, 0)],
        "llm_calls": F.pick(line, F.LLM_CALLS, len(calls)),
        "cache_hits": F.pick(line, F.CACHE_HITS, 0),
        "wall_s": F.pick(line, F.WALL_S),
        "cost_usd": F.pick(line, F.COST_USD),
        "flags": {
            "correct": correct,
            "wrong": not correct,
            # round 0's commitment is what the team would have said without the later BNE rounds
            "changed": len(rounds) > 1 and (first, final) != (None, None) and not check.same(first, final),
            "overruled": any(r["overruled"] for r in rounds),
            "unparsable": final is None or any(e["answer"] is None for r in rounds for e in r["executors"]),
            "leak": bool(F.pick(line, F.STRATEGY_LEAK, False)),
        },
        "rounds": rounds,
        "calls": calls,
    }
