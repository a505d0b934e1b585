"""The hierarchical commitment of one BNE round: local coordinators, then merging coordinators, then one root.

Level 1: each group's local coordinator commits from its own executors' answers (the flat
commitment prompt over ≤ g answers, with the group's strategy). Levels 2, 3, ...: a coordinator
commits from at most max(g, 2) commitments of the level below, never from executors' answers;
the last level has one node, the global commitment. Every prompt therefore holds ≤ max(g, 2)
items of bounded length whatever N, and calls at one level run concurrently, so the critical path
grows with log_g(N) while the coordinator calls grow as O(N/g).
Every call is a commitment call: the caller's `call` asks each for the commitment schema as structured
output when agents.structured_commitment is on, and every reply is read with `prompts.parse_commitment`
(a JSON decoder); a reply without a JSON answer falls back to the majority of what that node read.

Design choices: each group's local coordinator also writes its own strategy (concurrently, one
seed per group), so groups can approach a problem differently; executors in later rounds see
the global commitment, not their group's, because it is the team's answer, the one the rewards
(alignment, contribution) score them against, and the only channel between groups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from econ.data.answers import majority_answer
from econ.game import prompts
from econ.game.prompts import Commitment
from econ.llm.base import Completion, Message
from econ.nn.groups import merge_fan_in, partition

# (messages, role, level, node index within its level) -> reply
CoordinatorCall = Callable[[list[Message], str, int, int], Awaitable[Completion]]


@dataclass(frozen=True)
class TreeCommitment:
    """The global commitment and the answers committed at every level (local first, [global] last)."""

    root: Commitment
    levels: list[list[str | None]]


def decide(reply: str, read_answers: list[str | None], dataset: str) -> Commitment:
    """The coordinator's JSON answer, or the majority of the answers it read when the reply has none."""
    answer, justification, json_ok = prompts.parse_commitment(reply)
    if not json_ok:
        return Commitment(majority_answer(read_answers, dataset), "", json_ok=False, fallback=True)
    return Commitment(answer, justification, json_ok=True, fallback=False)


def worst_case_prompts(
    question: str, group_size: int, strategy_tokens: int, answer_tokens: int, commitment_tokens: int
) -> list[list[Message]]:
    """The longest prompt of each kind a call can get, every item at its cap, written as one-letter words.

    Strategies, answers and commitments have at most the given lengths (their max_tokens) and no prompt
    holds more than max(g, 2) of them, so the token counts of these prompts bound every call's prompt by
    a function of g and those lengths, never of N (exactly so for word counts: one-letter words are the
    most words that survive the prompts' character clipping).
    """

    def words(count: int) -> str:
        return " ".join(["x"] * count)

    # an answer that is one long box: the commitment prompt shows its (clipped) content and its tail
    strategy, answer = words(strategy_tokens), "\\boxed{ " + words(max(answer_tokens - 2, 0)) + " }"
    commitment = Commitment("x", words(commitment_tokens), json_ok=True, fallback=False)
    return [
        prompts.strategy_messages(question),
        prompts.executor_messages(question, strategy, answer, "The answer is " + words(commitment_tokens)),
        prompts.commitment_messages(question, strategy, [answer] * group_size),
        prompts.merge_commitment_messages(question, [commitment] * merge_fan_in(group_size)),
    ]


async def commit_tree(
    question: str,
    dataset: str,
    strategies: list[str],  # one per group
    groups: list[list[int]],
    texts: list[str],  # (N,) executors' full answers
    extracted: list[str | None],  # (N,) their extracted answers
    group_size: int,
    call: CoordinatorCall,
) -> TreeCommitment:
    """Local commitments per group, then merges of ≤ max(g, 2) commitments per call until one remains."""
    replies = await asyncio.gather(
        *(
            call(
                prompts.commitment_messages(question, strategies[k], [texts[i] for i in members]),
                "local_commitment",
                1,
                k,
            )
            for k, members in enumerate(groups)
        )
    )
    nodes = [decide(reply.text, [extracted[i] for i in members], dataset) for reply, members in zip(replies, groups)]
    levels = [[node.answer for node in nodes]]
    while len(nodes) > 1:
        parents = partition(len(nodes), merge_fan_in(group_size))
        role = "commitment" if len(parents) == 1 else "merge_commitment"
        level = len(levels) + 1
        replies = await asyncio.gather(
            *(
                call(prompts.merge_commitment_messages(question, [nodes[j] for j in children]), role, level, p)
                for p, children in enumerate(parents)
            )
        )
        nodes = [
            decide(reply.text, [nodes[j].answer for j in children], dataset)
            for reply, children in zip(replies, parents)
        ]
        levels.append([node.answer for node in nodes])
    return TreeCommitment(nodes[0], levels)
