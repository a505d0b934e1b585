"""ECON learner math: the paper's losses, and `econ_losses` for a batch.

Which loss moves which parameter group (gradients are routed so that ONE backward of
`econ_losses(...)["loss"]` gives every group exactly the gradient of its own loss):

    group     parameters                               loss
    belief    BeliefNetwork body + critic head Q_i     encoder_loss  L_e   = L_TD^tot + λ_e Σ_i L_TD^i
    encoder   BeliefEncoder                            encoder_loss  L_e
    mixer     Mixer (hypernetworks, V, F, c-proj)      mixer_loss    L_mix = L_TD^tot + λ_sd L_sd + λ_m L_m
    policy    BeliefNetwork action head μ              policy_loss   L_π   = −Q_tot(b, μ(b)) + λ_sd L_sd

Routing: the mixer's copy of Q_tot takes detached Q_i, E and b (so L_mix reaches only the
mixer); the belief/encoder copy runs the mixer with detached parameters (so L_e reaches the
belief network and encoder, through the mixer, without touching the mixer); the policy copy
runs on detached beliefs and detached critic/encoder/mixer parameters (so L_π reaches only μ).
L_sd is computed from the live actions μ(b): the mixer's copy with μ detached trains the action
features F and the commitment projection c, the policy's copy with F and c frozen moves μ
toward actions whose features align with the commitment (so λ_sd shapes the policy).
α enters only the rewards, detached: it is learned by RewardWeights.dynamic_reward_loss.

Give the policy group a smaller learning rate than the critic-side groups (as DDPG does):
μ follows the critic's slope in e, which is learned last; with equal rates μ overshoots.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

from econ.nn.networks import Networks
from econ.nn.reward_weights import combine
from econ.nn.transition import TransitionBatch


@dataclass(frozen=True)
class Lambdas:
    """Weights of the auxiliary terms: λ_sd (similarity difference), λ_m (mixing), λ_e (local TD)."""

    sd: float = 0.1
    m: float = 0.1
    e: float = 0.1


def td_loss_tot(q_tot: Tensor, y_tot: Tensor) -> Tensor:
    """L_TD^tot = E_b[(Q_tot − y_tot)²]: (B,), (B,) -> scalar."""
    return (q_tot - y_tot).pow(2).mean()


def td_loss_local(q_i: Tensor, y_i: Tensor) -> Tensor:
    """Σ_i L_TD^i = E_b[Σ_i (Q_i − y_i)²], summed over agents: (B, N), (B, N) -> scalar."""
    return (q_i - y_i).pow(2).sum(dim=1).mean()


def similarity_diff_loss(features: Tensor, commitment: Tensor) -> Tensor:
    """L_sd = E_b[Σ_i (1 − cos(F_i, c))²]: F (B, N, D), c (B, D) -> scalar."""
    cos = nn.functional.cosine_similarity(features, commitment.unsqueeze(1), dim=-1)  # (B, N)
    return (1.0 - cos).pow(2).sum(dim=1).mean()


def mixing_consistency_loss(q_i: Tensor, q_tot: Tensor) -> Tensor:
    """L_m = E_b[Σ_i (Q_i − Q_tot)²]: (B, N), (B,) -> scalar."""
    return (q_i - q_tot.unsqueeze(1)).pow(2).sum(dim=1).mean()


def mixer_loss(td_tot: Tensor, sd: Tensor, m: Tensor, lambda_sd: float, lambda_m: float) -> Tensor:
    """L_mix = L_TD^tot + λ_sd·L_sd + λ_m·L_m."""
    return td_tot + lambda_sd * sd + lambda_m * m


def encoder_loss(td_tot: Tensor, td_local: Tensor, lambda_e: float) -> Tensor:
    """L_e = L_TD^tot + λ_e·Σ_i L_TD^i."""
    return td_tot + lambda_e * td_local


def policy_loss(q_tot: Tensor, sd: Tensor, lambda_sd: float) -> Tensor:
    """L_π = −E_b[Q_tot(b, μ(b))] + λ_sd·L_sd(F(μ(b)), c): policy gradient through the mixer (FACMAC)."""
    return -q_tot.mean() + lambda_sd * sd


def frozen_call(module: nn.Module, *args: Tensor) -> Tensor:
    """module(*args) with its parameters detached: gradients reach the inputs, never the module."""
    detached = {name: p.detach() for name, p in module.named_parameters()}
    return functional_call(module, detached, args)


def econ_losses(
    nets: Networks,
    target_nets: Networks,
    batch: TransitionBatch,
    alpha: Tensor,
    gamma: float = 0.99,
    lambdas: Lambdas = Lambdas(),
) -> dict[str, Tensor]:
    """All ECON losses for one batch; backward of "loss" updates each group by its own loss.

    r_i = α · terms_i, r_tot = mean_i r_i, y_i = r_i + γ(1 − done)·Q_i'(b', μ'(b')),
    y_tot = r_tot + γ(1 − done)·Q_tot'(Q', E', b') with the target networks, under no_grad.
    """
    rewards = combine(batch.reward_terms, alpha.detach())  # (B, N)
    team_reward = rewards.mean(dim=1)  # (B,)
    not_done = 1.0 - batch.done  # (B,)

    with torch.no_grad():
        next_q, next_q_tot = torch.zeros_like(rewards), torch.zeros_like(team_reward)
        if (not_done > 0).any():  # rounds of a one-step episode (the default) never need the target networks
            next_belief = target_nets.belief(batch.next_obs, batch.next_flags)  # (B, N, belief_dim)
            next_q = target_nets.belief.q_value(next_belief, target_nets.belief.action_mean(next_belief))
            next_q_tot = target_nets.mixer(next_q, target_nets.encoder(next_belief), next_belief)  # (B,)
        y_i = rewards + gamma * not_done.unsqueeze(1) * next_q  # (B, N)
        y_tot = team_reward + gamma * not_done * next_q_tot  # (B,)

    belief = nets.belief(batch.obs, batch.flags)  # (B, N, belief_dim)
    q_i = nets.belief.q_value(belief, batch.action)  # (B, N)
    group = nets.encoder(belief)  # (B, belief_dim)
    belief_fixed = belief.detach()
    live_action = nets.belief.action_mean(belief_fixed)  # μ(b) (B, N, 2): moved only by the policy side

    # mixer side: inputs detached, so L_mix moves only the mixer
    q_tot_mix = nets.mixer(q_i.detach(), group.detach(), belief_fixed)  # (B,)
    commitment = nets.mixer.project_commitment(batch.commitment)  # (B, feature_dim)
    td_tot = td_loss_tot(q_tot_mix, y_tot)
    sd = similarity_diff_loss(nets.mixer.features(live_action.detach()), commitment)
    m = mixing_consistency_loss(q_i.detach(), q_tot_mix)
    loss_mix = mixer_loss(td_tot, sd, m, lambdas.sd, lambdas.m)

    # belief + encoder side: the mixer is a fixed function here
    q_tot_enc = frozen_call(nets.mixer, q_i, group, belief)  # (B,)
    td_local = td_loss_local(q_i, y_i)
    loss_enc = encoder_loss(td_loss_tot(q_tot_enc, y_tot), td_local, lambdas.e)

    # policy side: beliefs and every critic parameter fixed, so L_π moves only μ
    q_pi = frozen_call(nets.belief.critic, belief_fixed, live_action)  # (B, N)
    q_tot_pi = frozen_call(nets.mixer, q_pi, frozen_call(nets.encoder, belief_fixed), belief_fixed)  # (B,)
    sd_pi = similarity_diff_loss(frozen_call(nets.mixer.action_features, live_action), commitment.detach())
    loss_pi = policy_loss(q_tot_pi, sd_pi, lambdas.sd)

    total_critic_loss = loss_mix + loss_enc
    return {
        "loss": total_critic_loss + loss_pi,
        "total_critic_loss": total_critic_loss,
        "td_loss_tot": td_tot,
        "td_loss_local": td_local,
        "similarity_diff_loss": sd,
        "mixing_consistency_loss": m,
        "mixer_loss": loss_mix,
        "encoder_loss": loss_enc,
        "policy_loss": loss_pi,
        "q_tot_mean": q_tot_mix.detach().mean(),
        "q_i_mean": q_i.detach().mean(),
        "target_tot_mean": y_tot.mean(),
        "reward_mean": team_reward.mean(),
    }
