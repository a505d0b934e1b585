"""Default prices (USD per million tokens) of Together's serverless models, looked up by model name.

conf/model/together.yaml reads them through the `econ_together_price` resolver, so `model.model=<another
model>` brings that model's price along; a model missing here has no default (null: no cost is reported)
until the config sets `price_per_mtok_in` / `price_per_mtok_out`. Prices change: the source and the date
read are in conf/model/together.yaml; a run records the prices it used in results.json (usage.by_model).
"""

from __future__ import annotations

# model -> (per million input tokens, per million output tokens), USD, serverless
TOGETHER_PRICES: dict[str, tuple[float, float]] = {
    "meta-llama/Llama-3.3-70B-Instruct-Turbo": (0.88, 0.88),
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo": (0.88, 0.88),
    "meta-llama/Meta-Llama-3-70B-Instruct-Turbo": (0.88, 0.88),
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo": (0.18, 0.18),
}


def together_price(model: str, direction: str) -> float | None:
    """The default price of `model` for `direction` "in" or "out"; None when the table has no entry."""
    prices = TOGETHER_PRICES.get(str(model))
    if prices is None:
        return None
    return prices[0] if direction == "in" else prices[1]
