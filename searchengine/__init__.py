"""searchengine: AutoML search for deep CTR models on Optuna.

One YAML spec describes the data, the backbone, what is searched, the objectives and the
budget; a strategy searches it against one common evaluator, and every candidate is an
Optuna trial.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from searchengine._lazy import lazy_attributes
from searchengine.errors import DataError, SearchEngineError, SpecError, UnknownNameError

if TYPE_CHECKING:
    from searchengine.engine import RunResult, Session, run
    from searchengine.evaluation import Evaluator, Result
    from searchengine.exporting import ExportedModel, load_exported
    from searchengine.searchspace import SearchSpace, load_spec, parse_spec
    from searchengine.spec import Architecture, Spec
    from searchengine.strategies import OneShotStrategy, SamplerStrategy, Strategy

# Imported on first use: torch, pandas and the strategies take seconds to import, and
# `searchengine --help` or `validate` need none of them.
_LAZY = {
    "RunResult": "searchengine.engine",
    "Session": "searchengine.engine",
    "run": "searchengine.engine",
    "Evaluator": "searchengine.evaluation",
    "Result": "searchengine.evaluation",
    "ExportedModel": "searchengine.exporting",
    "load_exported": "searchengine.exporting",
    "Architecture": "searchengine.spec",
    "SearchSpace": "searchengine.searchspace",
    "Spec": "searchengine.spec",
    "load_spec": "searchengine.searchspace",
    "parse_spec": "searchengine.searchspace",
    "OneShotStrategy": "searchengine.strategies",
    "SamplerStrategy": "searchengine.strategies",
    "Strategy": "searchengine.strategies",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "DataError",
    "Evaluator",
    "ExportedModel",
    "OneShotStrategy",
    "Result",
    "RunResult",
    "SamplerStrategy",
    "SearchEngineError",
    "SearchSpace",
    "Session",
    "Spec",
    "SpecError",
    "Strategy",
    "UnknownNameError",
    "load_exported",
    "load_spec",
    "parse_spec",
    "run",
]
