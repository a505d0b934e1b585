"""Problems and train/test splits for SVAMP, GSM8K, MATH and custom datasets.

Where the problems come from (first that applies):
1. ``dataset.path``: a local file (jsonl/json/csv/tsv/parquet/arrow), a directory
   (HF infers files and splits, or a ``save_to_disk`` folder), or a pattern with
   ``{split}`` (``data/{split}.jsonl``);
2. ``dataset.hub_id`` when ``dataset.offline=false`` (the HF cache and
   ``HF_HUB_OFFLINE`` apply as usual);
3. the files shipped in ``econ/data/files`` (svamp, gsm8k only).
``offline`` defaults to true: no run touches the network unless asked to.

Splits: when the source has both ``train_split`` and ``test_split``, they are
used as they are (GSM8K, SVAMP on the hub). Otherwise (one file, MATH-500's
single test split, ``train_split: null``) the pool is split deterministically:
each problem is ranked by ``sha256(f"{seed}:split:{id}")`` and the first
``round(test_fraction·n)`` go to test. ``validation_fraction`` > 0 then moves the
``round(validation_fraction·n_train)`` train problems ranked first by
``sha256(f"{seed}:validation:{id}")`` to a validation split (for tuning; test stays
untouched). ``limit`` then keeps, per split, the ``limit`` problems ranked first by
``sha256(f"{seed}:limit:{id}")``. All depend only on (seed, id), so they are the
same on every machine and a smaller limit gives a subset of a larger one. Lists
keep source order.

Problems whose question or gold answer is longer than ``max_question_length``
/ ``max_answer_length`` characters are skipped and counted in the log.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from econ.data.answers import format_number, last_boxed, parse_number
from econ.errors import ConfigError, DataError

log = logging.getLogger(__name__)

FILES = Path(__file__).parent / "files"
SHIPPED = {"svamp": str(FILES / "svamp.json"), "gsm8k": str(FILES / "gsm8k_{split}.jsonl")}
NAMES = ("svamp", "gsm8k", "math", "custom")
BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
}


@dataclass(frozen=True)
class Problem:
    id: str  # stable across runs and machines: "svamp:chal-1", "gsm8k:test-0042", "custom:<hash>"
    question: str
    answer: str  # gold FINAL answer ("18", "\\frac{1}{2}")
    dataset: str  # answer-checking kind for answers_match: svamp | gsm8k | math | numeric
    solution: str | None = None  # full gold solution text when the source has one


@dataclass(frozen=True)
class Splits:
    train: list[Problem]
    test: list[Problem]
    validation: list[Problem] = field(default_factory=list)  # carved out of train; empty by default


@dataclass(frozen=True)
class _Spec:
    """The validated `dataset` config node."""

    name: str
    answer_type: str
    path: str | None
    hub_id: str | None
    hub_config: str | None
    offline: bool
    train_split: str | None
    test_split: str
    question_fields: tuple[str, ...]
    answer_field: str
    solution_field: str | None
    id_field: str | None
    test_fraction: float
    validation_fraction: float
    limit: int | None
    max_question_length: int | None
    max_answer_length: int | None

    @property
    def kind(self) -> str:
        return self.name if self.name != "custom" else self.answer_type


def _spec(cfg: Any) -> _Spec:
    def get(key: str, default: Any = None) -> Any:
        return getattr(cfg, key, default) if not isinstance(cfg, dict) else cfg.get(key, default)

    name = get("name")
    if name not in NAMES:
        raise ConfigError(f"dataset.name={name!r}: unknown; use one of {', '.join(NAMES)}")
    answer_type = get("answer_type", "math" if name == "math" else "numeric")
    expected = {"svamp": "numeric", "gsm8k": "numeric", "math": "math"}.get(name, answer_type)
    if answer_type not in ("numeric", "math") or answer_type != expected:
        raise ConfigError(
            f"dataset.answer_type={answer_type!r}: use {expected!r} for dataset.name={name}"
            if answer_type in ("numeric", "math")
            else f"dataset.answer_type={answer_type!r}: use 'numeric' or 'math'"
        )
    fields = get("question_field", "question")
    fields = (fields,) if isinstance(fields, str) else tuple(str(f) for f in fields)
    fraction, limit = get("test_fraction", 0.3), get("limit")
    if not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
        raise ConfigError(f"dataset.test_fraction={fraction}: must be a number in (0, 1]")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ConfigError(f"dataset.limit={limit}: must be a positive integer or null (all)")
    validation = get("validation_fraction", 0.0)
    if not isinstance(validation, (int, float)) or isinstance(validation, bool) or not 0.0 <= validation < 1.0:
        raise ConfigError(f"dataset.validation_fraction={validation}: must be a number in [0, 1) (0 = no validation)")
    return _Spec(
        name=name,
        answer_type=answer_type,
        path=get("path"),
        hub_id=get("hub_id"),
        hub_config=get("hub_config"),
        offline=_flag(get("offline", True), "offline"),
        train_split=get("train_split", "train"),
        test_split=get("test_split", "test"),
        question_fields=fields,
        answer_field=get("answer_field", "answer"),
        solution_field=get("solution_field"),
        id_field=get("id_field"),
        test_fraction=float(fraction),
        validation_fraction=float(validation),
        limit=limit,
        max_question_length=get("max_question_length"),
        max_answer_length=get("max_answer_length"),
    )


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigError(f"dataset.{key}={value!r}: use true or false")


@contextlib.contextmanager
def _quiet_datasets():
    """Hide datasets' per-split progress bars: the files are small and load in well under a second."""
    import datasets

    was_enabled, verbosity = datasets.is_progress_bar_enabled(), datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(logging.CRITICAL)  # its parse errors reach the user as our DataError
    try:
        yield datasets
    finally:
        datasets.logging.set_verbosity(verbosity)
        if was_enabled:
            datasets.enable_progress_bars()


