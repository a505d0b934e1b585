"""What the critic says of the policy, and what an update did to the policy's action: read, never trained.

The policy μ ascends Q_tot(b, μ(b)) through the mixer one small step at a time (econ/nn/losses.py),
while the critic-side losses move the belief body that μ reads. On the beliefs of the replay buffer:

- `probe`: the policy's mean action, the critic's best response (argmax of Q_i over the action grid
  the best-response gap ε uses) and ε, Q_i along T and along p around the policy's action, the
  gradients the policy loss follows (∂Q_tot/∂u and −∂(λ_sd·L_sd)/∂u per executor-round, their mean
  and the share of executor-rounds whose ∂Q_tot/∂u favours a higher T or p), and the range of the
  buffer's played actions;
- `update_moves`: how far one update moved the mean action, split into the policy head's step (new
  head, old body) and the belief body's step (old head, new body).

The learner logs a summary of both at every update (`probe/*` metrics); experiments/critic_probe.py
reads a checkpoint with the whole probe. Both run in eval mode (the caller's mode is restored): no
randomness is drawn and no parameter's gradient is touched, so training is the same with or without.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

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
    """The critic's view of the policy over every (transition, executor) of a batch.

    Actions (policy, best response, profiles, buffer) are in sampling units T and p; the gradients
    (`dq_*`, `dsd_*`) are per executor-round, with respect to the normalised action u.
    """

    pairs: int
    policy_T: float
    policy_p: float
    best_response_T: float
    best_response_p: float
    best_response_gap: float  # mean of max_u Q_i(b, u) − Q_i(b, μ(b))
    q_along_T: list[tuple[float, float]]  # (T, mean Q_i) with p at the policy's
    q_along_p: list[tuple[float, float]]  # (p, mean Q_i) with T at the policy's
    dq_T: float  # mean ∂Q_tot/∂u_T (> 0: the policy loss's −Q_tot term favours a higher T)
    dq_p: float
    raises_T: float  # share of pairs whose ∂Q_tot/∂u_T > 0
    raises_p: float
    dsd_T: float  # mean −∂(λ_sd·L_sd)/∂u_T, the similarity term's pull
    dsd_p: float
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
    return (values.mean().item(), values.std(correction=0).item(), values.min().item(), values.max().item())


@contextmanager
def _evaluating(module: torch.nn.Module) -> Iterator[None]:
    """The module in eval mode (no dropout, so no randomness drawn), its own mode restored after."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def probe(nets: Networks, batch: TransitionBatch, lambda_sd: float, points: int = BEST_RESPONSE_GRID) -> Probe:
    """Read the critic around the policy's actions on the batch's beliefs."""
    with _evaluating(nets):
        return _probe(nets, batch, lambda_sd, points)


def _probe(nets: Networks, batch: TransitionBatch, lambda_sd: float, points: int) -> Probe:
    belief_net = nets.belief
    with torch.no_grad():
        belief = belief_net(batch.obs, batch.flags)  # (B, N, belief_dim)
        u = belief_net.action_mean(belief)  # (B, N, 2)
    with torch.enable_grad():
        u_live = u.clone().requires_grad_(True)
        q_i = frozen_call(belief_net.critic, belief, u_live)
        q_tot = frozen_call(nets.mixer, q_i, frozen_call(nets.encoder, belief), belief)
        # per executor-round: a transition's Q_tot and L_sd term read only its own actions
        dq = torch.autograd.grad(q_tot.sum(), u_live)[0]
        commitment = nets.mixer.project_commitment(batch.commitment).detach()
        features = frozen_call(nets.mixer.action_features, u_live)
        sd_total = lambda_sd * similarity_diff_loss(features, commitment) * len(u_live)
        dsd = -torch.autograd.grad(sd_total, u_live)[0]

    with torch.no_grad():
        best, best_q = belief_net.best_response(belief, points, chunk=GRID_CHUNK)
        gap = best_q - belief_net.q_value(belief, u)

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
            pairs=gap.numel(),
            policy_T=policy[..., 0].mean().item(),
            policy_p=policy[..., 1].mean().item(),
            best_response_T=best_action[..., 0].mean().item(),
            best_response_p=best_action[..., 1].mean().item(),
            best_response_gap=gap.clamp(min=0.0).mean().item(),
            q_along_T=along(0),
            q_along_p=along(1),
            dq_T=dq[..., 0].mean().item(),
            dq_p=dq[..., 1].mean().item(),
            raises_T=(dq[..., 0] > 0).float().mean().item(),
            raises_p=(dq[..., 1] > 0).float().mean().item(),
            dsd_T=dsd[..., 0].mean().item(),
            dsd_p=dsd[..., 1].mean().item(),
            buffer_T=_summary(played[..., 0]),
            buffer_p=_summary(played[..., 1]),
        )


def belief_state(belief_net: BeliefNetwork) -> dict[str, Tensor]:
    """A copy of the belief network's parameters and buffers, to compare an update against."""
    return {name: value.detach().clone() for name, value in belief_net.state_dict().items()}


def _mean_action(belief_net: BeliefNetwork, belief: Tensor, head: dict[str, Tensor]) -> Tensor:
    """Mean μ(b) in sampling units, with the policy head's parameters from `head` (names without the prefix)."""
    u = torch.sigmoid(functional_call(belief_net.action_head, head, (belief,)))  # as BeliefNetwork.action_mean
    return belief_net.scale_action(u).mean(dim=(0, 1))


def update_moves(belief_net: BeliefNetwork, before: dict[str, Tensor], batch: TransitionBatch) -> UpdateMoves:
    """How the update since `before` moved the mean action, by the policy head's step and the body's step."""
    head_before = {k.removeprefix(HEAD): v for k, v in before.items() if k.startswith(HEAD)}
    head_after = {k.removeprefix(HEAD): v for k, v in belief_net.action_head.state_dict().items()}
    with _evaluating(belief_net), torch.no_grad():
        old_belief = functional_call(belief_net, before, (batch.obs, batch.flags))
        new_belief = belief_net(batch.obs, batch.flags)
        start = _mean_action(belief_net, old_belief, head_before)
        policy_step = _mean_action(belief_net, old_belief, head_after) - start
        belief_step = _mean_action(belief_net, new_belief, head_before) - start
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
        **asdict(moves),
    }
    return {f"probe/{name}": value for name, value in scalars.items()}
