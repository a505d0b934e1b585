"""ECON networks (belief, encoder, mixer), learned reward weights, replay records and losses."""

from econ.nn.belief import BeliefNetwork, explore
from econ.nn.encoder import BeliefEncoder
from econ.nn.losses import (
    Lambdas,
    econ_losses,
    encoder_loss,
    mixer_loss,
    mixing_consistency_loss,
    policy_loss,
    similarity_diff_loss,
    td_loss_local,
    td_loss_tot,
)
from econ.nn.mixer import Mixer
from econ.nn.networks import Networks
from econ.nn.reward_weights import RewardWeights
from econ.nn.transition import Transition, TransitionBatch, collate

__all__ = [
    "BeliefEncoder",
    "BeliefNetwork",
    "Lambdas",
    "Mixer",
    "Networks",
    "RewardWeights",
    "Transition",
    "TransitionBatch",
    "collate",
    "econ_losses",
    "encoder_loss",
    "explore",
    "mixer_loss",
    "mixing_consistency_loss",
    "policy_loss",
    "similarity_diff_loss",
    "td_loss_local",
    "td_loss_tot",
]
