"""An Architecture: one concrete assignment of every decision of a search space."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from searchengine._optuna import MODEL_ATTR, PARENT_ATTR
from searchengine.spec.format import GateKeep, ModelSpec, Spec, TrainSpec

__all__ = ["MODEL_ATTR", "PARENT_ATTR", "SCHEMA_COMMENT", "Architecture"]

#: Trial user attribute holding the concrete ``model`` section of a recorded result that
#: no decision expresses (ESAPN's per-entity sizes); see ``SearchSpace.of_trial``.
#: Trial system attribute: the number of the trial a candidate was derived from (set by
#: evolution's ``dag`` mutation); ``search.fidelity.warm_start`` starts from its weights.

SCHEMA_COMMENT = (
    "# A concrete architecture: no search expressions left; `searchengine run` on this\n"
    "# file trains and measures it as a single trial."
)


@dataclass(frozen=True)
class Architecture:
    """A frozen, fully explicit model + training config: what ``models/`` builds.

    Attributes:
        spec: the spec with every search expression replaced by its value; it round-trips
            through :meth:`to_yaml` and ``searchengine run`` evaluates it as one trial.
        values: the value of each active decision, by decision name.
        params: the same as Optuna stores them (choices that are lists are JSON labels).
    """

    spec: Spec
    values: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def model(self) -> ModelSpec:
        return self.spec.model_or_default()

    @property
    def train(self) -> TrainSpec:
        return self.spec.train

    def field_dims(self, names: list[str]) -> dict[str, int]:
        """The embedding width of each field."""
        dim = self.model.embedding.dim
        if isinstance(dim, Mapping):
            return {n: int(dim[n]) for n in names}
        return dict.fromkeys(names, int(dim))

    def kept_pairs(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The field pairs whose interaction is kept (all of them unless gated)."""
        gate = self.model.interactions.gate
        if isinstance(gate, GateKeep):
            keep = {tuple(p) for p in gate.keep}
            return [p for p in pairs if p in keep]
        return list(pairs)

    def function_params(self) -> dict[str, Any]:
        """Generic searches: every value of ``params``, keyed ``params.<name>``."""
        return {f"params.{k}": v for k, v in (self.spec.params or {}).items()}

    def to_dict(self) -> dict[str, Any]:
        """The concrete spec as plain data: defaults left out, except the backbone, which
        a reader should not have to know the default of."""
        data = self.spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        if self.spec.is_generic:
            return data
        backbone = self.spec.model_or_default().model_dump(mode="json")["backbone"]
        model = {"backbone": backbone, **data.get("model", {})}
        out: dict[str, Any] = {}
        for key, value in data.items():  # the model in its place, after the data
            if key != "model":
                out[key] = value
            if key == "data":
                out["model"] = model
        out.setdefault("model", model)
        return out

    def to_yaml(self) -> str:
        """The concrete spec as YAML that ``searchengine run`` accepts."""
        body = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        return f"{SCHEMA_COMMENT}\n{body}"
