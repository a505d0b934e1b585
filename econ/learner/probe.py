"""What the critic says of the policy, and what an update did to the policy's action: read, never trained.

The policy μ ascends Q_tot(b, μ(b)) through the mixer one small step at a time (econ/nn/losses.py),
while the critic-side losses move the belief body that μ reads. On the beliefs of the replay buffer:

- `probe`: the policy's mean action, the critic's best response (argmax of Q_i over the action grid
  the best-response gap ε uses) and ε, Q_i along T and along p around the policy's action, which way
  the policy loss moves the action (−Q_tot's and λ_sd·L_sd's descent direction in u, and the share of
  executor-rounds it raises T or p for), and the range of the buffer's played actions;
- `update_moves`: how far one update moved the mean action, split into the policy head's step (new
  head, old body) and the belief body's step (old head, new body).

The learner logs both at every update (`probe/*` metrics); experiments/critic_probe.py reads a
checkpoint with them. No randomness is drawn and no parameter's gradient is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import functional_call

from econ.nn import Networks
from econ.nn.belief import BEST_RESPONSE_GRID, BeliefNetwork
from econ.nn.losses import frozen_call, similarity_diff_loss
from econ.nn.transition import TransitionBatch

PROFILE_POINTS = 5  # points of the Q_i profiles along T and along p
GRID_CHUNK = 256  # (transition, executor) pairs whose action grid the critic scores at once
HEAD = "action_head."  # the policy head's parameters in a BeliefNetwork state dict


@dataclass(frozen=True)
class Probe:
    """The critic's view of the policy over every (transition, executor) of a batch; T, p in sampling units."""

    pairs: int
    policy_T: float
    policy_p: float
    best_response_T: float
    best_response_p: float
    best_response_gap: float  # mean of max_u Q_i(b, u) − Q_i(b, μ(b))
    q_along_T: list[tuple[float, float]]  # (T, mean Q_i) with p at the policy's
    q_along_p: list[tuple[float, float]]  # (p, mean Q_i) with T at the policy's
    ascent_T: float  # mean descent direction of −Q_tot in u_T (> 0: the policy loss raises T)
    ascent_p: float
    raises_T: float  # share of pairs for which it raises T
    raises_p: float
    sd_T: float  # the same for λ_sd·L_sd
    sd_p: float
    buffer_T: tuple[float, float, float, float]  # mean, std, min, max of the batch's played T
    buffer_p: tuple[float, float, float, float]


@dataclass(frozen=True)
class UpdateMoves:
    """How one update moved the mean action on a batch's beliefs, in sampling units."""

    dT_policy_step: float  # new policy head on the old belief body
    dp_policy_step: float
    dT_belief_step: float  # old policy head on the new belief body
    dp_belief_step: float


def _summary(values: Tensor) -> tuple[float, float, float, float]:
    return (values.mean().item(), values.std().item(), values.min().item(), values.max().item())


