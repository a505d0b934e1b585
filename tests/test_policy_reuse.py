"""Logged results are reused on resume only when the same policy and the same prompts made them."""

from __future__ import annotations

from test_perf_contracts import PROBLEMS, RecordingEmbedder, make_runner

from econ.eval.loop import evaluate
from econ.game import prompts
from econ.run.jsonl import JsonlLog


async def _evaluate(loopback, run_dir, policy: str):
    runner = make_runner(loopback, RecordingEmbedder())

    async def play(problem):
        result, _ = await runner.play(problem, "econ", 1)
        return result

    traces = JsonlLog(run_dir / "traces.jsonl")
    try:
        return await evaluate(PROBLEMS[:2], play, "econ", run_dir, traces, 1, policy=policy)
    finally:
        traces.close()
        await runner.client.aclose()


async def test_records_of_another_policy_are_replayed_and_of_the_same_one_reused(loopback, tmp_path):
    await _evaluate(loopback, tmp_path, "weights-a")
    sent = len(loopback.chat_requests())
    await _evaluate(loopback, tmp_path, "weights-a")
    assert len(loopback.chat_requests()) == sent  # resumed: nothing played again
    await _evaluate(loopback, tmp_path, "weights-b")
    assert len(loopback.chat_requests()) == 2 * sent  # another policy: every problem played again


def test_template_fingerprint_changes_with_any_prompt_template(monkeypatch):
    before = prompts.template_fingerprint()
    assert prompts.template_fingerprint() == before
    monkeypatch.setattr(prompts, "EXECUTOR_SYSTEM", prompts.EXECUTOR_SYSTEM + " Be brief.")
    assert prompts.template_fingerprint() != before
    monkeypatch.undo()
    monkeypatch.setattr(prompts, "_tail", lambda text, max_chars=600: text[-max_chars:])
    assert prompts.template_fingerprint() != before
