"""What an executor's belief network observes in one BNE round: text-embedding fields and game flags.

Fields (each an embedding of dimension E; all-zero = absent, masked in the network):

    question          the problem
    strategy          the coordinator's strategy (its group's, in the hierarchical game)
    own_answer        the executor's previous answer, full text          (absent in round 0)
    own_final_answer  "The answer is X." for its previous extracted answer (absent in round 0 or unparsable)
    commitment        "The answer is X." for the previous commitment     (absent in round 0)

own_final_answer and commitment embed the decision alone, not its wording: a reworded answer
or justification leaves them unchanged, a changed answer changes them. own_answer is the full
text, so rewording moves it.

Flags (0/1, all zero in round 0): answered (a previous answer exists), parsed (an answer could
be extracted from it), agrees (it equals the previous commitment).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

TEXT_FIELDS = ("question", "strategy", "own_answer", "own_final_answer", "commitment")
FLAGS = ("answered", "parsed", "agrees")


def answer_sentence(answer: str | None) -> str | None:
    """The text embedded for an answer decision: the decision only, so rewording does not move it."""
    return None if answer is None else f"The answer is {answer}."


@dataclass
class Observation:
    """One round's observations of N executors."""

    fields: Tensor  # (N, len(TEXT_FIELDS), E)
    flags: Tensor  # (N, len(FLAGS))

    @classmethod
    def first_round(cls, question: Tensor, strategies: Tensor) -> Observation:
        """Round 0: the question (E,) and each executor's strategy (N, E); no answer, no commitment."""
        n, dim = strategies.shape
        fields = torch.zeros(n, len(TEXT_FIELDS), dim)
        fields[:, 0] = question
        fields[:, 1] = strategies
        return cls(fields, torch.zeros(n, len(FLAGS)))

    def after_round(
        self,
        answers: Tensor,
        final_answers: Tensor,
        parsed: list[bool],
        commitment: Tensor | None,
        agrees: list[bool],
    ) -> Observation:
        """The next round's observation: this one's question and strategy with a round's outcome.

        answers (N, E) full texts, final_answers (N, E) answer sentences (rows of unparsable
        answers are ignored), commitment (E,) or None when the round produced no answer at all.
        """
        fields = self.fields.clone()
        fields[:, 2] = answers
        fields[:, 3] = final_answers * torch.tensor(parsed, dtype=fields.dtype)[:, None]
        fields[:, 4] = 0.0 if commitment is None else commitment
        flags = torch.tensor([[1.0, float(p), float(a)] for p, a in zip(parsed, agrees, strict=True)])
        return Observation(fields, flags)
