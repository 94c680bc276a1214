"""The search space: the spec loader, the compiler of a spec into decisions, and the
:class:`SearchSpace` that samples and resolves them (the file format itself is
:mod:`searchengine.spec`, one layer down)."""

from searchengine.searchspace.loader import load_spec, parse_spec
from searchengine.searchspace.space import Condition, Decision, SearchSpace

__all__ = [
    "Condition",
    "Decision",
    "SearchSpace",
    "load_spec",
    "parse_spec",
]
