"""searchengine: AutoML search for deep CTR models on Optuna.

One YAML spec describes the data, the backbone, what is searched, the objectives and the
budget; a strategy searches it against one common evaluator, and every candidate is an
Optuna trial.
"""

from searchengine.engine import RunResult, Session, run
from searchengine.errors import DataError, SearchEngineError, SpecError, UnknownNameError
from searchengine.evaluation import Evaluator, Result
from searchengine.exporting import ExportedModel, load_exported
from searchengine.searchspace import Architecture, SearchSpace, Spec, load_spec, parse_spec
from searchengine.strategies import OneShotStrategy, SamplerStrategy, Strategy

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
