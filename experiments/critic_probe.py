"""What a trained ECON checkpoint's critic says about its own policy, on the beliefs of its replay buffer.

    python experiments/critic_probe.py CKPT [--points 21] [--out DIR]

The policy μ is trained by ascending Q_tot(b, μ(b)) through the mixer (econ/nn/losses.py), one
small step at a time from where it stands. This reads, from the checkpoint alone (no LLM, no
embedder), whether that walk went where the critic itself would send it:

- the policy's action and the critic's best response (argmax of Q_i over a grid of actions, as the
  episode's best-response gap ε measures it), in sampling units T and p;
- Q_i along T (p held at the policy's) and along p (T held at the policy's), mean over beliefs;
- which way the policy loss moves the action from where it is: the descent direction of −Q_tot and
  of λ_sd·L_sd in u, mean and the share of (transition, executor) pairs it raises T or p for;
- the buffer's actions: the part of the action space the critic has data on.

A policy that walked uphill on a local slope of the critic, into actions the buffer does not cover,
shows here as a best-response gap that stays large while the descent direction points away from
the critic's own argmax.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python experiments/critic_probe.py` from a checkout, installed or not

from econ.config.settings import settings_from_hparams  # noqa: E402
from econ.errors import ConfigError  # noqa: E402
from econ.learner.checkpoint import load_checkpoint_file  # noqa: E402
from econ.learner.module import ECONModule  # noqa: E402
from econ.nn import Networks, collate  # noqa: E402
from econ.nn.belief import BEST_RESPONSE_GRID  # noqa: E402
from econ.nn.losses import _frozen, similarity_diff_loss  # noqa: E402
from econ.nn.transition import TransitionBatch  # noqa: E402
from econ.run.job import run_or_exit  # noqa: E402

PROFILE_POINTS = 5  # points of the Q_i profiles along T and along p


@dataclass(frozen=True)
class Probe:
    """The critic's view of the policy, over every (transition, executor) of the buffer; T, p in sampling units."""

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
    buffer_T: tuple[float, float, float, float]  # mean, std, min, max of the buffer's played T
    buffer_p: tuple[float, float, float, float]


def _summary(values: torch.Tensor) -> tuple[float, float, float, float]:
    return (values.mean().item(), values.std().item(), values.min().item(), values.max().item())


def probe(nets: Networks, batch: TransitionBatch, lambda_sd: float, points: int = BEST_RESPONSE_GRID) -> Probe:
    """Read the critic around the policy's actions on the batch's beliefs (nets in eval mode)."""
    belief_net = nets.belief
    belief = belief_net(batch.obs, batch.flags).detach()  # (B, N, belief_dim)
    u = belief_net.action_mean(belief).detach().requires_grad_(True)  # (B, N, 2)
    q_tot = _frozen(nets.mixer, _frozen(belief_net.critic, belief, u), _frozen(nets.encoder, belief), belief)
    ascent = -torch.autograd.grad(-q_tot.mean(), u)[0]
    commitment = nets.mixer.project_commitment(batch.commitment).detach()
    sd = lambda_sd * similarity_diff_loss(_frozen(nets.mixer.action_features, u), commitment)
    sd_descent = -torch.autograd.grad(sd, u)[0]
    u = u.detach()

    with torch.no_grad():
        axis = torch.linspace(0.0, 1.0, points)
        grid = torch.cartesian_prod(axis, axis)  # (G, 2)
        b, n, dim = belief.shape
        q_grid = belief_net.critic(belief.unsqueeze(2).expand(b, n, len(grid), dim), grid.expand(b, n, len(grid), 2))
        best = grid[q_grid.argmax(dim=-1)]  # (B, N, 2)
        gap = q_grid.max(dim=-1).values - belief_net.q_value(belief, u)

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


def probe_checkpoint(path: Path, points: int = BEST_RESPONSE_GRID) -> Probe:
    """The probe on a checkpoint's own networks and replay buffer."""
    checkpoint = load_checkpoint_file(path, "CKPT")
    hparams = checkpoint["hyper_parameters"]
    module = ECONModule(settings_from_hparams(hparams["econ"]), obs_dim=hparams["obs_dim"])
    module.restore(checkpoint)
    transitions = [t for episode in module.buffer for t in episode]
    if not transitions:
        raise ConfigError(f"CKPT={path}: its replay buffer is empty; probe a checkpoint that has played episodes")
    module.nets.eval()
    return probe(module.nets, collate(transitions), module.lambdas.sd, points)


def markdown(result: Probe) -> str:
    """The probe as markdown: actions, the two Q_i profiles, the policy loss's directions, coverage."""
    r = result

    def profile(name: str, rows: list[tuple[float, float]]) -> str:
        return " · ".join(f"{name} {x:.2f}: {q:.4f}" for x, q in rows)

    lines = [
        f"**What the trained critic says about its policy** ({r.pairs} executor-rounds of the replay buffer)",
        "",
        "| | T | p |",
        "|---|---|---|",
        f"| policy μ(b), mean | {r.policy_T:.3f} | {r.policy_p:.3f} |",
        f"| critic's best response (argmax Q_i over the grid), mean | {r.best_response_T:.3f} | {r.best_response_p:.3f} |",
        f"| buffer's played actions, mean ± std [min, max] | {r.buffer_T[0]:.3f} ± {r.buffer_T[1]:.3f} "
        f"[{r.buffer_T[2]:.2f}, {r.buffer_T[3]:.2f}] | {r.buffer_p[0]:.3f} ± {r.buffer_p[1]:.3f} "
        f"[{r.buffer_p[2]:.2f}, {r.buffer_p[3]:.2f}] |",
        f"| −Q_tot's step on μ (normalised units), mean; share raising it | {r.ascent_T:+.2e}; {r.raises_T:.0%} "
        f"| {r.ascent_p:+.2e}; {r.raises_p:.0%} |",
        f"| λ_sd·L_sd's step on μ, mean | {r.sd_T:+.2e} | {r.sd_p:+.2e} |",
        "",
        f"Best-response gap ε (mean): {r.best_response_gap:.4f}.",
        f"Q_i along T: {profile('T', r.q_along_T)}.",
        f"Q_i along p: {profile('p', r.q_along_p)}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ckpt", type=Path)
    parser.add_argument("--points", type=int, default=BEST_RESPONSE_GRID, help="grid points per action axis")
    parser.add_argument("--out", type=Path, default=None, help="where to write critic_probe.json/.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny networks: one thread is the fastest here and leaves the other core free
    result = probe_checkpoint(args.ckpt, args.points)
    text = markdown(result)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "critic_probe.json").write_text(json.dumps(asdict(result), indent=2))
        (args.out / "critic_probe.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    run_or_exit(main)
