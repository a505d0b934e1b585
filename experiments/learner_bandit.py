"""Does the learner learn at the shipped sizes and settings? A synthetic game where a high temperature hurts.

    python experiments/learner_bandit.py [--seeds 10] [--episodes 700] [key=value ...]

Each executor answers right with probability 0.9 − 0.6·u_T (u_T its normalised temperature), so
the best policy lowers T. The real runner, learner and Lightning loop play it (see
econ/devtools/bandit.py) with the default config unless overridden. Per seed it prints the mean
round-0 μ_T on 40 held-out problems before and after training, the mean played u_T per BNE round
over the first and last 100 episodes (a quarter of a shorter run), and the wall time of an update
(which includes the learner's probe/* diagnostics); then how many seeds moved
the policy the right way (μ_T by more than 0.1, and the played u_T in every round). `--control`
plays the game where correctness rises with T instead. `--slope` sets how much correctness falls
over the T range (0.6), `--spread` how much the problems' own difficulties spread it (0: none; see
econ/devtools/bandit.py): the real game's reward is mostly which problem was drawn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from econ.devtools.bandit import train_bandit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=700, help="one pass over SVAMP train is 700")
    parser.add_argument(
        "--control",
        action="store_true",
        help="play the control game, where correctness rises with T: the policy must raise it",
    )
    parser.add_argument("--slope", type=float, default=0.6, help="fall of P(right) over the T range")
    parser.add_argument("--spread", type=float, default=0.0, help="spread of the problems' own difficulty")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the train config, e.g. learner.lr=3e-4")
    args = parser.parse_args()
    if args.slope <= 0:
        parser.error(f"--slope={args.slope}: give the fall of P(right) as a positive number; --control reverses it")
    torch.set_num_threads(1)  # what learner.torch_threads sets in a run

    right = 0
    window = max(1, min(100, args.episodes // 4))  # episodes whose played u_T opens and closes the run
    print(
        f"{'seed':>4}  {'mu_T before':>11}  {'mu_T after':>10}  played u_T per round (first -> last {window} ep.)"
        f"  {'s/update':>8}"
    )
    for seed in range(args.seeds):
        slope = -args.slope if args.control else args.slope
        outcome = train_bandit(
            seed, args.episodes, tuple(args.overrides), window=window, slope=slope, spread=args.spread
        )
        module = outcome.module
        start = time.perf_counter()
        module.update()  # one more update, timed alone
        per_update = time.perf_counter() - start
        moved = outcome.moved(+1 if args.control else -1)  # the test's criterion
        right += moved
        played = ", ".join(f"{a:.3f}->{b:.3f}" for a, b in zip(outcome.played_first, outcome.played_last))
        print(
            f"{seed:>4}  {outcome.probe_before:>11.3f}  {outcome.probe_after:>10.3f}  {played:<44}  {per_update:>8.3f}",
            flush=True,
        )
    wanted = "raised" if args.control else "lowered"
    print(f"the policy {wanted} T (mu_T by > 0.1 and the played u_T in every round) in {right} of {args.seeds} seeds")


if __name__ == "__main__":
    main()
