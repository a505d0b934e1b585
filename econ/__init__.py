"""econ: multi-agent LLM reasoning coordinated through a Bayesian Nash Equilibrium."""

__version__ = "0.1.0"
