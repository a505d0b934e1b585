"""How often the coordinator's commitment is valid JSON, with structured output on and off, on the same problems.

    python experiments/commitment_json_rate.py --out outputs/json_rate --limit 20 model=local \
        agents.max_tokens_executor=128
    python experiments/commitment_json_rate.py --out outputs/json_rate_loopback --limit 20 --loopback

Each setting is a real `python -m econ.evaluate method=econ_no_bne` run of an untrained (seeded) policy
into <out>/<setting>, so the executors' answers are the same in every setting and only the commitment
request differs: `structured` (agents.structured_commitment=true), `plain` (false) and, with --loopback,
`refused` (the server answers 400 to response_format, so the backend falls back to the plain request).
--loopback serves every run from an in-process loopback server through model=openai_compatible, with a
responder that writes its commitment in prose unless response_format constrains it (as a small model
does). The LLM cache is <out>/cache unless ECON_CACHE_DIR is set. Prints one table; the rates are read
from each run's results.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python experiments/commitment_json_rate.py` from a checkout, installed or not

from econ.devtools.loopback import LoopbackServer, weak_model_responder  # noqa: E402
from econ.devtools.runs import compose_config, loopback_overrides, write_untrained_checkpoint  # noqa: E402
from econ.run.job import run_or_exit  # noqa: E402
from experiments.compare_methods import path_override, run_entry  # noqa: E402

SETTINGS = {"plain": ["agents.structured_commitment=false"], "structured": ["agents.structured_commitment=true"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/json_rate"), help="output dir (re-running resumes)")
    parser.add_argument("--limit", type=int, default=20, help="test problems (dataset.limit)")
    parser.add_argument("--loopback", action="store_true", help="serve the runs from the loopback server")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. model=local")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, out: Path) -> list[dict]:
    """One econ.evaluate run per setting; its commitment JSON and fallback rates and accuracy."""
    shared = ["+experiment=svamp", "method=econ_no_bne", "logger=none", f"dataset.limit={args.limit}", *args.overrides]
    servers = {}
    if args.loopback:
        servers = {
            "structured": LoopbackServer(responder=weak_model_responder),
            "refused": LoopbackServer(responder=weak_model_responder, reject_response_format=True),
        }
        servers["plain"] = servers["structured"]
    settings = {**SETTINGS, **({"refused": SETTINGS["structured"]} if args.loopback else {})}
    rows = []
    try:
        for name, overrides in settings.items():
            served = loopback_overrides(servers[name].base_url) if args.loopback else []
            config = [*served, *shared, *overrides]
            checkpoint = out / "untrained.ckpt"
            if not checkpoint.exists():
                write_untrained_checkpoint(checkpoint, [*served, *shared])
            results = run_entry("econ.evaluate", [*config, path_override("ckpt_path", checkpoint)], out / name)
            summary = json.loads(results.read_text())["methods"]["econ_no_bne"]
            rows.append(
                {
                    "setting": name,
                    "n": summary["n"],
                    "json_rate": summary["commitment_json_rate"],
                    "fallback_rate": summary["commitment_fallback_rate"],
                    "accuracy": summary["accuracy"],
                    "model": compose_config([*served, *shared]).model.get("name"),
                }
            )
    finally:
        for server in set(servers.values()):
            server.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ECON_CACHE_DIR", str(out / "cache"))
    rows = measure(args, out)
    print(
        "| setting | model | n | JSON commitment rate | majority fallback rate | accuracy |\n|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['setting']} | {r['model']} | {r['n']} | {r['json_rate']:.0%} | {r['fallback_rate']:.0%} "
            f"| {r['accuracy']:.0%} |"
        )


if __name__ == "__main__":
    run_or_exit(main)
