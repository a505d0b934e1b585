"""Per-executor reward terms [AL, TS, CC]; their weights α are learned in econ/nn/reward_weights.py."""

from __future__ import annotations

import torch

from econ.data.answers import answers_match

UNPARSABLE = -1.0  # every term's value for an answer with nothing to extract: the floor of each term


def reward_terms(extracted: list[str | None], commitment_answer: str | None, gold: str, dataset: str) -> torch.Tensor:
    """(N, 3) terms for r_i = α1·AL_i + α2·TS_i + α3·CC_i, from the executors' extracted answers.

    AL_i  alignment: 1 if executor i's answer equals the commitment, else 0.
    TS_i  task-specific: 1 if executor i's answer equals the gold answer, else 0.
    CC_i  collaborative contribution: +1 if i backed a correct commitment, −1 if it backed a
          wrong one, 0 if it did not back the commitment.

    Unparsable answers (None or blank): −1 on every term. So on AL and TS an unparsable answer scores
    strictly below every parsable one, wrong ones included, and on CC strictly below every parsable
    answer but one that backed a wrong commitment, which it ties (−1): CC cannot separate an answer
    that misled the team from one that said nothing. Text that cannot be read is never rewarded for
    resembling the commitment, so sampling that produces it (e.g. a very high T) never pays.
    """
    team_correct = answers_match(commitment_answer, gold, dataset)
    terms = torch.zeros(len(extracted), 3)
    for i, answer in enumerate(extracted):
        if answer is None or not answer.strip():
            terms[i] = UNPARSABLE
            continue
        agrees = commitment_answer is not None and answers_match(answer, commitment_answer, dataset)
        terms[i, 0] = float(agrees)
        terms[i, 1] = float(answers_match(answer, gold, dataset))
        terms[i, 2] = (1.0 if team_correct else -1.0) if agrees else 0.0
    return terms
