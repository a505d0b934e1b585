"""BeliefNetwork: observation -> belief b_i, with an action head μ_i(b_i) and a critic Q_i(b_i, e_i).

One set of parameters serves every executor; an agent-id embedding tells them apart.
Actions live in normalised units u ∈ [0, 1]² everywhere in training; `scale_action` maps
them to sampling parameters only when an LLM call needs them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from econ.errors import ConfigError


class CriticHead(nn.Module):
    """Q_i(b_i, e_i): an MLP on the belief and the normalised action."""

    def __init__(self, belief_dim: int, hidden_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(belief_dim + 2, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, belief: Tensor, action: Tensor) -> Tensor:
        # belief (B, N, belief_dim), action (B, N, 2) -> (B, N)
        return self.net(torch.cat([belief, action], dim=-1)).squeeze(-1)


class BeliefNetwork(nn.Module):
    """Per-agent belief b_i from F text-embedding fields, shared across agents."""

    def __init__(
        self,
        n_agents: int,
        obs_dim: int,
        n_fields: int = 4,
        belief_dim: int = 128,
        entity_dim: int = 256,
        n_heads: int = 4,
        n_blocks: int = 2,
        dropout: float = 0.1,
        t_bounds: tuple[float, float] = (0.1, 2.0),
        p_bounds: tuple[float, float] = (0.1, 0.9),
        critic_hidden_dim: int | None = None,
    ):
        super().__init__()
        if entity_dim % n_heads:
            raise ConfigError(f"entity_dim={entity_dim} must be divisible by n_heads={n_heads}")
        for name, (low, high) in {"t_bounds": t_bounds, "p_bounds": p_bounds}.items():
            if not low < high:
                raise ConfigError(f"{name}=({low}, {high}): the lower bound must be below the upper")
        self.n_agents, self.obs_dim, self.n_fields = n_agents, obs_dim, n_fields

        self.field_proj = nn.Linear(obs_dim, entity_dim)
        self.field_embedding = nn.Embedding(n_fields, entity_dim)  # which field a token is
        self.agent_embedding = nn.Embedding(n_agents, entity_dim)  # the agent token, pooled below
        block = nn.TransformerEncoderLayer(
            entity_dim, n_heads, dim_feedforward=2 * entity_dim, dropout=dropout,
            batch_first=True, norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(block, n_blocks, enable_nested_tensor=False)
        self.to_belief = nn.Sequential(nn.LayerNorm(entity_dim), nn.Linear(entity_dim, belief_dim))

        self.action_head = nn.Linear(belief_dim, 2)  # μ_i(b_i) = σ(W b_i + bias), normalised
        self.critic = CriticHead(belief_dim, hidden_dim=critic_hidden_dim or belief_dim)

        # u -> [T, p] = action_bias + action_scale * u
        low = torch.tensor([t_bounds[0], p_bounds[0]], dtype=torch.float32)
        high = torch.tensor([t_bounds[1], p_bounds[1]], dtype=torch.float32)
        self.register_buffer("action_scale", high - low)
        self.register_buffer("action_bias", low)

    @classmethod
    def untrained(cls, agents: Any, n_agents: int, obs_dim: int) -> BeliefNetwork:
        """A fresh network of the sizes and action bounds in an `agents` config node, in eval mode."""
        return cls(
            n_agents, obs_dim, belief_dim=agents.belief_dim, entity_dim=agents.entity_dim, n_heads=agents.n_heads,
            n_blocks=agents.n_blocks, dropout=agents.dropout, t_bounds=tuple(agents.temperature_bounds),
            p_bounds=tuple(agents.penalty_bounds),
        ).eval()

    def forward(self, obs: Tensor, agent_ids: Tensor | None = None) -> Tensor:
        """obs (B, N, F, E) -> belief b (B, N, belief_dim); an all-zero field is treated as empty."""
        batch, n, n_fields, obs_dim = obs.shape
        if obs_dim != self.obs_dim or n_fields != self.n_fields:
            raise ValueError(
                f"BeliefNetwork expects obs (..., {self.n_fields}, {self.obs_dim}), "
                f"got {tuple(obs.shape)}; does the embedder's dimension match obs_dim?"
            )
        if agent_ids is None:
            if n != self.n_agents:
                raise ValueError(f"obs has {n} agents but BeliefNetwork was built for n_agents={self.n_agents}")
            agent_ids = torch.arange(n, device=obs.device)
        agent_ids = agent_ids.expand(batch, n).reshape(batch * n)

        fields = obs.reshape(batch * n, n_fields, obs_dim)
        field_ids = torch.arange(n_fields, device=obs.device)
        field_tokens = self.field_proj(fields) + self.field_embedding(field_ids)  # (B*N, F, entity_dim)
        agent_token = self.agent_embedding(agent_ids).unsqueeze(1)  # (B*N, 1, entity_dim)
        tokens = torch.cat([agent_token, field_tokens], dim=1)  # (B*N, 1+F, entity_dim)

        empty = fields.abs().sum(-1) == 0  # (B*N, F); the agent token is never masked
        mask = torch.cat([torch.zeros_like(empty[:, :1]), empty], dim=1)
        hidden = self.transformer(tokens, src_key_padding_mask=mask)  # (B*N, 1+F, entity_dim)
        belief = self.to_belief(hidden[:, 0])  # pool = the agent token's output
        return belief.reshape(batch, n, -1)

    def action_mean(self, belief: Tensor) -> Tensor:
        """μ_i(b_i) = σ(W b_i + bias) ∈ [0, 1]²: (B, N, belief_dim) -> (B, N, 2), normalised."""
        return torch.sigmoid(self.action_head(belief))

    def scale_action(self, u: Tensor) -> Tensor:
        """[T, p] = [T_min + (T_max − T_min)·u_T, p_min + (p_max − p_min)·u_p]: (B, N, 2) -> (B, N, 2)."""
        return self.action_bias + self.action_scale * u

    def q_value(self, belief: Tensor, u: Tensor) -> Tensor:
        """Q_i(b_i, e_i) with e_i in normalised units: (B, N, belief_dim), (B, N, 2) -> (B, N)."""
        return self.critic(belief, u)

    def policy_parameters(self) -> list[nn.Parameter]:
        """The action head μ: moved only by the policy loss."""
        return list(self.action_head.parameters())

    def critic_parameters(self) -> list[nn.Parameter]:
        """Everything else (belief body + Q head): moved by the critic-side losses."""
        policy = {id(p) for p in self.policy_parameters()}
        return [p for p in self.parameters() if id(p) not in policy]


def explore(u: Tensor, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """Gaussian exploration in normalised units: clamp(u + N(0, σ²), 0, 1)."""
    if sigma <= 0:
        return u
    noise = torch.randn(u.shape, generator=generator, dtype=u.dtype, device=u.device)
    return (u + sigma * noise).clamp(0.0, 1.0)