def _read_local(spec: _Spec, path: str) -> tuple[dict, str]:
    """Load a local source as {split: Dataset}; also return the name used in messages."""
    splits = [s for s in (spec.train_split, spec.test_split) if s]
    if "{split}" in path:
        for s in splits:
            if Path(path.format(split=s)).expanduser().is_dir():
                raise DataError(f"dataset.path={path}: {path.format(split=s)} is a directory, not a file")
        files = {s: path.format(split=s) for s in splits if Path(path.format(split=s)).expanduser().is_file()}
        if not files:
            wanted = " or ".join(path.format(split=s) for s in splits)
            raise DataError(f"dataset.path={path}: no such file ({wanted})")
        builder_of = Path(next(iter(files.values()))).suffix.lower()
        data_files = {s: str(Path(f).expanduser()) for s, f in files.items()}
        where = path
    else:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataError(f"dataset.path={path}: no such file or directory")
        where = str(p)
        if p.is_dir():
            with _quiet_datasets() as ds:
                try:
                    if (p / "dataset_dict.json").exists() or (p / "state.json").exists():
                        loaded = ds.load_from_disk(str(p))
                        return (loaded if isinstance(loaded, ds.DatasetDict) else {"data": loaded}), where
                    return dict(ds.load_dataset(str(p))), where
                except Exception as e:  # datasets raises many types; all mean "cannot read"
                    raise DataError(f"dataset.path={path}: cannot read the directory ({_first_line(e)})") from e
        builder_of, data_files = p.suffix.lower(), str(p)
    builder = BUILDERS.get(builder_of)
    if builder is None:
        raise DataError(
            f"dataset.path={path}: unsupported file type {builder_of!r}; use one of {', '.join(sorted(BUILDERS))}"
        )
    kwargs = {"delimiter": "\t"} if builder_of == ".tsv" else {}
    files = data_files.values() if isinstance(data_files, dict) else [data_files]
    for f in files:
        try:
            with open(f, "rb") as handle:  # root reads any file: probe by opening, not by mode bits
                handle.read(1)
        except OSError as e:
            raise DataError(f"dataset.path={f}: cannot read it ({e.strerror}); fix its permissions") from None
        if Path(f).stat().st_size == 0:
            raise DataError(f"dataset.path={f}: the file is empty; it needs rows with the question and answer")
    with _quiet_datasets() as ds:
        try:
            return dict(ds.load_dataset(builder, data_files=data_files, **kwargs)), where
        except Exception as e:
            if "corresponds to no data" in str(e):
                raise DataError(f"dataset.path={path}: no rows; the dataset is empty") from e
            raise DataError(f"dataset.path={path}: cannot parse as {builder_of[1:]} ({_first_line(e)})") from e


