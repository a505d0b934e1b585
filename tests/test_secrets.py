"""API keys never reach a run's outputs: run dir, saved configs, checkpoints, traces, logs, W&B files, error messages."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from econ.config.redaction import redact_text
from econ.devtools import forkrun
from econ.devtools.arithmetic import addition_responder, write_addition_problems
from econ.devtools.loopback import LoopbackServer
from econ.devtools.runs import TINY_RUN, loopback_overrides
from econ.errors import ConfigError
from econ.run.envfile import ENV_FILE_VAR, load_env_file, parse_env_file

# Sentinels that do not look like keys, so only the real redaction (not the key-shape regex) can hide them.
SENTINELS = {
    "OPENAI_API_KEY": "SENTINELopenai7f3c9e1b2d4a",  # given through ECON_ENV_FILE, not the environment
    "TOGETHER_API_KEY": "SENTINELtogether5b8e2c0a9f",
    "WANDB_API_KEY": "SENTINELwandb9d1f4a6c3e7b2d",
    "HF_TOKEN": "SENTINELhf2e7a9c4b1d8f",
}
TINY = TINY_RUN


def _environment(root: Path) -> dict[str, str]:
    """The environment of a run with sentinel keys; OPENAI_API_KEY only through an env file."""
    env_file = root / "keys.env"
    env_file.write_text(f'# test keys\nexport OPENAI_API_KEY="{SENTINELS["OPENAI_API_KEY"]}"\n')
    env = {k: v for k, v in os.environ.items() if k not in SENTINELS and k != "WANDB_MODE"}
    env.update({k: v for k, v in SENTINELS.items() if k != "OPENAI_API_KEY"})
    env.update({ENV_FILE_VAR: str(env_file), "ECON_CACHE_DIR": str(root / "cache")})
    return env


def _leaks(paths: list[Path]) -> list[str]:
    """`file: VARIABLE` for every sentinel found in any file under paths (binary files included)."""
    found = []
    for top in paths:
        for file in [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()):
            data = file.read_bytes()
            found += [f"{file}: {name}" for name, value in SENTINELS.items() if value.encode() in data]
    return found


@pytest.fixture(scope="module")
def sentinel_run(tmp_path_factory):
    """A whole training run (2 episodes, evaluation, W&B offline, a few retried faults) made with sentinel keys."""
    root = tmp_path_factory.mktemp("secrets")
    data = write_addition_problems(root / "data", n_train=2, n_test=2)
    with LoopbackServer(responder=addition_responder, script=["429", "500", "malformed"]) as server:
        args = [
            *loopback_overrides(server.base_url),
            *TINY,
            "dataset=custom",
            f"dataset.path='{data}'",
            "logger=wandb",
            "logger.offline=true",
            "llm.retry_initial_wait_s=0.01",
            f"hydra.run.dir={root / 'run'}",
        ]
        run = forkrun.run("econ.train", args, out_dir=root, env=_environment(root), cwd=root, name="train")
        authorizations = {r.headers.get("authorization") for r in server.requests}
    assert run.returncode == 0, run.stderr[-2000:]
    return root, run, authorizations


def test_key_from_env_file_reaches_the_server(sentinel_run):
    _, _, authorizations = sentinel_run
    assert authorizations == {f"Bearer {SENTINELS['OPENAI_API_KEY']}"}


def test_no_key_in_any_output_of_a_run(sentinel_run):
    root, run, _ = sentinel_run
    assert list((root / "run" / "wandb").rglob("*.wandb"))  # the W&B offline run was written, and is searched
    assert (root / "run" / "last.ckpt").exists() and (root / "run" / ".hydra" / "config.yaml").exists()
    assert _leaks([root / "run", root / "cache", run.stdout_path, run.stderr_path]) == []


class _EchoKeyHandler(BaseHTTPRequestHandler):
    """A server that answers every chat request with an error quoting the caller's Authorization header."""

    status = 400

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self._reply(200, {"object": "list", "data": []})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        quoted = self.headers.get("authorization", "")
        self._reply(self.status, {"error": {"message": f"invalid request from {quoted}", "type": "echo"}})

    def _reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize(("status", "logger"), [(400, "wandb"), (401, "csv")])
def test_key_echoed_by_the_server_is_not_in_the_error(tmp_path, status, logger):
    handler = type("Handler", (_EchoKeyHandler,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        data = write_addition_problems(tmp_path / "data", n_train=1, n_test=1)
        args = [
            *loopback_overrides(f"http://127.0.0.1:{server.server_address[1]}/v1"),
            *TINY,
            "dataset=custom",
            f"dataset.path='{data}'",
            f"logger={logger}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ]
        args += ["logger.offline=true"] if logger == "wandb" else []
        run = forkrun.run("econ.train", args, out_dir=tmp_path, env=_environment(tmp_path), cwd=tmp_path, name="echo")
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 2 and f"{status}" in run.stderr and "Traceback" not in run.stderr
    if logger == "wandb":
        assert list((tmp_path / "run" / "wandb").rglob("*.wandb"))  # the failed W&B run is searched too
    assert _leaks([tmp_path / "run", run.stdout_path, run.stderr_path]) == []


def test_env_file_syntax(tmp_path):
    file = tmp_path / "keys.env"
    file.write_text("# comment\n\nexport A_KEY=one\nB_KEY = 'two words'\nC_KEY=\"three\"\nD_KEY=four # note\n")
    assert parse_env_file(file) == {"A_KEY": "one", "B_KEY": "two words", "C_KEY": "three", "D_KEY": "four"}


def test_exported_variables_win_over_the_env_file(tmp_path):
    file = tmp_path / "keys.env"
    file.write_text("A_KEY=from-file\nB_KEY=from-file\n")
    environ = {ENV_FILE_VAR: str(file), "A_KEY": "exported"}
    assert load_env_file(environ) == ["B_KEY"]
    assert environ["A_KEY"] == "exported" and environ["B_KEY"] == "from-file"


def test_bad_env_file_line_is_named_without_its_content(tmp_path):
    file = tmp_path / "keys.env"
    file.write_text(f"A_KEY=ok\n{SENTINELS['TOGETHER_API_KEY']}\n")
    with pytest.raises(ConfigError) as error:
        load_env_file({ENV_FILE_VAR: str(file)})
    assert "line 2" in str(error.value) and SENTINELS["TOGETHER_API_KEY"] not in str(error.value)


def test_key_read_through_a_custom_variable_is_redacted(monkeypatch):
    monkeypatch.setenv("MY_SERVER_API_KEY", "SENTINELcustom4c2a9e7b")
    assert "SENTINELcustom4c2a9e7b" not in redact_text("401 from server: key SENTINELcustom4c2a9e7b rejected")
