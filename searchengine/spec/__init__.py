"""The spec file format, the bottom layer: models of the YAML file, search expressions,
the resolved :class:`Architecture`, and the JSON Schema for editors.

Everything above reads it (data, models, evaluation, the search space compiler); it
imports nothing of the package but :mod:`searchengine.errors`.
"""

from searchengine.spec.architecture import Architecture
from searchengine.spec.expressions import ChoiceExpr, Expr, FloatExpr, IntExpr
from searchengine.spec.format import Spec
from searchengine.spec.schema import spec_json_schema

__all__ = [
    "Architecture",
    "ChoiceExpr",
    "Expr",
    "FloatExpr",
    "IntExpr",
    "Spec",
    "spec_json_schema",
]
