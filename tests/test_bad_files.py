"""Every file a user hands us, by what can be wrong with it: one `error:` line naming the key, exit 2,
no LLM call, and the bad file left exactly as it was."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from econ.devtools import forkrun
from econ.devtools.arithmetic import write_addition_problems
from econ.devtools.loopback import LoopbackServer
from econ.devtools.runs import TINY_NETWORKS, loopback_overrides, write_untrained_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY = [*TINY_NETWORKS, "logger=csv"]
ECON_EXIT = 2
ROWS = "".join(json.dumps({"question": f"What is {i} + 1?", "answer": i + 1}) + "\n" for i in range(6))
COMPLETIONS = (
    "CREATE TABLE completions (key TEXT PRIMARY KEY, text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,"
    " completion_tokens INTEGER NOT NULL, latency_s REAL NOT NULL, created REAL NOT NULL)"
)


def _sqlite(path: Path, *statements: str, rows: int = 0) -> bytes:
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    if rows:
        db.executemany(
            "INSERT INTO completions VALUES (?, ?, 1, 1, 0.1, 0)", [(f"k{i}", "x" * 500) for i in range(rows)]
        )
    db.commit()
    db.close()
    return path.read_bytes()


def _make_files(root: Path) -> dict[str, Path]:
    """Every bad file of every class, named by what is wrong with it."""
    f = {"data": Path(write_addition_problems(root / "data", n_train=4, n_test=2, seed=3))}
    good = write_untrained_checkpoint(root / "good.ckpt", TINY)
    raw = good.read_bytes()
    checkpoint = torch.load(good, weights_only=False)
    writes = {
        "ckpt_empty": b"",
        "ckpt_truncated": raw[: len(raw) // 2],
        "ckpt_random": os.urandom(4096),
        "ckpt_text": b"this is not a checkpoint\n",
        "ds_truncated.jsonl": ROWS[:-15].encode(),
        "ds_csv_named.jsonl": b"question,answer\nWhat is 1 + 1?,2\n",
        "ds_random.parquet": os.urandom(2048),
        "ds_latin1.jsonl": '{"question": "Caf\xe9 1 + 1?", "answer": 2}\n'.encode("latin-1") * 4,
        "ds_answer_object.jsonl": b'{"question": "What is 1 + 1?", "answer": {"v": 2}}\n' * 4,
        "ds_question_list.jsonl": b'{"question": ["a", "b"], "answer": 2}\n' * 4,
        "cache_text.sqlite": b"this is not a database, " * 100,
        "cache_parent_file": b"a file",
        "env_bad_line": b"# keys\nNO EQUALS SIGN\n",
        "env_binary": b"\xff\xfe\x00K\x00E",
        "env_nul": b"A=abc\x00def\n",
        "budget_binary.json": b"\xff\xfe\xfa" * 10,
        "budget_number.json": b'{"methods": {"econ": 3}}',
        "budget_no_calls.json": b'{"methods": {"econ": {"n": 2}}}',
        "budget_calls_text.json": b'{"methods": {"econ": {"n": 2, "llm_calls_per_problem": "many"}}}',
    }
    for name, data in writes.items():
        (root / name).write_bytes(data)
        f[name] = root / name
    with zipfile.ZipFile(root / "ckpt_zip", "w") as archive:
        archive.writestr("readme.txt", "a zip, not a checkpoint")
    torch.save([1, 2, 3], root / "ckpt_list")
    torch.save({**checkpoint}, root / "ckpt_obs1024")
    obs = torch.load(root / "ckpt_obs1024", weights_only=False)
    obs["hyper_parameters"] = {**obs["hyper_parameters"], "obs_dim": 1024}
    torch.save(obs, root / "ckpt_obs1024")
    f["ckpt_other_belief"] = write_untrained_checkpoint(root / "ckpt_other_belief", [*TINY, "agents.belief_dim=32"])
    for name in (
        "ckpt_zip",
        "ckpt_list",
        "ckpt_obs1024",
        "ckpt_dir",
        "ds_split_dir",
        "cache_dir.sqlite",
        "env_dir",
        "view_results_garbage",
        "view_results_list",
        "view_config_garbage",
        "view_traces_binary",
        "view_traces_missing_fields",
        "view_good",
        "resumed_run",
    ):
        f[name] = root / name
    for name in ("ckpt_dir", "cache_dir.sqlite", "env_dir", "ds_split_dir", "ds_split_dir/train.jsonl"):
        (root / name).mkdir()
    (root / "ds_split_dir" / "test.jsonl").write_text(ROWS)
    db = _sqlite(root / "real.sqlite", COMPLETIONS, rows=400)
    (root / "cache_truncated.sqlite").write_bytes(db[: len(db) // 3])
    _sqlite(root / "cache_old_schema.sqlite", "CREATE TABLE completions (key TEXT PRIMARY KEY, reply TEXT)")
    _sqlite(root / "cache_old_embeddings.sqlite", COMPLETIONS, "CREATE TABLE embeddings (key TEXT PRIMARY KEY, v TEXT)")
    _sqlite(root / "cache_old_sampled.sqlite", COMPLETIONS, "CREATE TABLE sampled (key TEXT PRIMARY KEY, t REAL)")
    for name in (
        "cache_truncated.sqlite",
        "cache_old_schema.sqlite",
        "cache_old_embeddings.sqlite",
        "cache_old_sampled.sqlite",
    ):
        f[name] = root / name
    for name, files in {
        "view_results_garbage": {"results.json": b"not json"},
        "view_results_list": {"results.json": b"[1, 2]"},
        "view_config_garbage": {"results.json": b"{}", "config_resolved.yaml": b"a: [unclosed\n - : :"},
        "view_traces_binary": {"traces.jsonl": os.urandom(512)},
        "view_traces_missing_fields": {"traces.jsonl": b'{"kind": "eval"}\n'},
        "view_good": {"results.json": b'{"methods": {}}'},
        "resumed_run": {"last.ckpt": raw[: len(raw) // 3], "results.json": b'{"methods": {}}'},
    }.items():
        (root / name).mkdir()
        for file, data in files.items():
            (root / name / file).write_bytes(data)
    f["resumed_run/last.ckpt"] = root / "resumed_run" / "last.ckpt"
    return f


# (class, case id, entry, overrides with {name} a file of _make_files, text the one line must hold, guarded file)
CASES = [
    *[
        ("ckpt", name, "econ.evaluate", ["method=econ", f"ckpt_path={{{name}}}"], expected, name)
        for name, expected in (
            ("ckpt_dir", "is a directory"),
            ("ckpt_empty", "empty"),
            ("ckpt_truncated", "not a readable checkpoint"),
            ("ckpt_random", "not a readable checkpoint"),
            ("ckpt_text", "not a readable checkpoint"),
            ("ckpt_zip", "not a readable checkpoint"),
            ("ckpt_list", "not an econ checkpoint"),
            ("ckpt_other_belief", "agents.belief_dim=16: the checkpoint was trained with agents.belief_dim=32"),
            ("ckpt_obs1024", "embedder: the checkpoint was trained on 1024-d embeddings"),
        )
    ],
    ("ckpt", "train_ckpt_random", "econ.train", ["ckpt_path={ckpt_random}"], "ckpt_path=", "ckpt_random"),
    (
        "ckpt",
        "resume_from_broken_last_ckpt",
        "econ.train",
        ["RUN_DIR={resumed_run}"],
        "resume=false",
        "resumed_run/last.ckpt",
    ),
    *[
        ("dataset", name, "econ.train", ["dataset=custom", f"dataset.path='{{{name}}}'"], expected, name)
        for name, expected in (
            ("ds_truncated.jsonl", "cannot parse"),
            ("ds_csv_named.jsonl", "cannot parse"),
            ("ds_random.parquet", "cannot parse"),
            ("ds_latin1.jsonl", "not UTF-8"),
            ("ds_answer_object.jsonl", "'answer' holds a list or object"),
            ("ds_question_list.jsonl", "holds a list or object"),
        )
    ],
    (
        "dataset",
        "split_file_is_a_dir",
        "econ.train",
        ["dataset=custom", "dataset.path='{ds_split_dir}/{split}.jsonl'"],
        "is a directory",
        None,
    ),
    *[
        ("cache", f"{group}_{name}", "econ.train", [*extra, f"{key}={{{name}}}"], f"{key}=", name)
        for group, key, extra in (("llm", "llm.cache_path", []), ("embed", "embedder.cache_path", ["llm.cache=false"]))
        for name in (
            "cache_dir.sqlite",
            "cache_text.sqlite",
            "cache_truncated.sqlite",
            "cache_old_schema.sqlite",
            "cache_old_sampled.sqlite",
        )
        if group == "llm" or name not in ("cache_old_schema.sqlite", "cache_old_sampled.sqlite")
    ],  # another table's schema is not the embedder's
    (
        "cache",
        "embeddings_table_of_another_version",
        "econ.train",
        ["llm.cache_path={cache_old_embeddings.sqlite}", "embedder.cache_path={cache_old_embeddings.sqlite}"],
        "embedder.cache_path=",
        "cache_old_embeddings.sqlite",
    ),
    (
        "cache",
        "cache_parent_is_a_file",
        "econ.train",
        ["llm.cache_path={cache_parent_file}/llm.sqlite"],
        "llm.cache_path=",
        "cache_parent_file",
    ),
    *[
        ("envfile", name, "econ.train", [f"ENV={{{name}}}"], expected, name)
        for name, expected in (
            ("env_dir", "is a directory"),
            ("env_bad_line", "line 2"),
            ("env_binary", "cannot read"),
            ("env_nul", "line 1 holds a NUL byte"),
        )
    ],
    *[
        (
            "budget",
            name,
            "econ.evaluate",
            ["method=self_consistency", "method.budget=calls", f"method.budget_source={{{name}}}"],
            "method.budget_source=",
            name,
        )
        for name in ("budget_binary.json", "budget_number.json", "budget_no_calls.json", "budget_calls_text.json")
    ],
    *[
        ("viewer", name, "econ.view", [f"{{{name}}}"], "RUN_DIR=", name)
        for name in (
            "view_results_garbage",
            "view_results_list",
            "view_config_garbage",
            "view_traces_binary",
            "view_traces_missing_fields",
        )
    ],
    (
        "viewer",
        "view_out_under_a_file",
        "econ.view",
        ["{view_good}", "--out", "{cache_parent_file}/r.html"],
        "--out=",
        None,
    ),
]


def _digest(path: Path) -> str:
    if path.is_dir():
        return json.dumps({str(p.relative_to(path)): _digest(p) for p in sorted(path.rglob("*")) if p.is_file()})
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_files")
    files = _make_files(root)
    names = {k: str(v) for k, v in files.items()}
    before = {name: _digest(files[name]) for _, _, _, _, _, name in CASES if name}
    env = {k: v for k, v in os.environ.items() if k not in ("TOGETHER_API_KEY", "OPENAI_API_KEY", "ECON_ENV_FILE")}
    env["ECON_CACHE_DIR"] = str(root / "cache")
    with LoopbackServer() as server:

        def run(case):
            _, name, entry, overrides, _, _ = case
            case_env, run_dir = dict(env), root / "runs" / name
            args = (
                []
                if entry == "econ.view"
                else [
                    *loopback_overrides(server.base_url),
                    *TINY,
                    "dataset=custom",
                    f"dataset.path='{files['data']}'",
                    "dataset.limit=2",
                    "learner.max_episodes=1",
                    "eval_methods=[econ_no_bne]",
                    "optimized_metric=econ_no_bne/accuracy",  # checked at start-up: a method of eval_methods
                ][: None if entry == "econ.train" else -3]
            )
            for item in overrides:
                item = re.sub(r"\{([^{}]+)\}", lambda m: names.get(m.group(1), m.group(0)), item)
                if item.startswith("ENV="):
                    case_env["ECON_ENV_FILE"] = item[4:]
                elif item.startswith("RUN_DIR="):
                    run_dir = Path(item[8:])
                else:
                    args.append(item)
            if entry != "econ.view":
                args.append(f"hydra.run.dir='{run_dir}'")
            return forkrun.run(entry, args, out_dir=root / "logs", env=case_env, cwd=root, name=name, timeout=120)

        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = dict(zip((case[1] for case in CASES), pool.map(run, CASES)))
        after = {name: _digest(files[name]) for name in before}
        yield {"runs": runs, "calls": len(server.chat_requests()), "before": before, "after": after}


# the embedding size a checkpoint needs is known only once the embedder is built (after its progress bar)
AFTER_EMBEDDER = {"ckpt_obs1024"}


def _assert_one_line(returncode: int, stdout: str, stderr: str, expected: str, after_embedder: bool = False) -> None:
    assert returncode == ECON_EXIT, (stdout + stderr)[-2000:]
    assert "Traceback" not in stdout + stderr
    lines = [
        line
        for line in stderr.splitlines()
        if line.strip() and not (after_embedder and line.startswith("Loading weights"))
    ]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-2000:]
    assert expected in lines[0]


def _check(outcomes, case) -> None:
    _, name, _, _, expected, guarded = case
    run = outcomes["runs"][name]
    _assert_one_line(run.returncode, run.stdout, run.stderr, expected, name in AFTER_EMBEDDER)
    if guarded:
        assert outcomes["after"][guarded] == outcomes["before"][guarded], f"{guarded} was changed"


def _cases(cls: str) -> list:
    return [pytest.param(case, id=case[1]) for case in CASES if case[0] == cls]


@pytest.mark.parametrize("case", _cases("ckpt"))
def test_a_bad_checkpoint_is_one_line(outcomes, case):
    _check(outcomes, case)


@pytest.mark.parametrize("case", _cases("dataset"))
def test_a_bad_dataset_file_is_one_line(outcomes, case):
    _check(outcomes, case)


@pytest.mark.parametrize("case", _cases("cache"))
def test_a_bad_cache_file_is_one_line_and_left_alone(outcomes, case):
    _check(outcomes, case)


@pytest.mark.parametrize("case", _cases("envfile"))
def test_a_bad_env_file_is_one_line(outcomes, case):
    _check(outcomes, case)


@pytest.mark.parametrize("case", _cases("budget"))
def test_a_bad_budget_source_is_one_line(outcomes, case):
    _check(outcomes, case)


@pytest.mark.parametrize("case", _cases("viewer"))
def test_a_bad_run_dir_for_the_viewer_is_one_line(outcomes, case):
    _check(outcomes, case)


def test_no_bad_file_spends_an_llm_call(outcomes):
    assert outcomes["calls"] == 0


@pytest.mark.parametrize("name,expected", [("ckpt_random", "--ckpt="), ("ckpt_other_belief", "agents.belief_dim=")])
def test_compare_methods_refuses_a_bad_ckpt_before_any_run(tmp_path, name, expected):
    files = _make_files(tmp_path / "files")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "compare_methods.py"),
            "--out",
            str(tmp_path / "out"),
            "--methods",
            "econ",
            "--no-scaling",
            "--limit",
            "2",
            "--n-agents",
            "2",
            "--ckpt",
            str(files[name]),
            *loopback_overrides("http://127.0.0.1:9/v1"),
            *TINY,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    _assert_one_line(done.returncode, done.stdout, done.stderr, expected)
    assert not (tmp_path / "out" / "runs").exists()  # refused before any run started
