import torch

from econ.nn import Lambdas, Networks, TransitionBatch, econ_losses

T_STAR = 0.3  # the best temperature, in normalised units


def train_bandit(seed: int, steps: int = 400) -> tuple[float, float]:
    """One-step bandit on fixed random observations: |mean μ_T − T*| before and after training.

    Each executor's TS term is r_i = −(T_i − T*)² in sampling units and α = [0, 1, 0], so the
    best action is u_T = T* for every agent and problem. Critic-side groups learn 6× faster than
    the policy head (as in DDPG), so μ follows a critic that has had time to fit.
    """
    torch.manual_seed(seed)
    n_agents, obs_dim, batch_size = 3, 8, 16
    nets = Networks.build(n_agents, obs_dim, belief_dim=16, entity_dim=32, n_heads=4, n_blocks=1, dropout=0.0,
                          mixer_hidden_dim=16, feature_dim=16)
    target = nets.make_target()
    groups = nets.parameter_groups()
    optimisers = [torch.optim.Adam(params, lr=5e-4 if name == "policy" else 3e-3) for name, params in groups.items()]
    alpha = torch.tensor([0.0, 1.0, 0.0])
    obs = torch.randn(batch_size, n_agents, 4, obs_dim)  # (B, N, F, E): fixed random problems
    commitment = torch.randn(batch_size, obs_dim)
    t_star = nets.belief.scale_action(torch.tensor([T_STAR, 0.0]))[0]

    def distance_to_optimum() -> float:
        u, _ = nets.act(obs)
        return (u[..., 0].mean() - T_STAR).abs().item()

    start = distance_to_optimum()
    for _ in range(steps):
        u, _ = nets.act(obs, sigma=0.2)  # (B, N, 2), with exploration noise
        terms = torch.zeros(batch_size, n_agents, 3)
        terms[..., 1] = -(nets.belief.scale_action(u)[..., 0] - t_star).pow(2)
        batch = TransitionBatch(
            obs=obs, action=u, reward_terms=terms, commitment=commitment,
            team_correct=torch.ones(batch_size), next_obs=obs, done=torch.ones(batch_size),
        )
        for optimiser in optimisers:
            optimiser.zero_grad()
        econ_losses(nets, target, batch, alpha, gamma=0.99, lambdas=Lambdas())["loss"].backward()
        for optimiser in optimisers:
            optimiser.step()
        nets.soft_update(target, tau=0.05)
    return start, distance_to_optimum()


def test_policy_learns_the_best_temperature_of_a_one_step_bandit():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: thread hand-offs cost more than they save
    try:
        start, end = train_bandit(seed=0)
    finally:
        torch.set_num_threads(threads)
    assert end < 0.5 * start
