"""BeliefNetwork: observation -> belief b_i, with an action head μ_i(b_i) and a critic Q_i(b_i, e_i).

One set of parameters serves every executor; an agent-id embedding tells them apart.
Actions live in normalised units u ∈ [0, 1]² everywhere in training; `scale_action` maps
them to sampling parameters only when an LLM call needs them.

Scale matters here: MiniLM embeddings projected to entity_dim have norm ≈ 0.6, so the
learned field, flag and agent embeddings start at std 0.02 (norm ≈ 0.3 at entity_dim 256).
With torch's N(0, 1) default they had norm ≈ 16, drowned the text, and the round-0 action
varied by std ≈ 0.001 across problems: a per-agent constant.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from econ.errors import ConfigError
from econ.nn.observation import FLAGS, TEXT_FIELDS

EMBEDDING_STD = 0.02  # learned token embeddings start on the scale of the projected text
BEST_RESPONSE_GRID = 21  # points per action axis when searching the critic for a best response


class CriticHead(nn.Module):
    """Q_i(b_i, e_i) = MLP(W_b·LN(b_i) + W_a·(2u_i − 1)): the action has a pathway of its own.

    Concatenated raw, u was 2 inputs of belief_dim + 2 on [0, 1] next to an unnormalised belief,
    and ∂Q/∂u stayed near zero while the buffer's reward fell steeply with u_T. Here the belief
    is layer-normalised, the action centred on [−1, 1], and each has its own input layer, so
    both reach the hidden units on the same scale.
    """

    def __init__(self, belief_dim: int, hidden_dim: int):
        super().__init__()
        self.belief_in = nn.Sequential(nn.LayerNorm(belief_dim), nn.Linear(belief_dim, hidden_dim))
        self.action_in = nn.Linear(2, hidden_dim)
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, belief: Tensor, action: Tensor) -> Tensor:
        # belief (..., belief_dim), action (..., 2) in [0, 1] -> (...)
        return self.net(self.belief_in(belief) + self.action_in(2.0 * action - 1.0)).squeeze(-1)


class BeliefNetwork(nn.Module):
    """Per-agent belief b_i from F text-embedding fields and the game flags, shared across agents.

    Tokens: the agent token (pooled), one per text field, one for the flags; each is a projection
    plus a learned embedding saying which token it is. Absent fields (all zero) are masked, and so
    is the agent token as a key: it queries the fields, its own output is the belief.
    """

    def __init__(
        self,
        n_agents: int,
        obs_dim: int,
        n_fields: int = len(TEXT_FIELDS),
        belief_dim: int = 128,
        entity_dim: int = 256,
        n_heads: int = 4,
        n_blocks: int = 2,
        dropout: float = 0.1,
        t_bounds: tuple[float, float] = (0.1, 2.0),
        p_bounds: tuple[float, float] = (0.1, 0.9),
        critic_hidden_dim: int | None = None,
        n_flags: int = len(FLAGS),
    ):
        super().__init__()
        if entity_dim % n_heads:
            raise ConfigError(f"entity_dim={entity_dim} must be divisible by n_heads={n_heads}")
        for name, (low, high) in {"t_bounds": t_bounds, "p_bounds": p_bounds}.items():
            if not low < high:
                raise ConfigError(f"{name}=({low}, {high}): the lower bound must be below the upper")
        self.n_agents, self.obs_dim, self.n_fields, self.n_flags = n_agents, obs_dim, n_fields, n_flags

        self.field_proj = nn.Linear(obs_dim, entity_dim)
        self.flag_proj = nn.Linear(n_flags, entity_dim)
        self.field_embedding = nn.Embedding(n_fields + 1, entity_dim)  # which token: each field, then the flags
        self.agent_embedding = nn.Embedding(n_agents, entity_dim)  # the agent token, pooled below
        for embedding in (self.field_embedding, self.agent_embedding):
            nn.init.normal_(embedding.weight, std=EMBEDDING_STD)
        block = nn.TransformerEncoderLayer(
            entity_dim,
            n_heads,
            dim_feedforward=2 * entity_dim,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
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
            n_agents,
            obs_dim,
            belief_dim=agents.belief_dim,
            entity_dim=agents.entity_dim,
            n_heads=agents.n_heads,
            n_blocks=agents.n_blocks,
            dropout=agents.dropout,
            t_bounds=tuple(agents.temperature_bounds),
            p_bounds=tuple(agents.penalty_bounds),
        ).eval()

    def forward(self, obs: Tensor, flags: Tensor, agent_ids: Tensor | None = None) -> Tensor:
        """obs (B, N, F, E), flags (B, N, n_flags) -> belief b (B, N, belief_dim); all-zero tokens are empty."""
        batch, n, n_fields, obs_dim = obs.shape
        if obs_dim != self.obs_dim or n_fields != self.n_fields:
            raise ValueError(
                f"BeliefNetwork expects obs (..., {self.n_fields}, {self.obs_dim}), "
                f"got {tuple(obs.shape)}; does the embedder's dimension match obs_dim?"
            )
        if flags.shape != (batch, n, self.n_flags):
            raise ValueError(f"BeliefNetwork expects flags {(batch, n, self.n_flags)}, got {tuple(flags.shape)}")
        if agent_ids is None:
            if n != self.n_agents:
                raise ValueError(f"obs has {n} agents but BeliefNetwork was built for n_agents={self.n_agents}")
            agent_ids = torch.arange(n, device=obs.device)
        agent_ids = agent_ids.expand(batch, n).reshape(batch * n)

        fields = obs.reshape(batch * n, n_fields, obs_dim)
        flag_values = flags.reshape(batch * n, 1, self.n_flags)
        kinds = self.field_embedding(torch.arange(n_fields + 1, device=obs.device))  # (F+1, entity_dim)
        field_tokens = self.field_proj(fields) + kinds[:n_fields]  # (B*N, F, entity_dim)
        flag_token = self.flag_proj(flag_values) + kinds[n_fields:]  # (B*N, 1, entity_dim)
        agent_token = self.agent_embedding(agent_ids).unsqueeze(1)  # (B*N, 1, entity_dim)
        tokens = torch.cat([agent_token, field_tokens, flag_token], dim=1)  # (B*N, 1+F+1, entity_dim)

        empty = torch.cat([fields.abs().sum(-1) == 0, flag_values.abs().sum(-1) == 0], dim=1)  # (B*N, F+1)
        # The agent token reads the fields but is no key itself: each token attends to the fields only, so
        # the pooled belief is not half made of a constant agent vector (at init that halved its reading of
        # the problem: std of round-0 actions across SVAMP questions 0.02 -> 0.035).
        mask = torch.cat([torch.ones_like(empty[:, :1]), empty], dim=1)
        hidden = self.transformer(tokens, src_key_padding_mask=mask)  # (B*N, 1+F+1, entity_dim)
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

    def best_response(
        self, belief: Tensor, points: int = BEST_RESPONSE_GRID, chunk: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """argmax and max of Q_i(b_i, ·) over a points × points grid of [0, 1]²: (best u, its Q).

        (..., belief_dim) -> (..., 2), (...). `chunk` bounds memory to chunk × points² critic
        rows at a time; None scores every belief's grid at once.
        """
        axis = torch.linspace(0.0, 1.0, points, device=belief.device)
        grid = torch.cartesian_prod(axis, axis)  # (G, 2)
        flat = belief.reshape(-1, belief.shape[-1])
        best_q, best_index = [], []
        for rows in flat.split(chunk or max(len(flat), 1)):
            top = self.critic(rows.unsqueeze(1).expand(-1, len(grid), -1), grid.expand(len(rows), -1, 2)).max(dim=-1)
            best_q.append(top.values)
            best_index.append(top.indices)
        lead = belief.shape[:-1]
        return grid[torch.cat(best_index)].reshape(*lead, 2), torch.cat(best_q).reshape(lead)

    def best_response_gap(self, belief: Tensor, u: Tensor, points: int = BEST_RESPONSE_GRID) -> Tensor:
        """ε_i = max_{u'} Q_i(b_i, u') − Q_i(b_i, u_i) ≥ 0, the max over a points × points grid of [0, 1]² and u_i.

        How much agent i's own critic says it would gain by deviating from u_i: 0 at a best
        response. Q_i reads only (b_i, u_i), so each agent's best response does not depend on
        the others' actions within a round. (B, N, belief_dim), (B, N, 2) -> (B, N).
        """
        _, best_q = self.best_response(belief, points)
        return (best_q - self.critic(belief, u)).clamp(min=0.0)

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
