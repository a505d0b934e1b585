"""Wrong inputs on the command line: a short message naming what to change, exit code != 0, no traceback, no LLM call."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from econ.devtools import forkrun
from econ.devtools.loopback import LoopbackServer
from econ.devtools.runs import loopback_overrides, write_untrained_checkpoint

ECON_EXIT = 2

# (case id, entry point, overrides, extra environment, text the message must contain, expected exit code).
# Paths in {braces} are filled in by the `files` fixture; LOOPBACK stands for "the model is the loopback server".
CASES = [
    # Refused by Hydra or OmegaConf before econ's code runs: one line too (econ.run.job.run_cli)
    ("unknown_group_option", "train", ["model=nosuch"], {}, "model/nosuch", ECON_EXIT),
    ("typo_in_key", "train", ["LOOPBACK", "agents.n_agentz=3"], {}, "agents.n_agentz", ECON_EXIT),
    ("unknown_experiment", "train", ["+experiment=nosuch"], {}, "experiment/nosuch", ECON_EXIT),
    ("unknown_method", "evaluate", ["method=nosuch"], {}, "method/nosuch", ECON_EXIT),
    ("override_does_not_parse", "train", ["LOOPBACK", "seed=[1,"], {}, "'[1,'", ECON_EXIT),
    ("hydra_setting_wrong_type", "train", ["LOOPBACK", "hydra.job.chdir=abc"], {}, "hydra.job.chdir", ECON_EXIT),
    # Values of the wrong type or range (the full set, per key, is in test_config_rules.py)
    ("seed_not_a_number", "train", ["LOOPBACK", "seed=abc"], {}, "seed=abc", ECON_EXIT),
    ("seed_negative", "evaluate", ["LOOPBACK", "method=single", "seed=-1"], {}, "seed=-1", ECON_EXIT),
    (
        "interpolation_to_nowhere",
        "train",
        ["LOOPBACK", "agents.n_agents=${{nosuch}}"],
        {},
        "agents.n_agents",
        ECON_EXIT,
    ),
    (
        "interpolation_in_the_run_dir",  # Hydra resolves the run dir before econ's code runs
        "train",
        ["LOOPBACK", "task_name=${{nosuch}}", "hydra.run.dir={root}/interpolation_in_the_run_dir/${{task_name}}"],
        {},
        "hydra.run.dir: Interpolation key 'nosuch' not found",
        ECON_EXIT,
    ),
    ("tau_out_of_range", "train", ["LOOPBACK", "learner.tau=2"], {}, "learner.tau=2", ECON_EXIT),
    ("trainer_devices_not_a_number", "train", ["LOOPBACK", "trainer.devices=abc"], {}, "trainer.devices", ECON_EXIT),
    ("eval_methods_not_a_list", "train", ["LOOPBACK", "eval_methods=econ"], {}, "eval_methods=econ", ECON_EXIT),
    ("n_ctx_too_small", "train", ["model=local", "model.n_ctx=100"], {}, "model.n_ctx=100", ECON_EXIT),
    ("timeout_zero", "evaluate", ["LOOPBACK", "method=single", "llm.timeout_s=0"], {}, "llm.timeout_s=0", ECON_EXIT),
    (
        "batch_exceeds_buffer",
        "train",
        ["LOOPBACK", "learner.buffer_size=1", "learner.batch_size=64"],
        {},
        "learner.batch_size=64",
        ECON_EXIT,
    ),
    (
        "budget_without_source",
        "evaluate",
        ["LOOPBACK", "method=mad", "method.budget=calls"],
        {},
        "method.budget_source",
        ECON_EXIT,
    ),
    (
        "metric_of_a_method_not_run",
        "train",
        ["LOOPBACK", "optimized_metric=single/accuracy"],
        {},
        "optimized_metric",
        ECON_EXIT,
    ),
    ("zero_agents", "train", ["LOOPBACK", "agents.n_agents=0"], {}, "agents.n_agents=0", ECON_EXIT),
    ("negative_belief_dim", "train", ["LOOPBACK", "agents.belief_dim=-8"], {}, "agents.belief_dim=-8", ECON_EXIT),
    ("belief_dim_not_divisible", "train", ["LOOPBACK", "agents.belief_dim=30"], {}, "agents.n_heads", ECON_EXIT),
    (
        "t_min_above_t_max",
        "train",
        ["LOOPBACK", "agents.temperature_bounds=[2.0,0.5]"],
        {},
        "agents.temperature_bounds",
        ECON_EXIT,
    ),
    ("dropout_not_a_number", "train", ["LOOPBACK", "agents.dropout=abc"], {}, "agents.dropout=abc", ECON_EXIT),
    (
        "structured_commitment_not_a_bool",
        "train",
        ["LOOPBACK", "agents.structured_commitment=maybe"],
        {},
        "agents.structured_commitment=maybe",
        ECON_EXIT,
    ),
    ("unknown_eval_method", "train", ["LOOPBACK", "eval_methods=[nosuch]"], {}, "eval_methods", ECON_EXIT),
    ("custom_dataset_without_path", "train", ["LOOPBACK", "dataset=custom"], {}, "dataset.path", ECON_EXIT),
    (
        "missing_dataset_file",
        "train",
        ["LOOPBACK", "dataset=custom", "dataset.path={missing}"],
        {},
        "no such file",
        ECON_EXIT,
    ),
    ("empty_dataset", "train", ["LOOPBACK", "dataset=custom", "dataset.path={empty}"], {}, "empty", ECON_EXIT),
    (
        "missing_question_field",
        "train",
        ["LOOPBACK", "dataset=custom", "dataset.path={no_question}"],
        {},
        "'question'",
        ECON_EXIT,
    ),
    (
        "unreadable_dataset_file",
        "train",
        ["LOOPBACK", "dataset=custom", "dataset.path={garbage}"],
        {},
        "dataset.path=",
        ECON_EXIT,
    ),
    ("missing_together_key", "train", ["model=together"], {}, "TOGETHER_API_KEY", ECON_EXIT),
    (
        "unreachable_base_url",
        "train",
        ["model=openai_compatible", "model.model=x", "model.base_url=http://127.0.0.1:{closed_port}/v1"],
        {},
        "model.base_url=http://127.0.0.1:",
        ECON_EXIT,
    ),
    (
        "base_url_not_http",
        "train",
        ["model=openai_compatible", "model.model=x", "model.base_url=ftp://example.org"],
        {},
        "model.base_url=ftp://example.org",
        ECON_EXIT,
    ),
    ("model_name_unset", "train", ["model=openai_compatible"], {}, "model.model", ECON_EXIT),
    ("gguf_path_missing", "train", ["model=local", "model.path={missing_gguf}"], {}, "model.path=", ECON_EXIT),
    ("key_in_config", "train", ["LOOPBACK", "+model.api_key=sk-not-a-real-key-0000"], {}, "model.api_key", ECON_EXIT),
    ("env_file_missing", "train", ["LOOPBACK"], {"ECON_ENV_FILE": "{missing}"}, "ECON_ENV_FILE=", ECON_EXIT),
    ("env_file_malformed", "train", ["LOOPBACK"], {"ECON_ENV_FILE": "{bad_env}"}, "line 2", ECON_EXIT),
    ("checkpoint_missing", "evaluate", ["LOOPBACK", "method=econ", "ckpt_path={missing}"], {}, "ckpt_path=", ECON_EXIT),
    ("checkpoint_not_given", "evaluate", ["LOOPBACK", "method=econ"], {}, "ckpt_path", ECON_EXIT),
    (
        "validation_split_not_carved",
        "train",
        ["LOOPBACK", "eval_split=validation"],
        {},
        "dataset.validation_fraction",
        ECON_EXIT,
    ),
    (
        "validation_fraction_out_of_range",
        "train",
        ["LOOPBACK", "dataset.validation_fraction=1.5"],
        {},
        "dataset.validation_fraction=1.5",
        ECON_EXIT,
    ),
    (
        "validation_takes_all_train",
        "train",
        ["LOOPBACK", "dataset=custom", "dataset.path={three_rows}", "dataset.validation_fraction=0.9"],
        {},
        "leaving none to train on",
        ECON_EXIT,
    ),
    (
        "checkpoint_from_other_n",
        "evaluate",
        ["LOOPBACK", "method=econ", "ckpt_path={five_agents_ckpt}"],
        {},
        "agents.n_agents=3: the checkpoint was trained with agents.n_agents=5",
        ECON_EXIT,
    ),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad_input")
    (root / "empty.jsonl").write_text("")
    (root / "no_question.jsonl").write_text('{"text": "What is 1 + 1?", "answer": 2}\n')
    (root / "three_rows.jsonl").write_text(
        "".join(f'{{"question": "What is {i} + 1?", "answer": {i + 1}}}\n' for i in range(3))
    )
    (root / "garbage.jsonl").write_text("this is { not json at all\n\x00\x01\n")
    (root / "bad.env").write_text("# keys\nTHIS LINE HAS NO EQUALS SIGN\n")
    with socket.socket() as probe:  # a port nobody listens on once this socket is closed
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    checkpoint = write_untrained_checkpoint(root / "five_agents.ckpt", ["agents.n_agents=5"])
    return {
        "root": str(root),
        "missing": str(root / "missing.jsonl"),
        "empty": str(root / "empty.jsonl"),
        "no_question": str(root / "no_question.jsonl"),
        "three_rows": str(root / "three_rows.jsonl"),
        "garbage": str(root / "garbage.jsonl"),
        "bad_env": str(root / "bad.env"),
        "closed_port": str(closed_port),
        "missing_gguf": str(root / "missing.gguf"),
        "five_agents_ckpt": str(checkpoint),
    }


@pytest.fixture(scope="module")
def outcomes(files):
    """Every case run as its own process, a few at a time, against one loopback server that must stay idle."""
    root = Path(files["root"])
    env = {k: v for k, v in os.environ.items() if k not in ("TOGETHER_API_KEY", "OPENAI_API_KEY", "ECON_ENV_FILE")}
    env["ECON_CACHE_DIR"] = str(root / "cache")
    with LoopbackServer() as server:

        def run(case):
            name, entry, overrides, extra_env, _, _ = case
            args = []
            for item in overrides:
                args += loopback_overrides(server.base_url) if item == "LOOPBACK" else [item.format(**files)]
            if not any(arg.startswith("hydra.run.dir=") for arg in args):
                args += [f"hydra.run.dir={root / name}"]
            case_env = {**env, **{k: v.format(**files) for k, v in extra_env.items()}}
            return forkrun.run(f"econ.{entry}", args, out_dir=root, env=case_env, cwd=root, name=name, timeout=120)

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = dict(zip((case[0] for case in CASES), pool.map(run, CASES)))
        yield results, len(server.chat_requests())


def test_the_table_has_at_least_twenty_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_fails_with_a_short_message(outcomes, case):
    name, _, _, _, expected, exit_code = case
    run = outcomes[0][name]
    output = run.stdout + run.stderr
    assert run.returncode == exit_code, output[-2000:]
    assert "Traceback" not in output
    assert expected in run.stderr
    # exactly one line on stderr, saying what to change
    assert [line for line in run.stderr.splitlines() if line.strip()] == [
        next(line for line in run.stderr.splitlines() if line.startswith("error: "))
    ]


def test_no_bad_input_spends_an_llm_call(outcomes):
    assert outcomes[1] == 0
