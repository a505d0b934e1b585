"""BeliefEncoder: multi-head self-attention over the N beliefs -> group representation E."""

from __future__ import annotations

from torch import Tensor, nn

from econ.errors import ConfigError


class BeliefEncoder(nn.Module):
    """E = mean_i(Block(b)_i): one attention + feed-forward block, then mean pooling (any N ≥ 1)."""

    def __init__(self, belief_dim: int, n_heads: int = 4, dropout: float = 0.1):
        super().__init__()
        if belief_dim % n_heads:
            raise ConfigError(f"belief_dim={belief_dim} must be divisible by n_heads={n_heads}")
        self.attention = nn.MultiheadAttention(belief_dim, n_heads, dropout=dropout, batch_first=True)
        self.norm_attention = nn.LayerNorm(belief_dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(belief_dim, 2 * belief_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(2 * belief_dim, belief_dim),
        )
        self.norm_feed_forward = nn.LayerNorm(belief_dim)

    def forward(self, beliefs: Tensor) -> Tensor:
        """(B, N, belief_dim) -> E (B, belief_dim)."""
        attended, _ = self.attention(beliefs, beliefs, beliefs, need_weights=False)
        hidden = self.norm_attention(beliefs + attended)  # (B, N, belief_dim)
        hidden = self.norm_feed_forward(hidden + self.feed_forward(hidden))
        # mean pooling keeps E on the same scale for every N, so the mixer sees no N-dependence
        return hidden.mean(dim=1)
