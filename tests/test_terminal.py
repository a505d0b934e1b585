"""The main job's terminal shows progress, econ's logs and the table, not third-party chatter."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from econ.run.terminal import quiet_terminal, verbose_requested

# what a train run printed before econ.terminal (lightning 2.6, torch 2.13, wandb 0.31, httpx)
NOISE = {
    "Lightning tip": r"Tip: For seamless",
    "accelerator lines": r"GPU available:",
    "LeafSpec deprecation": r"LeafSpec",
    "eval-mode warning": r"module\(s\) in eval mode",
    "W&B anonymous notice": r"anonymous setting has no effect",
    "per-request httpx line": r"HTTP Request: POST",
}
TINY = [
    "model=openai_compatible",
    "model.model=loopback",
    "logger=wandb",
    "dataset.limit=2",
    "agents.n_agents=2",
    "agents.belief_dim=16",
    "agents.entity_dim=32",
    "agents.n_blocks=1",
    "learner.max_episodes=2",
    "learner.update_interval=1",
    "learner.batch_size=2",
    "llm.max_retries=0",
    "bne.max_iterations_infer=2",
]


def _train(loopback, tmp_path: Path, *extra: str) -> str:
    env = {
        **os.environ,
        "ECON_CACHE_DIR": str(tmp_path / "cache"),
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("ECON_VERBOSE", None)
    args = [*TINY, f"model.base_url={loopback.base_url}", f"hydra.run.dir={tmp_path / 'run'}", *extra]
    done = subprocess.run(
        [sys.executable, "-m", "econ.train", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_the_main_job_prints_no_third_party_chatter_but_its_table(loopback, tmp_path):
    output = _train(loopback, tmp_path)
    found = [name for name, pattern in NOISE.items() if re.search(pattern, output)]
    assert found == [], output[-3000:]
    assert "econ_no_bne" in output and "accuracy" in output.lower()  # the final table is still there


def test_hydra_verbose_keeps_everything():
    assert verbose_requested(["+experiment=svamp", "hydra.verbose=true"])
    assert verbose_requested(["hydra.verbose=[econ,httpx]"])
    assert not verbose_requested(["+experiment=svamp", "hydra.verbose=false"])
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    assert quiet_terminal(["hydra.verbose=true"]) is False
    assert httpx_logger.level == level
