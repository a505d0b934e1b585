"""Dataset loading: shipped SVAMP/GSM8K offline, seeded splits and limits, custom files, errors."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from econ.data import Problem, answers_match, load_splits
from econ.errors import ConfigError, DataError

CONF = Path(__file__).resolve().parents[1] / "conf" / "dataset"
FILES = Path(__file__).resolve().parents[1] / "econ" / "data" / "files"


def dataset_cfg(group: str, **overrides):
    cfg = OmegaConf.load(CONF / f"{group}.yaml")
    return OmegaConf.merge(cfg, overrides)


def ids(problems: list[Problem]) -> list[str]:
    return [p.id for p in problems]


@pytest.fixture(scope="module")
def svamp():
    return load_splits(dataset_cfg("svamp"), seed=0)


@pytest.fixture(scope="module")
def gsm8k():
    return load_splits(dataset_cfg("gsm8k"), seed=0)


# ------------------------------------------------------------------ config group


def test_all_dataset_group_files_share_the_same_keys():
    keys = {name: set(OmegaConf.load(CONF / f"{name}.yaml")) for name in ("svamp", "gsm8k", "math", "custom")}
    assert len({frozenset(k) for k in keys.values()}) == 1


@pytest.mark.parametrize("name", ["svamp", "gsm8k", "math", "custom"])
def test_dataset_group_file_resolves_on_its_own(name):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert OmegaConf.to_container(cfg, resolve=True)["name"] == name


# ------------------------------------------------------------------ SVAMP


def test_svamp_loads_all_1000_problems_offline(svamp):
    assert len(svamp.train) + len(svamp.test) == 1000


def test_svamp_split_follows_test_fraction(svamp):
    assert (len(svamp.train), len(svamp.test)) == (700, 300)


def test_svamp_train_and_test_are_disjoint(svamp):
    assert not set(ids(svamp.train)) & set(ids(svamp.test))


def test_svamp_ids_come_from_the_id_field(svamp):
    all_ids = ids(svamp.train + svamp.test)
    assert "svamp:chal-1" in all_ids
    assert len(set(all_ids)) == 1000


def test_svamp_question_is_body_then_question(svamp):
    raw = next(r for r in json.loads((FILES / "svamp.json").read_text()) if r["ID"] == "chal-1")
    problem = next(p for p in svamp.train + svamp.test if p.id == "svamp:chal-1")
    assert problem.question == raw["Body"] + " " + raw["Question"]


def test_svamp_gold_is_an_integer_string_not_a_float(svamp):
    problem = next(p for p in svamp.train + svamp.test if p.id == "svamp:chal-1")
    assert (problem.answer, problem.dataset) == ("51", "svamp")


def test_svamp_same_seed_gives_same_split(svamp):
    again = load_splits(dataset_cfg("svamp"), seed=0)
    assert (ids(again.train), ids(again.test)) == (ids(svamp.train), ids(svamp.test))


def test_svamp_different_seed_gives_different_split(svamp):
    other = load_splits(dataset_cfg("svamp"), seed=1)
    assert set(ids(other.test)) != set(ids(svamp.test))


def test_svamp_test_fraction_changes_split_sizes():
    splits = load_splits(dataset_cfg("svamp", test_fraction=0.5), seed=0)
    assert (len(splits.train), len(splits.test)) == (500, 500)


def test_svamp_keeps_source_order_within_a_split(svamp):
    order = {r["ID"]: i for i, r in enumerate(json.loads((FILES / "svamp.json").read_text()))}
    positions = [order[p.id.split(":", 1)[1]] for p in svamp.test]
    assert positions == sorted(positions)


# ------------------------------------------------------------------ GSM8K


def test_gsm8k_uses_the_official_splits(gsm8k):
    assert (len(gsm8k.train), len(gsm8k.test)) == (7473, 1319)


def test_gsm8k_ids_are_split_and_row(gsm8k):
    assert gsm8k.test[42].id == "gsm8k:test-0042"
    assert gsm8k.train[0].id == "gsm8k:train-0000"


def test_gsm8k_gold_is_the_number_after_hashes_without_commas(gsm8k):
    with_commas = [p for p in gsm8k.test if "#### 1,450,000" in (p.solution or "")]
    assert [p.answer for p in with_commas] == ["1450000"]


def test_gsm8k_solution_is_the_full_worked_answer(gsm8k):
    first = gsm8k.test[0]
    assert first.solution.endswith("#### 18") and first.answer == "18" and first.dataset == "gsm8k"


def test_gsm8k_loads_fast_once_cached():
    start = time.monotonic()
    load_splits(dataset_cfg("gsm8k"), seed=0)
    load_splits(dataset_cfg("svamp"), seed=0)
    assert time.monotonic() - start < 5.0


# ------------------------------------------------------------------ limit


def test_limit_caps_each_split():
    splits = load_splits(dataset_cfg("gsm8k", limit=20), seed=0)
    assert (len(splits.train), len(splits.test)) == (20, 20)


def test_limit_with_same_seed_gives_same_problems():
    a = load_splits(dataset_cfg("gsm8k", limit=20), seed=5)
    b = load_splits(dataset_cfg("gsm8k", limit=20), seed=5)
    assert ids(a.test) == ids(b.test)


def test_limit_with_other_seed_gives_other_problems():
    a = load_splits(dataset_cfg("gsm8k", limit=20), seed=5)
    b = load_splits(dataset_cfg("gsm8k", limit=20), seed=6)
    assert ids(a.test) != ids(b.test)


def test_smaller_limit_is_a_subset_of_larger_limit():
    small = load_splits(dataset_cfg("svamp", limit=10), seed=2)
    large = load_splits(dataset_cfg("svamp", limit=50), seed=2)
    assert set(ids(small.test)) <= set(ids(large.test))


def test_limit_does_not_move_problems_between_splits():
    full = load_splits(dataset_cfg("svamp"), seed=3)
    limited = load_splits(dataset_cfg("svamp", limit=10), seed=3)
    assert set(ids(limited.test)) <= set(ids(full.test))


# ------------------------------------------------------------------ validation split


@pytest.fixture(scope="module")
def svamp_validation():
    return load_splits(dataset_cfg("svamp", validation_fraction=0.2), seed=0)


def test_no_validation_split_by_default(svamp, gsm8k):
    assert svamp.validation == [] and gsm8k.validation == []


def test_validation_is_a_share_of_train_held_out_of_training(svamp, svamp_validation):
    assert len(svamp_validation.validation) == round(0.2 * len(svamp.train))
    assert sorted(ids(svamp_validation.train + svamp_validation.validation)) == sorted(ids(svamp.train))


def test_validation_problems_never_appear_among_training_problems(svamp_validation):
    assert svamp_validation.validation and svamp_validation.train
    assert not set(ids(svamp_validation.validation)) & set(ids(svamp_validation.train))


def test_validation_is_disjoint_from_test_and_leaves_test_unchanged(svamp, svamp_validation):
    assert not set(ids(svamp_validation.validation)) & set(ids(svamp_validation.test))
    assert ids(svamp_validation.test) == ids(svamp.test)


def test_validation_with_same_seed_gives_same_problems(svamp_validation):
    again = load_splits(dataset_cfg("svamp", validation_fraction=0.2), seed=0)
    assert (ids(again.train), ids(again.validation)) == (ids(svamp_validation.train), ids(svamp_validation.validation))


def test_validation_with_other_seed_gives_other_problems_from_official_train(gsm8k):
    a = load_splits(dataset_cfg("gsm8k", validation_fraction=0.1), seed=0)
    b = load_splits(dataset_cfg("gsm8k", validation_fraction=0.1), seed=1)
    assert set(ids(a.validation)) != set(ids(b.validation))
    assert set(ids(a.validation)) <= set(ids(gsm8k.train)) and ids(a.test) == ids(gsm8k.test)


def test_limit_caps_validation_and_keeps_it_apart_from_train():
    full = load_splits(dataset_cfg("gsm8k", validation_fraction=0.1), seed=4)
    limited = load_splits(dataset_cfg("gsm8k", validation_fraction=0.1, limit=20), seed=4)
    assert (len(limited.train), len(limited.validation), len(limited.test)) == (20, 20, 20)
    assert set(ids(limited.validation)) <= set(ids(full.validation))
    assert set(ids(limited.train)) <= set(ids(full.train))


def test_validation_from_an_empty_train_split_says_test_fraction_took_it_all(tmp_path):
    path = write(tmp_path / "qa.jsonl", ROWS)
    cfg = dataset_cfg(
        "custom",
        path=str(path),
        question_field="prompt",
        answer_field="target",
        id_field="uid",
        test_fraction=1.0,
        validation_fraction=0.2,
    )
    with pytest.raises(DataError) as err:
        load_splits(cfg, seed=0)
    assert "no train problems to hold out" in one_line(err) and "dataset.test_fraction" in one_line(err)


def test_problem_is_immutable(svamp):
    with pytest.raises(dataclasses.FrozenInstanceError):
        svamp.test[0].answer = "0"


# ------------------------------------------------------------------ custom files

ROWS = [{"uid": f"r{i}", "prompt": f"What is {i} plus {i}?", "target": 2 * i, "notes": "x"} for i in range(20)]


def write(path: Path, rows: list[dict]) -> Path:
    frame = pd.DataFrame(rows)
    if path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path)
    return path


def custom_cfg(path, **overrides):
    return dataset_cfg("custom", path=str(path), question_field="prompt", answer_field="target", **overrides)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_custom_file_loads_with_custom_field_names(tmp_path, suffix):
    splits = load_splits(custom_cfg(write(tmp_path / f"qa{suffix}", ROWS), id_field="uid"), seed=0)
    problems = {p.id: p for p in splits.train + splits.test}
    assert len(problems) == 20 and len(splits.test) == 6
    assert problems["custom:r3"].question == "What is 3 plus 3?"
    assert problems["custom:r3"].answer == "6" and problems["custom:r3"].dataset == "numeric"


def test_custom_ids_without_id_field_are_content_hashes(tmp_path):
    path = write(tmp_path / "qa.jsonl", ROWS)
    a = load_splits(custom_cfg(path), seed=0)
    b = load_splits(custom_cfg(path), seed=9)
    assert sorted(ids(a.train + a.test)) == sorted(ids(b.train + b.test))
    assert all(len(i) == len("custom:") + 12 for i in ids(a.test))


def test_custom_duplicate_rows_get_distinct_ids(tmp_path):
    splits = load_splits(custom_cfg(write(tmp_path / "qa.jsonl", ROWS[:3] + ROWS[:3])), seed=0)
    assert len(set(ids(splits.train + splits.test))) == 6


def test_custom_split_pattern_uses_named_files(tmp_path):
    write(tmp_path / "qa_train.jsonl", ROWS[:15])
    write(tmp_path / "qa_test.jsonl", ROWS[15:])
    splits = load_splits(custom_cfg(tmp_path / "qa_{split}.jsonl"), seed=0)
    assert (len(splits.train), len(splits.test)) == (15, 5)


def test_custom_directory_with_split_files_uses_them(tmp_path):
    write(tmp_path / "train.jsonl", ROWS[:12])
    write(tmp_path / "test.jsonl", ROWS[12:])
    splits = load_splits(custom_cfg(tmp_path), seed=0)
    assert (len(splits.train), len(splits.test)) == (12, 8)


def test_custom_question_fields_are_joined_with_a_space(tmp_path):
    rows = [{"a": "Tom has 3 apples.", "b": "How many?", "target": 3}]
    path = write(tmp_path / "qa.jsonl", rows)
    cfg = dataset_cfg("custom", path=str(path), question_field=["a", "b"], answer_field="target", test_fraction=1.0)
    assert load_splits(cfg, seed=0).test[0].question == "Tom has 3 apples. How many?"


def test_custom_math_gold_falls_back_to_last_box_of_solution(tmp_path):
    rows = [{"problem": "Half of one?", "solution": r"First \boxed{2}, no: $\boxed{\frac{1}{2}}$"}]
    path = write(tmp_path / "m.jsonl", rows)
    cfg = dataset_cfg("math", path=str(path), id_field=None, test_fraction=1.0)
    problem = load_splits(cfg, seed=0).test[0]
    assert (problem.answer, problem.dataset) == (r"\frac{1}{2}", "math")
    assert answers_match("0.5", problem.answer, problem.dataset)


def test_math_single_test_split_is_divided_by_test_fraction(tmp_path):
    rows = [{"problem": f"p{i}", "solution": "s", "answer": str(i), "unique_id": f"u{i}"} for i in range(10)]
    (tmp_path / "math").mkdir()
    write(tmp_path / "math" / "test.jsonl", rows)
    splits = load_splits(dataset_cfg("math", path=str(tmp_path / "math")), seed=0)
    assert (len(splits.train), len(splits.test)) == (5, 5)
    assert splits.test[0].id.startswith("math:u")


def test_overlong_problems_are_skipped_and_counted(tmp_path, caplog):
    rows = ROWS[:4] + [{"uid": "long", "prompt": "x" * 100, "target": 1, "notes": ""}]
    path = write(tmp_path / "qa.jsonl", rows)
    with caplog.at_level(logging.INFO, logger="econ.data.datasets"):
        splits = load_splits(custom_cfg(path, max_question_length=50, test_fraction=1.0), seed=0)
    assert len(splits.test) == 4
    assert "skipped 1 of 5" in caplog.text


# ------------------------------------------------------------------ errors


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_missing_file_is_a_data_error_naming_the_path(tmp_path):
    with pytest.raises(DataError) as err:
        load_splits(custom_cfg(tmp_path / "nope.jsonl"), seed=0)
    assert "nope.jsonl: no such file" in one_line(err)


def test_unparsable_file_is_a_data_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok", "target": 1}\n{not json\n')
    with pytest.raises(DataError) as err:
        load_splits(custom_cfg(path), seed=0)
    assert "bad.jsonl: cannot parse as jsonl" in one_line(err)


def test_unsupported_file_type_is_a_data_error(tmp_path):
    path = tmp_path / "qa.txt"
    path.write_text("question answer\n")
    with pytest.raises(DataError) as err:
        load_splits(custom_cfg(path), seed=0)
    assert "unsupported file type '.txt'" in one_line(err)


@pytest.mark.parametrize("content", ["", "[]"])
def test_empty_dataset_is_a_data_error(tmp_path, content):
    path = tmp_path / "empty.json"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        load_splits(custom_cfg(path), seed=0)
    assert "empty" in one_line(err)


def test_missing_question_field_names_it_and_the_fields_present(tmp_path):
    path = write(tmp_path / "qa.jsonl", ROWS)
    with pytest.raises(DataError) as err:
        load_splits(dataset_cfg("custom", path=str(path), answer_field="target"), seed=0)
    assert "no field 'question'; fields present: notes, prompt, target, uid" in one_line(err)


def test_missing_answer_field_names_it(tmp_path):
    path = write(tmp_path / "qa.jsonl", ROWS)
    with pytest.raises(DataError) as err:
        load_splits(dataset_cfg("custom", path=str(path), question_field="prompt"), seed=0)
    assert "no field 'answer'" in one_line(err)


def test_non_numeric_gold_names_file_row_and_field(tmp_path):
    rows = [{"prompt": "a?", "target": "3"}, {"prompt": "b?", "target": "three"}]
    path = write(tmp_path / "qa.jsonl", rows)
    with pytest.raises(DataError) as err:
        load_splits(custom_cfg(path), seed=0)
    message = one_line(err)
    assert "qa.jsonl" in message and "row 1" in message and "'target'" in message and "not a number" in message


def test_math_row_without_answer_or_box_is_a_data_error(tmp_path):
    path = write(tmp_path / "m.jsonl", [{"problem": "p", "solution": "no box here"}])
    with pytest.raises(DataError) as err:
        load_splits(dataset_cfg("math", path=str(path), id_field=None), seed=0)
    assert "row 0" in one_line(err) and "\\boxed{}" in str(err.value)


def test_repeated_id_field_value_is_a_data_error(tmp_path):
    path = write(tmp_path / "qa.jsonl", [ROWS[0], ROWS[0]])
    with pytest.raises(DataError) as err:
        load_splits(custom_cfg(path, id_field="uid"), seed=0)
    assert "row 1" in one_line(err) and "'uid'" in str(err.value)


def test_missing_split_lists_the_splits_present(tmp_path):
    write(tmp_path / "train.jsonl", ROWS[:10])
    write(tmp_path / "validation.jsonl", ROWS[10:])
    with pytest.raises(DataError) as err:
        load_splits(custom_cfg(tmp_path), seed=0)
    assert "no split 'test'; splits present: train, validation" in one_line(err)


def test_unknown_dataset_name_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        load_splits(dataset_cfg("svamp", name="aime"), seed=0)
    assert "dataset.name='aime'" in one_line(err)


def test_math_offline_without_path_says_to_set_path():
    with pytest.raises(ConfigError) as err:
        load_splits(dataset_cfg("math"), seed=0)
    assert "dataset.path=" in one_line(err) and "dataset.offline=false" in str(err.value)


def test_custom_without_path_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        load_splits(dataset_cfg("custom"), seed=0)
    assert "dataset.path=" in one_line(err)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"test_fraction": 0.0}, "dataset.test_fraction"),
        ({"test_fraction": 1.5}, "dataset.test_fraction"),
        ({"limit": 0}, "dataset.limit"),
        ({"limit": "ten"}, "dataset.limit"),
        ({"test_fraction": "x"}, "dataset.test_fraction"),
        ({"answer_type": "math"}, "dataset.answer_type"),
        ({"answer_type": "text"}, "dataset.answer_type"),
        ({"offline": "maybe"}, "dataset.offline"),
        ({"validation_fraction": -0.1}, "dataset.validation_fraction"),
        ({"validation_fraction": 1.0}, "dataset.validation_fraction"),
        ({"validation_fraction": "x"}, "dataset.validation_fraction"),
    ],
)
def test_bad_config_value_is_a_config_error_naming_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_splits(dataset_cfg("svamp", **override), seed=0)
    assert one_line(err).startswith(key)


@pytest.mark.parametrize(("fraction", "expected"), [(0.9, "leaving none to train on"), (0.01, "rounds to 0")])
def test_validation_fraction_that_empties_a_split_is_a_data_error(tmp_path, fraction, expected):
    write(tmp_path / "qa_train.jsonl", ROWS[:3])
    write(tmp_path / "qa_test.jsonl", ROWS[3:5])
    with pytest.raises(DataError) as err:
        load_splits(custom_cfg(tmp_path / "qa_{split}.jsonl", validation_fraction=fraction), seed=0)
    assert one_line(err).startswith(f"dataset.validation_fraction={fraction}") and expected in str(err.value)


def test_plain_attribute_object_works_as_config(tmp_path):
    from types import SimpleNamespace

    cfg = SimpleNamespace(
        name="custom", path=str(write(tmp_path / "qa.csv", ROWS)), question_field="prompt", answer_field="target"
    )
    splits = load_splits(cfg, seed=0)
    assert len(splits.train) + len(splits.test) == 20
