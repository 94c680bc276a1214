"""The spec language: models of the YAML file, search expressions, and the SearchSpace."""

from searchengine.searchspace.architecture import Architecture
from searchengine.searchspace.expressions import ChoiceExpr, Expr, FloatExpr, IntExpr
from searchengine.searchspace.loader import load_spec, parse_spec
from searchengine.searchspace.schema import spec_json_schema
from searchengine.searchspace.space import Condition, Decision, SearchSpace
from searchengine.searchspace.spec import Spec

__all__ = [
    "Architecture",
    "ChoiceExpr",
    "Condition",
    "Decision",
    "Expr",
    "FloatExpr",
    "IntExpr",
    "SearchSpace",
    "Spec",
    "load_spec",
    "parse_spec",
    "spec_json_schema",
]