def _read_hub(spec: _Spec) -> tuple[dict, str]:
    with _quiet_datasets() as ds:
        try:
            return dict(ds.load_dataset(spec.hub_id, spec.hub_config)), f"hub:{spec.hub_id}"
        except Exception as e:
            raise DataError(
                f"dataset.hub_id={spec.hub_id}: cannot load ({_first_line(e)}); check the id "
                f"or use a local copy with dataset.path=... dataset.offline=true"
            ) from e


def _first_line(e: BaseException) -> str:
    cause = e.__cause__ or e
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0][:200]}" if text else type(cause).__name__


def _absolute(path: str) -> str:
    """Relative paths are relative to where the user ran the command, even if Hydra changed directory."""
    from hydra.utils import to_absolute_path

    return path if Path(path).expanduser().is_absolute() else to_absolute_path(path)


def _read(spec: _Spec) -> tuple[dict, str]:
    if spec.path:
        return _read_local(spec, _absolute(str(spec.path)))
    if not spec.offline and spec.hub_id:
        return _read_hub(spec)
    if spec.name in SHIPPED:
        return _read_local(spec, SHIPPED[spec.name])
    if spec.name == "math":
        raise ConfigError(
            f"dataset=math: no MATH file ships with econ; set dataset.path=<MATH jsonl or dir> "
            f"or dataset.offline=false to download {spec.hub_id or 'HuggingFaceH4/MATH-500'}"
        )
    raise ConfigError(
        f"dataset={spec.name}: set dataset.path=<jsonl/json/csv/parquet file or dir>"
        f" or dataset.hub_id=<HF id> with dataset.offline=false"
    )


def _rank(seed: int, salt: str, problem_id: str) -> str:
    return hashlib.sha256(f"{seed}:{salt}:{problem_id}".encode()).hexdigest()


def _take(problems: list[Problem], n: int, seed: int, salt: str) -> tuple[list[Problem], list[Problem]]:
    """Seeded split of `problems` into (the n ranked first, the rest), both in source order."""
    first = {p.id for p in sorted(problems, key=lambda p: _rank(seed, salt, p.id))[:n]}
    return [p for p in problems if p.id in first], [p for p in problems if p.id not in first]


def _carve_validation(spec: _Spec, train: list[Problem], seed: int, where: str) -> tuple[list[Problem], list[Problem]]:
    """(validation, rest of train): the round(validation_fraction·n) train problems ranked first for the seed."""
    n, fraction = round(spec.validation_fraction * len(train)), spec.validation_fraction
    if not train:
        raise DataError(
            f"dataset.validation_fraction={fraction}: {where} has no train problems to hold out "
            "(test_fraction takes them all); lower dataset.test_fraction"
        )
    if n == 0:
        raise DataError(
            f"dataset.validation_fraction={fraction}: rounds to 0 of the {len(train)} train problems "
            f"of {where}; raise it"
        )
    if n == len(train):
        raise DataError(
            f"dataset.validation_fraction={fraction}: takes all {n} train problems of {where}, "
            f"leaving none to train on; lower it"
        )
    return _take(train, n, seed, "validation")


