"""The embedded model serves concurrent calls together: each reply is what that request gets alone, every run."""

from __future__ import annotations

import asyncio

import pytest

from econ.errors import LLMError
from econ.game import prompts
from econ.llm import LLMClient, Sampling
from econ.llm.base import multiplicative_penalty
from econ.llm.local import LocalLlamaBackend

QUESTION = "Tom has 3 apples and buys 5 more. How many apples does he have?"
EXECUTOR = prompts.executor_messages(QUESTION, "Add the two numbers.")
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
# one round's worth of calls: three executors on one prompt with their own (T, p, seed), a strategy, a commitment
BATCH = [
    (EXECUTOR, Sampling(0.2, 0.9, 0.0, 12, 1), None),
    (EXECUTOR, Sampling(1.6, 0.9, 0.9, 12, 2), None),
    (EXECUTOR, Sampling(0.9, 0.9, 0.4, 12, 3), None),
    (prompts.strategy_messages(QUESTION), Sampling(0.7, 0.9, 0.0, 10, 4), None),
    (prompts.solver_messages(QUESTION), Sampling(0.5, 0.9, 0.0, 12, 5), SCHEMA),
]


@pytest.fixture(scope="module")
def backend() -> LocalLlamaBackend:
    return LocalLlamaBackend(n_ctx=512, n_threads=1, n_parallel=4)


async def _batch(backend, batch=BATCH) -> list[str]:
    replies = await asyncio.gather(*(backend.complete(m, s, json_schema=j) for m, s, j in batch))
    return [reply.text for reply in replies]


async def test_each_reply_in_a_batch_is_what_its_request_gets_alone_on_a_fresh_model(backend):
    """Per-request sampling is honoured exactly (tolerance: none): different T, p, seeds and a schema in one batch."""
    from llama_cpp import Llama

    together = await _batch(backend)
    alone = Llama(model_path=backend.path, n_ctx=512, n_threads=1, verbose=False)
    for (messages, sampling, schema), text in zip(BATCH, together):
        alone.reset()  # no prompt re-use from the previous call: a freshly loaded model's reply
        out = alone.create_chat_completion(
            messages=messages,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed,
            repeat_penalty=multiplicative_penalty(sampling.repetition_penalty),
            response_format=None if schema is None else {"type": "json_object", "schema": schema},
        )
        assert text == out["choices"][0]["message"]["content"]
    assert len(set(together[:3])) == 3  # the three executors really sampled differently


async def test_the_thread_count_changes_no_reply(backend):
    """Two threads (a step with one sequence runs on one, steps with more on two) give one thread's replies."""
    two = LocalLlamaBackend(n_ctx=512, n_threads=2, n_parallel=4)
    assert await _batch(two) == await _batch(backend)
    alone = [(await two.complete(m, s, json_schema=j)).text for m, s, j in BATCH[:2]]
    assert alone == (await _batch(backend))[:2]


async def test_same_seeds_and_same_concurrent_batch_give_the_same_text_every_run(backend):
    first = await _batch(backend)
    again = await _batch(backend)
    shuffled = await _batch(backend, BATCH[::-1])
    assert again == first and shuffled[::-1] == first


async def test_identical_prompts_of_a_round_are_evaluated_once(backend):
    from econ.llm.local import _engine

    engine = _engine(backend.path, backend.n_ctx, backend.n_parallel, backend.n_threads, backend.repack_weights)
    before = engine.prompt_tokens_evaluated
    replies = await asyncio.gather(
        *(backend.complete(EXECUTOR, Sampling(0.8, 0.9, 0.0, 4, seed)) for seed in (7, 8, 9))
    )
    after_round = engine.prompt_tokens_evaluated
    assert after_round - before <= replies[0].prompt_tokens  # once (or not at all if an earlier test left it)
    await asyncio.gather(*(backend.complete(EXECUTOR, Sampling(0.8, 0.9, 0.0, 4, seed)) for seed in (10, 11, 12)))
    assert engine.prompt_tokens_evaluated == after_round  # still in the cache: nothing evaluated again


async def test_a_prompt_longer_than_the_context_fails_alone_with_one_line(backend):
    long = prompts.executor_messages(QUESTION + " And then?" * 200, "Add.")
    batch = [BATCH[0], (long, Sampling(0.5, 0.9, 0.0, 8, 1), None), BATCH[3]]
    replies = await asyncio.gather(
        *(backend.complete(m, s, json_schema=j) for m, s, j in batch), return_exceptions=True
    )
    assert isinstance(replies[1], LLMError)
    message = str(replies[1])
    assert "\n" not in message and "model.n_ctx" in message and "exceed context window of 512" in message
    assert [replies[0].text, replies[2].text] == [t for i, t in enumerate(await _batch(backend)) if i in (0, 3)]


async def test_the_client_lets_a_whole_round_reach_the_engine_at_once(backend):
    client = LLMClient(backend, max_concurrency=1, max_retries=0)
    assert client.max_concurrency == backend.n_parallel  # a rate-limit cap means nothing in-process


@pytest.fixture(scope="module")
def k_quant_gguf(tmp_path_factory) -> str:
    """The shipped SmolLM2 requantized to Q4_K_M (seconds): a K-quant model, as most GGUFs people run are."""
    import llama_cpp

    from econ.llm.local import embedded_gguf_path

    path = tmp_path_factory.mktemp("gguf") / "smollm2-q4_k_m.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.allow_requantize = True
    assert llama_cpp.llama_model_quantize(str(embedded_gguf_path()).encode(), str(path).encode(), params) == 0
    return str(path)


async def test_a_k_quant_models_replies_do_not_depend_on_the_calls_decoded_with_them(k_quant_gguf):
    """Weights as stored (the default): a round of 4 is what each call gives alone (repacked ones broke that)."""
    backend = LocalLlamaBackend(k_quant_gguf, n_ctx=512, n_threads=2, n_parallel=4)
    for question in (QUESTION, "A shop sold 12 pens on Monday and 9 on Tuesday. How many pens did it sell?"):
        messages = prompts.executor_messages(question, "Work out the quantities, then combine them.")
        samplings = [Sampling(0.3 + 0.4 * i, 0.9, 0.2 * i, 32, 100 + i) for i in range(4)]
        together = await asyncio.gather(*(backend.complete(messages, s) for s in samplings))
        alone = [await backend.complete(messages, s) for s in samplings]
        assert [r.text for r in together] == [r.text for r in alone]


def test_repacked_weights_have_a_cache_key_of_their_own(k_quant_gguf):
    stored = LocalLlamaBackend(k_quant_gguf, n_parallel=4)
    repacked = LocalLlamaBackend(k_quant_gguf, n_parallel=4, repack_weights=True)
    assert stored.cache_salt == repacked.cache_salt + "|weights=stored"


@pytest.mark.parametrize(("cores", "expected"), [(1, 4), (2, 4), (3, 6), (16, 6)])
def test_the_default_parallelism_stays_where_replies_were_measured_batch_independent(cores, expected):
    from econ.llm.local import default_parallel

    assert default_parallel(cores) == expected
