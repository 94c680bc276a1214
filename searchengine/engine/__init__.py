"""The engine: owns a run from the spec to its results.

``run(spec)`` compiles the spec's space, opens (or resumes) its Optuna study
(:mod:`.study`), and lets the strategy drive it through a :class:`Session`
(:mod:`.session`) until the trial budget, counted over the whole study, or the timeout is
spent (:mod:`.loop`); local worker processes (:mod:`.workers`), the storages
(:mod:`.storage`), trials of dead workers (:mod:`.stale`), progress lines
(:mod:`.progress`), the result files (:mod:`.results`) and finished runs
(:mod:`.runs`) are its other parts. Nothing below the engine imports it: strategies see
the session through :class:`searchengine.strategies.Session`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from searchengine._lazy import lazy_attributes

if TYPE_CHECKING:
    from searchengine.engine.loop import RunResult, finish, prepare_data, run
    from searchengine.engine.session import Session
    from searchengine.engine.study import (
        budget_used,
        constraint_key,
        directions,
        open_study,
        storage_options,
    )

# The loop and the session import the evaluator (torch): on first use only, so that
# `validate` can use the engine's data checks without loading torch.
_LAZY = {
    **dict.fromkeys(["RunResult", "finish", "prepare_data", "run"], "searchengine.engine.loop"),
    "Session": "searchengine.engine.session",
    **dict.fromkeys(
        [
            "budget_used",
            "constraint_key",
            "directions",
            "open_study",
            "storage_options",
        ],
        "searchengine.engine.study",
    ),
}

__getattr__ = lazy_attributes(__name__, _LAZY, globals())

__all__ = [
    "RunResult",
    "Session",
    "budget_used",
    "constraint_key",
    "directions",
    "finish",
    "open_study",
    "prepare_data",
    "run",
    "storage_options",
]