def _rows_to_problems(spec: _Spec, data: Any, where: str, split: str, official: bool) -> list[Problem]:
    columns = set(data.column_names)
    needed = list(spec.question_fields) + ([spec.id_field] if spec.id_field else [])
    if spec.answer_type == "numeric" or not (spec.solution_field and spec.solution_field in columns):
        needed.append(spec.answer_field)
    for name in needed:
        if name not in columns:
            raise DataError(
                f"{where} [{split}]: no field {name!r}; fields present: {', '.join(sorted(columns))} "
                f"(set dataset.question_field / answer_field / id_field)"
            )
    if len(data) == 0:
        raise DataError(f"{where} [{split}]: no rows; the dataset is empty")
    problems, seen, skipped = [], set(), 0
    width = max(4, len(str(len(data) - 1)))
    try:
        rows = data.to_list()
    except UnicodeDecodeError as e:
        raise DataError(f"{where} [{split}]: not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8") from None
    for i, row in enumerate(rows):
        parts = [row[f] for f in spec.question_fields]
        if any(p is None or not str(p).strip() for p in parts):
            raise DataError(f"{where} [{split}] row {i}: field {spec.question_fields!r} is empty")
        if any(isinstance(p, (list, dict)) for p in parts):
            raise DataError(
                f"{where} [{split}] row {i}: field {spec.question_fields!r} holds a list or object, "
                "not text; point dataset.question_field at the text"
            )
        question = " ".join(str(p).strip() for p in parts)
        solution = row.get(spec.solution_field) if spec.solution_field else None
        answer = _gold(spec, row, solution, where, split, i)
        if (spec.max_question_length and len(question) > spec.max_question_length) or (
            spec.max_answer_length and len(answer) > spec.max_answer_length
        ):
            skipped += 1
            continue
        if spec.id_field:
            pid = f"{spec.name}:{row[spec.id_field]}"
            if pid in seen:
                raise DataError(
                    f"{where} [{split}] row {i}: field {spec.id_field!r} = {row[spec.id_field]!r} "
                    f"repeats an earlier row; ids must be unique (or set dataset.id_field=null)"
                )
        elif official and spec.name != "custom":
            pid = f"{spec.name}:{split}-{i:0{width}d}"
        else:
            digest = hashlib.sha256(f"{question}\x00{answer}".encode()).hexdigest()[:12]
            pid, k = f"{spec.name}:{digest}", 1
            while pid in seen:  # an exact duplicate row
                k += 1
                pid = f"{spec.name}:{digest}~{k}"
        seen.add(pid)
        problems.append(Problem(pid, question, answer, spec.kind, None if solution is None else str(solution)))
    if skipped:
        log.info(
            "%s [%s]: skipped %d of %d problems longer than max_question_length=%s / max_answer_length=%s",
            where,
            split,
            skipped,
            len(data),
            spec.max_question_length,
            spec.max_answer_length,
        )
    return problems


def _gold(spec: _Spec, row: dict, solution: Any, where: str, split: str, i: int) -> str:
    """The gold final answer of one row, as a canonical string."""
    raw = row.get(spec.answer_field)
    if isinstance(raw, (list, dict)):
        raise DataError(
            f"{where} [{split}] row {i}: field {spec.answer_field!r} holds a list or object, not the "
            "final answer; point dataset.answer_field at it"
        )
    if spec.answer_type == "math":
        if raw is not None and str(raw).strip():
            return str(raw).strip()
        boxed = last_boxed(str(solution or ""))
        if boxed is None:
            raise DataError(
                f"{where} [{split}] row {i}: no {spec.answer_field!r} and no \\boxed{{}} in "
                f"{spec.solution_field!r}; add the final answer to the row"
            )
        return boxed
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return format_number(raw)
    text = str(raw if raw is not None else "")
    text = format_number(text.rsplit("####", 1)[1] if "####" in text else text)
    if parse_number(text) is None:
        raise DataError(
            f"{where} [{split}] row {i}: field {spec.answer_field!r} = {text[:40]!r} is not a number "
            f"(dataset.answer_type=numeric); fix the row or set dataset.answer_type=math"
        )
    return text


def load_splits(cfg: Any, seed: int) -> Splits:
    """Train, validation and test problems of the `dataset` config node; same (cfg, seed) → same problems."""
    spec = _spec(cfg)
    source, where = _read(spec)
    available = ", ".join(source) or "none"
    if spec.train_split and spec.train_split in source and spec.test_split in source:
        train = _rows_to_problems(spec, source[spec.train_split], where, spec.train_split, official=True)
        test = _rows_to_problems(spec, source[spec.test_split], where, spec.test_split, official=True)
    else:
        pool_split = (
            spec.test_split if spec.test_split in source else (next(iter(source)) if len(source) == 1 else None)
        )
        if pool_split is None:
            raise DataError(
                f"{where}: no split {spec.test_split!r}; splits present: {available} "
                f"(set dataset.test_split / dataset.train_split)"
            )
        pool = _rows_to_problems(spec, source[pool_split], where, pool_split, official=pool_split == spec.test_split)
        test, train = _take(pool, round(spec.test_fraction * len(pool)), seed, "split")
    if not test:
        raise DataError(
            f"{where}: no test problems left (after max_question_length / max_answer_length); "
            f"raise those limits or dataset.test_fraction"
        )
    validation: list[Problem] = []
    if spec.validation_fraction:
        validation, train = _carve_validation(spec, train, seed, where)
    if spec.limit is not None:
        train, validation, test = (_take(split, spec.limit, seed, "limit")[0] for split in (train, validation, test))
    log.info(
        "%s: %d train / %d validation / %d test problems from %s",
        spec.name,
        len(train),
        len(validation),
        len(test),
        where,
    )
    return Splits(train=train, test=test, validation=validation)
