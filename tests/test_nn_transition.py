import io

import pytest
import torch

from econ.nn import Transition, TransitionBatch, collate


def make_transition(n_agents: int = 3, embed_dim: int = 8) -> Transition:
    return Transition(
        obs=torch.randn(n_agents, 5, embed_dim),
        flags=torch.ones(n_agents, 3),
        action=torch.rand(n_agents, 2),
        reward_terms=torch.rand(n_agents, 3),
        commitment=torch.randn(embed_dim),
        team_correct=torch.tensor(1.0),
        next_obs=torch.randn(n_agents, 5, embed_dim),
        next_flags=torch.ones(n_agents, 3),
        done=torch.tensor(1.0),
    )


def test_collate_stacks_transitions_along_a_batch_dimension():
    batch = collate([make_transition() for _ in range(5)])
    assert len(batch) == 5
    assert batch.obs.shape == (5, 3, 5, 8)
    assert batch.flags.shape == (5, 3, 3)
    assert batch.action.shape == (5, 3, 2)
    assert batch.reward_terms.shape == (5, 3, 3)
    assert batch.commitment.shape == (5, 8)
    assert batch.team_correct.shape == batch.done.shape == (5,)


def test_collate_names_the_field_whose_shapes_differ():
    with pytest.raises(ValueError, match="'obs'"):
        collate([make_transition(3), make_transition(5)])


def test_transitions_and_batches_survive_a_checkpoint_round_trip():
    transition = make_transition()
    batch = collate([make_transition(), make_transition()])
    buffer = io.BytesIO()
    torch.save({"t": transition.to_dict(), "b": batch.to_dict()}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    restored, restored_batch = Transition.from_dict(loaded["t"]), TransitionBatch.from_dict(loaded["b"])
    for name, value in transition.to_dict().items():
        assert torch.equal(getattr(restored, name), value)
    for name, value in batch.to_dict().items():
        assert torch.equal(getattr(restored_batch, name), value)
