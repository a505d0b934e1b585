"""A quiet terminal: third-party tips, deprecation notices and per-request log lines stay out of a run's output.

`quiet_terminal()` runs first in each entry point. What it hides at the default log level:
Lightning's tips (litlogger, litmodels) and accelerator lines, its model summary and its
"module(s) in eval mode" warning (econ's learner keeps its target networks in eval mode on
purpose), deprecation and future warnings raised inside third-party packages (torch's LeafSpec
via Lightning), W&B's notice that the `anonymous` setting Lightning passes has no effect, and
the httpx/httpcore INFO line logged for every HTTP request. Progress bars, econ's own logs,
warnings raised by econ's code and the final table are untouched.

`hydra.verbose=true` (or any `hydra.verbose=<logger>`), or `ECON_VERBOSE=1` in the
environment, keeps everything.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

# Loggers whose INFO lines are chatter, not progress: kept at WARNING.
CHATTY_LOGGERS = (
    "httpx",
    "httpx2",  # the openai SDK's own copy of httpx logs under this name
    "httpcore",
    "httpcore2",
    "lightning.pytorch.utilities.rank_zero",  # tips, "GPU available: False ..."
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.callbacks.model_summary",
    "lightning.pytorch.accelerators.cuda",
)
# Warnings by message: (regex, category).
NOISY_WARNINGS = (
    (r"Found \d+ module\(s\) in eval mode", Warning),
    (r".*LeafSpec.*", FutureWarning),
    (r".*does not have many workers", Warning),  # the learner plays episodes; it has no data loader to widen
)
WANDB_NOTICES = ("The anonymous setting has no effect",)


def verbose_requested(argv: list[str] | None = None) -> bool:
    """True when the command line asks Hydra for verbose logs or ECON_VERBOSE is set."""
    argv = sys.argv[1:] if argv is None else argv
    if os.environ.get("ECON_VERBOSE", "").strip().lower() in {"1", "true", "yes"}:
        return True
    for arg in argv:
        key, _, value = arg.lstrip("+").partition("=")
        if key == "hydra.verbose" and value.strip().lower() not in {"", "false", "null", "none", "[]"}:
            return True
    return False


def quiet_terminal(argv: list[str] | None = None) -> bool:
    """Hide third-party chatter (see the module docstring) unless verbose output was asked for; True if it did."""
    if verbose_requested(argv):
        return False
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern, category in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    # deprecations raised inside third-party packages are theirs to fix, not the user's to read
    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=r"^(?!econ\b)")
    _quiet_wandb_notices()
    return True


def _quiet_wandb_notices() -> None:
    """Drop W&B's terminal notices listed in WANDB_NOTICES (W&B prints them itself, not through logging)."""
    try:
        import wandb
    except ImportError:
        return
    original = wandb.termwarn
    if getattr(original, "econ_quiet", False):
        return

    def termwarn(string, *args, **kwargs):
        if any(notice in str(string) for notice in WANDB_NOTICES):
            return None
        return original(string, *args, **kwargs)

    termwarn.econ_quiet = True
    wandb.termwarn = termwarn
