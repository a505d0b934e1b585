"""Addition problems and a loopback responder that solves them, for end-to-end tests of whole runs.

The responder's executor answers are right or wrong by a hash of the request (messages and
temperature), so a run's results depend on every request it sends: a lost, repeated or
mixed-up call changes them. The seed is left out on purpose: the client retries an empty
completion with seed + 1, and a fault must not change what a healthy server would answer.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

_QUESTION = re.compile(r"What is (\d+) \+ (\d+)\?")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def write_addition_problems(directory: Path, n_train: int, n_test: int, seed: int = 0) -> str:
    """Write addition_{train,test}.jsonl ({"question", "answer"} rows); return the `dataset.path` pattern."""
    rng = random.Random(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        rows = []
        for _ in range(n):
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            rows.append({"question": f"Ann has {a} apples and gets {b} more. What is {a} + {b}?", "answer": a + b})
        (directory / f"addition_{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(directory / "addition_{split}.jsonl")


def addition_responder(request: dict) -> str:
    """Strategy, executor or commitment reply for the prompts econ sends about an addition problem."""
    messages = request.get("messages") or [{}]
    last = str(messages[-1].get("content", ""))
    if "json" in last.lower():  # a commitment: the majority of the solvers' boxed answers
        answers = _BOXED.findall(last.split("</problem>", 1)[-1])
        answer = Counter(answers).most_common(1)[0][0] if answers else "0"
        return json.dumps({"answer": answer, "justification": "Most solvers agree."})
    if "Write a short strategy" in last:
        return "Add the two quantities."
    match = _QUESTION.search(last)
    if match is None:
        return "I cannot read the problem. \\boxed{0}"
    a, b = int(match.group(1)), int(match.group(2))
    request_id = json.dumps([messages, round(float(request.get("temperature", 1.0)), 4)], sort_keys=True)
    wrong = hashlib.sha256(request_id.encode()).digest()[0] < 64  # about one answer in four
    total = a + b + int(wrong)
    return f"{a} plus {b} makes {total}. \\boxed{{{total}}}"
