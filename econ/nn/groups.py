"""Hierarchical coordination shapes: executor groups and the commitment tree above them (pure, no I/O).

N executors split into ⌈N/g⌉ contiguous groups of g (the last may be smaller). Each group has a
local coordinator; commitments are then merged by coordinators of at most max(g, 2) commitments
each, level by level, until one global commitment remains. A coordinator therefore never reads
more than max(g, 2) items, whatever N, while the number of calls stays O(N). With g ≥ N (or
g = None) there is one group: the flat game.
"""

from __future__ import annotations

import math

from econ.errors import ConfigError


def effective_group_size(n_agents: int, group_size: int | None) -> int | None:
    """The group size that shapes the game and networks: None when the game is flat (g unset or g ≥ N)."""
    if group_size is not None and group_size < 1:
        raise ConfigError(f"agents.group_size={group_size}: use null (flat) or a whole number >= 1")
    return None if group_size is None or group_size >= n_agents else group_size


def partition(n_agents: int, group_size: int | None) -> list[list[int]]:
    """Contiguous groups [[0..g-1], [g..2g-1], ...] covering every agent once; one group when flat."""
    if n_agents < 1:
        raise ConfigError(f"agents.n_agents={n_agents}: use a whole number >= 1")
    size = effective_group_size(n_agents, group_size) or n_agents
    return [list(range(start, min(start + size, n_agents))) for start in range(0, n_agents, size)]


def merge_fan_in(group_size: int) -> int:
    """Commitments one merging coordinator reads: g, but at least 2 so that every level shrinks the tree."""
    return max(group_size, 2)


def commitment_levels(n_agents: int, group_size: int | None) -> list[int]:
    """Coordinator calls per level of the commitment tree, local level first, the global [1] last.

    Flat: [1]. N = 64, g = 4: [16, 4, 1].
    """
    nodes = len(partition(n_agents, group_size))
    levels = [nodes]
    while nodes > 1:
        nodes = math.ceil(nodes / merge_fan_in(group_size))
        levels.append(nodes)
    return levels
