"""Semantic checks of a spec that need registries or the data's fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from searchengine.errors import SearchEngineError, UnknownNameError, did_you_mean
from searchengine.searchspace._backbones import backbone_names, backbone_traits, is_backbone
from searchengine.spec.backbones import DCNV2_STRUCTURES
from searchengine.spec.format import DynamicSpec, GateKeep

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
    names = [f.name for f in data.fields or ()]
    twice = [i for i, name in enumerate(names) if name in names[:i]]
    for i in twice:  # at the repeated entry's own line, not at `data:`
        c.issue(
            ("data", "fields", i),
            f"field {names[i]!r} is declared twice; declare each field once",
        )
    if twice:
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
    from searchengine.spec.vocabulary import ACTIVATIONS, OPTIMIZERS

    model, train = c.spec.model_or_default(), c.spec.train
    _check_names(c, ("model", "backbone"), model.backbone, "backbone", backbone_names())
    _check_names(
        c, ("model", "mlp", "activation"), model.mlp.activation, "activation", sorted(ACTIVATIONS)
    )
    _check_names(c, ("train", "optimizer"), train.optimizer, "optimizer", sorted(OPTIMIZERS))
    structure, structures = model.dcnv2.structure, list(DCNV2_STRUCTURES)
    _check_names(c, ("model", "dcnv2", "structure"), structure, "structure", structures)
    names = c.field_names()
    if isinstance(model.embedding.dim, Mapping) and c.fields:
        loc = ("model", "embedding", "dim")
        for key in model.embedding.dim:
            if key not in names:
                c.issue(loc + (key,), f"unknown field {key!r}{did_you_mean(key, names)}")
        # multi-size embeddings set the categorical widths (K * chunk); raw fields have none
        from searchengine.spec.vocabulary import literal_raw

        needed = c.field_names("numerical") if model.embedding.multisize else names
        raw = literal_raw(model.embedding.numerical, c.field_names("numerical"))
        missing = [n for n in needed if n not in model.embedding.dim and n not in raw]
        if missing:
            c.issue(loc, f"no width for field(s) {', '.join(missing)}")
    if model.embedding.dynamic is not None and c.fields:
        _check_dynamic(c, model.embedding.dynamic)
    _check_numerical(c, model.embedding)
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


def _check_dynamic(c: _Compiler, dynamic: DynamicSpec) -> None:
    """Dynamic fields must be distinct categorical fields; sizes only for those fields."""
    loc = ("model", "embedding", "dynamic")
    names, categorical = c.field_names(), c.field_names("categorical")
    for i, name in enumerate(dynamic.fields):
        if name not in names:
            c.issue(loc + ("fields", i), f"unknown field {name!r}{did_you_mean(name, names)}")
        elif name not in categorical:
            c.issue(
                loc + ("fields", i),
                f"{name!r} is numerical; dynamic sizes are for categorical fields "
                f"({', '.join(categorical)})",
            )
        elif name in dynamic.fields[:i]:
            c.issue(loc + ("fields", i), f"{name!r} is listed twice")
    for name, sizes in (dynamic.sizes or {}).items():
        if name not in dynamic.fields:
            c.issue(loc + ("sizes", name), f"{name!r} is not one of the dynamic fields")
        bad = sorted({s for s in sizes if s not in dynamic.candidates})
        if bad:
            c.issue(
                loc + ("sizes", name),
                f"sizes must be candidates {dynamic.candidates}, got {bad[:5]}",
            )


def _check_numerical(c: _Compiler, embedding: Any) -> None:
    """Numerical method, bucket method and aggregation names; a method map names
    numerical fields; a literal ``topk`` is at most a literal ``meta``."""
    from searchengine.spec.vocabulary import AGGREGATIONS, BUCKET_METHODS, NUMERICAL_METHODS

    loc, kind = ("model", "embedding"), "numerical method"
    chosen = embedding.numerical
    if isinstance(chosen, Mapping):
        numerical = c.field_names("numerical")
        for key, method in chosen.items():
            if c.fields and key not in numerical:
                c.issue(
                    loc + ("numerical", key),
                    f"{key!r} is categorical; only numerical fields ({', '.join(numerical)}) "
                    "have a method"
                    if key in c.field_names()
                    else f"unknown numerical field {key!r}{did_you_mean(key, numerical)}",
                )
            _check_names(c, loc + ("numerical", key), method, kind, NUMERICAL_METHODS)
    else:
        _check_names(c, loc + ("numerical",), chosen, kind, NUMERICAL_METHODS)
    bucket, autodis = embedding.bucket, embedding.autodis
    _check_names(c, loc + ("bucket", "method"), bucket.method, "bucket method", BUCKET_METHODS)
    _check_names(
        c, loc + ("autodis", "aggregation"), autodis.aggregation, "aggregation", AGGREGATIONS
    )
    k, h = autodis.topk, autodis.meta
    if isinstance(k, int) and isinstance(h, int) and k > h:
        c.issue(loc + ("autodis", "topk"), f"topk ({k}) must be at most meta ({h})")


def check_search(c: _Compiler) -> None:
    """Objectives, constraints and the pruner (the strategy's name is the strategies'
    to check: :func:`searchengine.strategies.strategy_name_issues`)."""
    from searchengine.evaluation import metric_direction, metric_names

    spec = c.spec
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
    if not spec.is_generic:
        _check_flops(c)


def _check_flops(c: _Compiler) -> None:
    """An objective or constraint on ``flops`` needs backbones that count them."""
    spec = c.spec
    where = [("objectives", i) for i, o in enumerate(spec.objectives) if o.metric == "flops"]
    where += [("constraints", i) for i, k in enumerate(spec.constraints) if k.metric == "flops"]
    _, names, _ = c.backbones()
    lacking = [n for n in names if is_backbone(n) and not backbone_traits(n).reports_flops]
    if not lacking:
        return
    counting = [n for n in backbone_names() if backbone_traits(n).reports_flops]
    for loc in where:
        c.issue(
            loc + ("metric",),
            f"`flops` is counted by backbone(s) {', '.join(counting)} only, "
            f"not by {', '.join(lacking)}",
        )


def raw_name_issues(data: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """The registered names of a spec that failed validation, checked on its raw data.

    When pydantic rejects a spec, the compiler's name checks never run; these repeat the
    ones that need no valid spec (dataset, backbone, metrics), with the same
    messages, so one report holds every problem of the file.
    """
    from searchengine.data import DATASETS
    from searchengine.evaluation import metric_names

    out: list[tuple[tuple[Any, ...], str]] = []

    def section(key: str) -> Mapping[str, Any]:
        value = data.get(key)
        return value if isinstance(value, Mapping) else {}

    dataset = section("data").get("dataset")
    if isinstance(dataset, str) and dataset not in DATASETS:
        out.append(
            (("data", "dataset"), str(UnknownNameError("dataset", dataset, DATASETS.names())))
        )
    backbone = section("model").get("backbone")
    known = backbone_names()
    choices = backbone.get("choice") if isinstance(backbone, Mapping) else None
    candidates = (
        [((), backbone)] if isinstance(backbone, str)
        else [(("choice", i), v) for i, v in enumerate(choices)] if isinstance(choices, list)
        else []
    )  # fmt: skip
    for rel, value in candidates:
        if isinstance(value, str) and value not in known:
            out.append(
                (("model", "backbone", *rel),
                 f"unknown backbone {value!r}{did_you_mean(value, known)} "
                 f"(choices: {', '.join(known)})")
            )  # fmt: skip
    if "evaluator" not in data:
        metrics = metric_names()
        for key in ("objectives", "constraints"):
            items = data.get(key)
            for i, item in enumerate(items if isinstance(items, list) else []):
                metric = item.get("metric") if isinstance(item, Mapping) else None
                if isinstance(metric, str) and metric not in metrics:
                    choices_text = (
                        f" (choices: {', '.join(metrics)})" if key == "objectives" else ""
                    )
                    out.append(
                        ((key, i, "metric"),
                         f"unknown metric {metric!r}{did_you_mean(metric, metrics)}{choices_text}")
                    )  # fmt: skip
    return out