def probe(nets: Networks, batch: TransitionBatch, lambda_sd: float, points: int = BEST_RESPONSE_GRID) -> Probe:
    """Read the critic around the policy's actions on the batch's beliefs (nets in eval mode)."""
    belief_net = nets.belief
    with torch.no_grad():
        belief = belief_net(batch.obs, batch.flags)  # (B, N, belief_dim)
        u = belief_net.action_mean(belief)  # (B, N, 2)
    with torch.enable_grad():
        u_live = u.clone().requires_grad_(True)
        q_i = frozen_call(belief_net.critic, belief, u_live)
        q_tot = frozen_call(nets.mixer, q_i, frozen_call(nets.encoder, belief), belief)
        ascent = torch.autograd.grad(q_tot.mean(), u_live)[0]
        commitment = nets.mixer.project_commitment(batch.commitment).detach()
        sd = lambda_sd * similarity_diff_loss(frozen_call(nets.mixer.action_features, u_live), commitment)
        sd_descent = -torch.autograd.grad(sd, u_live)[0]

    with torch.no_grad():
        axis = torch.linspace(0.0, 1.0, points)
        grid = torch.cartesian_prod(axis, axis)  # (G, 2)
        b, n, dim = belief.shape
        flat = belief.reshape(b * n, dim)
        best_q, best_index = [], []
        for chunk in flat.split(GRID_CHUNK):  # bounded memory: chunk × G critic rows at a time
            q_grid = belief_net.critic(chunk.unsqueeze(1).expand(-1, len(grid), dim), grid.expand(len(chunk), -1, 2))
            top = q_grid.max(dim=-1)
            best_q.append(top.values)
            best_index.append(top.indices)
        best = grid[torch.cat(best_index)].reshape(b, n, 2)
        gap = torch.cat(best_q).reshape(b, n) - belief_net.q_value(belief, u)

        def along(column: int) -> list[tuple[float, float]]:
            out = []
            for x in torch.linspace(0.0, 1.0, PROFILE_POINTS):
                moved = u.clone()
                moved[..., column] = x
                value = belief_net.scale_action(moved)[..., column].mean().item()
                out.append((value, belief_net.q_value(belief, moved).mean().item()))
            return out

        policy, best_action = belief_net.scale_action(u), belief_net.scale_action(best)
        played = belief_net.scale_action(batch.action)
        return Probe(
            pairs=b * n,
            policy_T=policy[..., 0].mean().item(),
            policy_p=policy[..., 1].mean().item(),
            best_response_T=best_action[..., 0].mean().item(),
            best_response_p=best_action[..., 1].mean().item(),
            best_response_gap=gap.clamp(min=0.0).mean().item(),
            q_along_T=along(0),
            q_along_p=along(1),
            ascent_T=ascent[..., 0].mean().item(),
            ascent_p=ascent[..., 1].mean().item(),
            raises_T=(ascent[..., 0] > 0).float().mean().item(),
            raises_p=(ascent[..., 1] > 0).float().mean().item(),
            sd_T=sd_descent[..., 0].mean().item(),
            sd_p=sd_descent[..., 1].mean().item(),
            buffer_T=_summary(played[..., 0]),
            buffer_p=_summary(played[..., 1]),
        )


def belief_state(belief_net: BeliefNetwork) -> dict[str, Tensor]:
    """A copy of the belief network's parameters and buffers, to compare an update against."""
    return {name: value.detach().clone() for name, value in belief_net.state_dict().items()}


def _mean_action(belief_net: BeliefNetwork, body: dict[str, Tensor], head: dict[str, Tensor], batch) -> Tensor:
    """Mean μ in sampling units with the body's parameters from `body` and the policy head's from `head`."""
    params = {**{k: v for k, v in body.items() if not k.startswith(HEAD)}, **head}
    belief = functional_call(belief_net, params, (batch.obs, batch.flags))
    u = torch.sigmoid(torch.nn.functional.linear(belief, params[HEAD + "weight"], params[HEAD + "bias"]))
    return belief_net.scale_action(u).mean(dim=(0, 1))


def update_moves(belief_net: BeliefNetwork, before: dict[str, Tensor], batch: TransitionBatch) -> UpdateMoves:
    """How the update since `before` moved the mean action, by the policy head's step and the body's step."""
    after = belief_state(belief_net)
    head_before = {k: v for k, v in before.items() if k.startswith(HEAD)}
    head_after = {k: v for k, v in after.items() if k.startswith(HEAD)}
    was_training = belief_net.training
    belief_net.eval()
    try:
        with torch.no_grad():
            start = _mean_action(belief_net, before, head_before, batch)
            policy_step = _mean_action(belief_net, before, head_after, batch) - start
            belief_step = _mean_action(belief_net, after, head_before, batch) - start
    finally:
        belief_net.train(was_training)
    return UpdateMoves(
        dT_policy_step=policy_step[0].item(),
        dp_policy_step=policy_step[1].item(),
        dT_belief_step=belief_step[0].item(),
        dp_belief_step=belief_step[1].item(),
    )


def update_metrics(view: Probe, moves: UpdateMoves) -> dict[str, float]:
    """The `probe/*` metrics the learner logs at each update: the critic's view before it, and its moves."""
    scalars = {
        "policy_T": view.policy_T,
        "policy_p": view.policy_p,
        "best_response_T": view.best_response_T,
        "best_response_p": view.best_response_p,
        "best_response_gap": view.best_response_gap,
        "raises_T": view.raises_T,
        "raises_p": view.raises_p,
        "buffer_T_std": view.buffer_T[1],
        **{name: getattr(moves, name) for name in UpdateMoves.__dataclass_fields__},
    }
    return {f"probe/{name}": value for name, value in scalars.items()}
