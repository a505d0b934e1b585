"""Per-executor reward terms [AL, TS, CC]; their weights α are learned in econ/nn/reward_weights.py."""

from __future__ import annotations

import torch

from econ.data.answers import answers_match


def reward_terms(
    extracted: list[str | None],
    answer_embeddings: torch.Tensor,  # (N, E) embeddings of the executors' full answers
    commitment_answer: str | None,
    commitment_embedding: torch.Tensor,  # (E,)
    gold: str,
    dataset: str,
) -> torch.Tensor:
    """(N, 3) terms for r_i = α1·AL_i + α2·TS_i + α3·CC_i.

    AL_i  alignment: 1 if executor i's answer equals the commitment; when i's answer is
          unparsable, the cosine of its text with the commitment, clipped to [0, 1]; else 0.
    TS_i  task-specific: 1 if executor i's answer equals the gold answer, else 0.
    CC_i  collaborative contribution: +1 if i backed a correct commitment, −1 if it backed a
          wrong one, 0 if it did not back the commitment.
    """
    team_correct = answers_match(commitment_answer, gold, dataset)
    cosine = torch.nn.functional.cosine_similarity(answer_embeddings, commitment_embedding[None, :], dim=-1)
    terms = torch.zeros(len(extracted), 3)
    for i, answer in enumerate(extracted):
        agrees = commitment_answer is not None and answers_match(answer, commitment_answer, dataset)
        if agrees:
            terms[i, 0] = 1.0
        elif answer is None:
            terms[i, 0] = float(cosine[i].clamp(0.0, 1.0))
        terms[i, 1] = float(answers_match(answer, gold, dataset))
        terms[i, 2] = (1.0 if team_correct else -1.0) if agrees else 0.0
    return terms
