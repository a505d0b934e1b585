"""The commitment prompt grows with the number of solvers, never with the length of their answers."""

from __future__ import annotations

from econ.game import prompts


def _solution(words: int, value: int) -> str:
    return " ".join(["step"] * words) + f" So the answer is \\boxed{{{value}}}."


def test_commitment_prompt_shows_each_answer_and_its_last_step_but_not_the_whole_reasoning():
    short = prompts.commitment_messages("Q?", "Add.", [_solution(10, 7), _solution(10, 8)])[-1]["content"]
    long = prompts.commitment_messages("Q?", "Add.", [_solution(2000, 7), _solution(2000, 8)])[-1]["content"]
    assert "Solver 1: final answer 7;" in long and "Solver 2: final answer 8;" in long
    assert "\\boxed{8}" in long  # the last step is there, where the result is
    assert len(long) - len(short) <= 2 * 260  # bounded per solver, whatever the answers' length


def test_commitment_prompt_says_when_a_solver_gave_no_answer():
    content = prompts.commitment_messages("Q?", "Add.", ["I am not sure."])[-1]["content"]
    assert "Solver 1: final answer (none); last step: I am not sure." in content


def test_a_long_boxed_answer_is_clipped_to_one_bounded_line():
    derivation = "\\boxed{" + "\n".join(["x + 1 = 2"] * 400) + "}"
    content = prompts.commitment_messages("Q?", "Add.", [derivation])[-1]["content"]
    short = prompts.commitment_messages("Q?", "Add.", ["\\boxed{2}"])[-1]["content"]
    assert len(content) - len(short) <= 83 + 243  # clipped answer + clipped last step
    assert len(content.splitlines()) == len(short.splitlines())  # the solver still takes one line
