"""What a trained ECON checkpoint's critic says about its own policy, on the beliefs of its replay buffer.

    python experiments/critic_probe.py CKPT [--points 21] [--out DIR]

From the checkpoint alone (no LLM, no embedder; a second): the policy's mean T and p, the critic's
best response and the best-response gap ε, Q_i along T and along p around the policy's action,
which way the policy loss moves the action and for what share of executor-rounds, and the range of
actions the buffer holds (econ/learner/probe.py, which the learner also logs at every update).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python experiments/critic_probe.py` from a checkout, installed or not

from econ.config.settings import settings_from_hparams  # noqa: E402
from econ.errors import ConfigError  # noqa: E402
from econ.learner.checkpoint import CHECKPOINT_FORMAT, CKPT_FIX, load_checkpoint_file  # noqa: E402
from econ.learner.module import ECONModule  # noqa: E402
from econ.learner.probe import Probe, probe  # noqa: E402
from econ.nn import collate  # noqa: E402
from econ.nn.belief import BEST_RESPONSE_GRID  # noqa: E402
from econ.run.job import run_or_exit  # noqa: E402


def probe_checkpoint(path: Path, points: int = BEST_RESPONSE_GRID) -> Probe:
    """The probe on a checkpoint's own networks and replay buffer."""
    checkpoint = load_checkpoint_file(path, "CKPT")
    if points < 2:
        raise ConfigError(f"--points={points}: the action grid needs at least 2 points per axis; pass 21")
    if checkpoint.get("econ_state", {}).get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(
            f"CKPT={path}: not a format-{CHECKPOINT_FORMAT} econ checkpoint; {CKPT_FIX} with this version of econ"
        )
    hparams = checkpoint["hyper_parameters"]
    module = ECONModule(settings_from_hparams(hparams["econ"]), obs_dim=hparams["obs_dim"])
    module.restore(checkpoint)
    transitions = [t for episode in module.buffer for t in episode]
    if not transitions:
        raise ConfigError(f"CKPT={path}: its replay buffer is empty; probe a checkpoint that has played episodes")
    return probe(module.nets, collate(transitions), module.lambdas.sd, points)


def markdown(result: Probe) -> str:
    """The probe as markdown: actions, the two Q_i profiles, the policy loss's gradients, coverage."""
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
        f"| ∂Q_tot/∂u at μ per executor-round, mean; share > 0 | {r.dq_T:+.2e}; {r.raises_T:.0%} "
        f"| {r.dq_p:+.2e}; {r.raises_p:.0%} |",
        f"| −∂(λ_sd·L_sd)/∂u at μ, mean | {r.dsd_T:+.2e} | {r.dsd_p:+.2e} |",
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
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread is the fastest here and leaves the other core free
    try:
        result = probe_checkpoint(args.ckpt, args.points)
    finally:
        torch.set_num_threads(threads)
    text = markdown(result)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "critic_probe.json").write_text(json.dumps(asdict(result), indent=2))
        (args.out / "critic_probe.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    run_or_exit(main)
