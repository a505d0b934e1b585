"""Where the viewer finds each field of a run's files: a rename upstream is a one-line change here.

Every name is a tuple of aliases tried in order; the first present, non-null value wins, so older
runs (field absent) and newer ones (field renamed) both read. Nothing else in econ.view spells a
field of traces.jsonl, results.json or metrics.csv.
"""

from __future__ import annotations

from typing import Any

# ---- a trace line (one episode, econ/game/records.py: EpisodeResult, plus "kind" and "episode")
KIND = ("kind",)
EPISODE = ("episode",)
METHOD = ("method",)
PROBLEM_ID = ("problem_id",)
GOLD = ("gold",)
STRATEGY = ("strategy",)
STRATEGY_LEAK = ("strategy_leak",)
ROUNDS = ("rounds",)
FINAL_ANSWER = ("final_answer",)
CORRECT = ("correct",)
CONVERGED = ("converged",)
EPISODE_STOP_REASON = ("stop_reason",)
EPISODE_REWARD_TERMS = ("reward_terms",)
PROMPT_TOKENS = ("prompt_tokens",)
COMPLETION_TOKENS = ("completion_tokens",)
LLM_CALLS = ("llm_calls",)
CACHE_HITS = ("cache_hits",)
WALL_S = ("wall_s",)
CALLS = ("calls",)
COST_USD = ("cost_usd",)

# ---- a round (RoundRecord)
ROUND_INDEX = ("round",)
ACTIONS = ("actions",)  # (N, 2) [T, p]
BELIEF_NORMS = ("belief_norms",)
ANSWERS = ("answers",)
COMMITMENT = ("commitment",)
COMMITMENT_JSON_OK = ("commitment_json_ok",)
COMMITMENT_FALLBACK = ("commitment_fallback",)
RESIDUAL = ("residual",)
COMMITMENT_CHANGED = ("commitment_changed",)
BEST_RESPONSE_GAP = ("best_response_gap", "br_gap", "epsilon")  # per executor, or one number
ROUND_STOP_REASON = ("stop_reason",)
ROUND_REWARD_TERMS = ("reward_terms",)
GROUPS = ("groups",)
COMMITMENT_LEVELS = ("commitment_levels",)

# ---- a call (Call)
CALL_ROLE = ("role",)
CALL_ROUND = ("round",)
CALL_AGENT = ("agent",)
CALL_MESSAGES = ("messages",)
CALL_TEXT = ("text",)
CALL_PROMPT_TOKENS = ("prompt_tokens",)
CALL_COMPLETION_TOKENS = ("completion_tokens",)
CALL_CACHED = ("cached",)
CALL_GROUP = ("group",)
CALL_LEVEL = ("level",)

# ---- results.json
RESULTS_METHODS = ("methods",)
RESULTS_SPLIT = ("eval_split",)
RESULTS_DATASET = ("dataset",)
RESULTS_MODEL = ("model",)
RESULTS_N_AGENTS = ("n_agents",)
RESULTS_USAGE = ("usage",)
RESULTS_CONFIG = ("config",)
RESULTS_BASELINE = ("baseline",)
RESULTS_ALPHA = ("alpha",)
RESULTS_TRAIN_EPISODES = ("train_episodes",)

# ---- a method's summary in results.json (econ/eval/report.py: summarize, plus fields being added)
SUMMARY_COLUMNS: dict[str, tuple[str, ...]] = {  # page column -> aliases, in the table's order
    "n": ("n",),
    "accuracy": ("accuracy",),
    "accuracy_ci95": ("accuracy_ci95",),
    "paired": ("vs_econ", "paired", "paired_vs_econ", "paired_difference"),
    "parse_rate": ("parse_rate",),
    "commitment_json_rate": ("commitment_json_rate",),
    "commitment_fallback_rate": ("commitment_fallback_rate",),
    "strategy_leak_rate": ("strategy_leak_rate",),
    "mean_rounds": ("mean_rounds",),
    "converged_rate": ("converged_rate",),
    "stop_reasons": ("stop_reasons",),
    "best_response_gap": ("best_response_gap", "br_gap"),
    "sampling": ("sampling",),
    "tokens_per_problem": ("tokens_per_problem",),
    "prompt_tokens": ("prompt_tokens",),
    "completion_tokens": ("completion_tokens",),
    "llm_calls_per_problem": ("llm_calls_per_problem",),
    "cache_hits": ("cache_hits",),
    "wall_s": ("wall_s",),
    "cost_usd": ("cost_usd", "cost"),
}

# summary fields the page knows and does not show (a fingerprint for resume, a total the table has per problem)
SUMMARY_HIDDEN = ("policy", "llm_calls", "cost_usd_per_problem")

# ---- metrics.csv: long rows; the prefixes the training plots show
METRICS_COLUMNS = ("step", "metric", "value")
METRIC_PREFIXES = ("train/", "alpha/", "loss/")

# ---- compare.csv (experiments/compare_methods.py)
COMPARE_METHOD = ("method",)
COMPARE_LABEL = ("label",)
COMPARE_BUDGET = ("budget",)

# ---- config (config_resolved.yaml or results.json "config")
CONFIG_DATASET_NAME = ("dataset", "name")
CONFIG_ANSWER_TYPE = ("dataset", "answer_type")


def pick(record: Any, names: tuple[str, ...], default: Any = None) -> Any:
    """The first alias of `names` present and not None in the dict `record`, else `default`."""
    if not isinstance(record, dict):
        return default
    for name in names:
        value = record.get(name)
        if value is not None:
            return value
    return default


def nested(record: Any, path: tuple[str, ...], default: Any = None) -> Any:
    """record[path[0]][path[1]]...; `default` when any step is missing."""
    for key in path:
        if not isinstance(record, dict) or record.get(key) is None:
            return default
        record = record[key]
    return record
