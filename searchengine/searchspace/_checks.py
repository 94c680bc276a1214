"""Semantic checks of a spec that need registries or the data's fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from searchengine.errors import SearchEngineError, UnknownNameError, did_you_mean
from searchengine.searchspace.spec import GateKeep

if TYPE_CHECKING:
    from searchengine.searchspace._compile import _Compiler

_DEVICES = ("cpu", "cuda", "auto", "mps")


def declared_fields(c: _Compiler) -> list[tuple[str, str]]:
    """The (name, kind) of every field of the spec's data, without reading rows."""
    from searchengine.data import DATASETS
    from searchengine.data import declared_fields as data_fields

    data = c.spec.data_or_default()
    if data.dataset not in DATASETS:
        c.issue(
            ("data", "dataset"), str(UnknownNameError("dataset", data.dataset, DATASETS.names()))
        )
        return []
    try:
        return [(f.name, f.type) for f in data_fields(data)]
    except SearchEngineError as exc:
        c.issue(("data",), str(exc))
        return []


def _check_names(
    c: _Compiler, loc: tuple[Any, ...], slot: Any, kind: str, known: list[str]
) -> None:
    from searchengine.searchspace._compile import iter_choices

    for rel, value in iter_choices(slot):
        if value not in known:
            c.issue(
                loc + rel,
                f"unknown {kind} {value!r}{did_you_mean(str(value), known)} "
                f"(choices: {', '.join(known)})",
            )


def check_model(c: _Compiler) -> None:
    """Backbone, activation and optimizer names; per-field maps; kept gate pairs; device."""
    from searchengine.evaluation import OPTIMIZERS
    from searchengine.models import ACTIVATIONS, BACKBONES

    model, train = c.spec.model_or_default(), c.spec.train
    _check_names(c, ("model", "backbone"), model.backbone, "backbone", BACKBONES.names())
    _check_names(
        c, ("model", "mlp", "activation"), model.mlp.activation, "activation", sorted(ACTIVATIONS)
    )
    _check_names(c, ("train", "optimizer"), train.optimizer, "optimizer", sorted(OPTIMIZERS))
    names = c.field_names()
    if isinstance(model.embedding.dim, Mapping) and c.fields:
        loc = ("model", "embedding", "dim")
        for key in model.embedding.dim:
            if key not in names:
                c.issue(loc + (key,), f"unknown field {key!r}{did_you_mean(key, names)}")
        missing = [n for n in names if n not in model.embedding.dim]
        if missing:
            c.issue(loc, f"no width for field(s) {', '.join(missing)}")
    if isinstance(model.interactions.gate, GateKeep) and c.fields:
        for i, pair in enumerate(model.interactions.gate.keep):
            for name in pair:
                if name not in names:
                    c.issue(
                        ("model", "interactions", "gate", "keep", i),
                        f"unknown field {name!r}{did_you_mean(name, names)}",
                    )
    device = train.device.split(":")[0]
    if device not in _DEVICES:
        c.issue(
            ("train", "device"), f"expected one of {', '.join(_DEVICES)}, got {train.device!r}"
        )


def check_search(c: _Compiler) -> None:
    """Strategy, objectives, constraints and the pruner."""
    from searchengine.evaluation import metric_direction, metric_names
    from searchengine.strategies import resolve_strategy

    spec = c.spec
    try:
        resolve_strategy(spec.search.strategy)
    except SearchEngineError as exc:
        c.issue(("search", "strategy"), str(exc))
    known = metric_names()
    seen: set[str] = set()
    for i, objective in enumerate(spec.objectives):
        loc = ("objectives", i)
        if objective.metric in seen:
            c.issue(loc + ("metric",), f"{objective.metric!r} is already an objective")
        seen.add(objective.metric)
        if not spec.is_generic and objective.metric not in known:
            c.issue(
                loc + ("metric",),
                f"unknown metric {objective.metric!r}"
                f"{did_you_mean(objective.metric, known)} (choices: {', '.join(known)})",
            )
        elif objective.direction is None and metric_direction(objective.metric) is None:
            c.issue(
                loc + ("direction",),
                f"required: {objective.metric!r} has no natural direction (minimize or maximize)",
            )
    for i, constraint in enumerate(spec.constraints):
        if not spec.is_generic and constraint.metric not in known:
            c.issue(
                ("constraints", i, "metric"),
                f"unknown metric {constraint.metric!r}{did_you_mean(constraint.metric, known)}",
            )
    if spec.search.pruner != "none" and len(spec.objectives) > 1:
        c.issue(("search", "pruner"), "pruners work with a single objective only")
