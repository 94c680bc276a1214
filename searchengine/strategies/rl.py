"""``rl`` and ``nis``: a REINFORCE controller (NAS-RL, ENAS) with the NIS reward.

``rl`` is black-box: :class:`~searchengine.strategies._rl.ControllerSampler` is the
study's Optuna sampler and every candidate is trained by the Evaluator. ``nis`` is the
one-shot form (NIS, ENAS): it trains one shared supernet while the controller samples,
then retrains and records the controller's most probable architecture (see
``_rl.sharing``). ``rl`` with ``search.options.weight_sharing: true`` names ``nis`` (the
spelling of earlier specs): the options pick the class, an instance never changes family.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from searchengine.errors import SpecError
from searchengine.strategies.base import (
    STRATEGIES,
    OneShotStrategy,
    SamplerStrategy,
    Session,
    Strategy,
)

# the controller (torch) is imported where used: listing strategies must not load it
if TYPE_CHECKING:
    import optuna

    from searchengine.searchspace import SearchSpace
    from searchengine.strategies._rl import ControllerSampler, ControllerSettings

__all__ = ["ControllerSampler", "NISOptions", "NISStrategy", "RLOptions", "RLStrategy"]

_log = logging.getLogger(__name__)


class RLOptions(BaseModel):
    """``search.options`` of ``rl``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    controller: Literal["lstm", "mlp"] = Field(
        "lstm", description="lstm (NAS-RL/ENAS) or mlp (small spaces) policy."
    )
    hidden: int | None = Field(
        None, ge=4, le=1024, description="The policy's width (default: 64 lstm, 16 mlp)."
    )
    lr: float | None = Field(
        None,
        gt=0.0,
        description="The policy's Adam learning rate (default 0.02; 0.005 with weight "
        "sharing, which updates it every step).",
    )
    entropy_weight: float = Field(0.01, ge=0.0, description="Entropy bonus per decision.")
    baseline_decay: float = Field(
        0.9, ge=0.0, lt=1.0, description="Decay of the moving-average reward baseline."
    )
    logit_clip: float | None = Field(
        2.5, gt=0.0, description="Logits are c*tanh(logits/c) (ENAS); null: unbounded."
    )
    batch: int = Field(
        1, ge=1, description="Trials (weight sharing: steps) per controller update."
    )
    bins: int = Field(16, ge=2, le=1024, description="Actions of a float or wide int decision.")
    cost_weight: float | None = Field(
        None,
        ge=0.0,
        description="lambda of the NIS reward R = objective - lambda * S * cost / reference "
        "(S: see cost_scale; below 1, the cost breaks ties of the objective and never "
        "outweighs a difference larger than its spread); null: the spec's objectives are "
        "scalarized instead.",
    )
    cost_scale: Literal["spread", "absolute"] = Field(
        "spread",
        description="S of the NIS reward: spread, the standard deviation of the objective "
        "over the last 256 rewarded candidates; absolute: 1 (the NIS paper's reward, in "
        "the objective's units).",
    )
    cost_metric: str = Field("embedding_params", description="The cost of the NIS reward.")
    cost_reference: float | None = Field(
        None, gt=0.0, description="The cost's reference (default: the full-size architecture's)."
    )
    objective_weights: list[float] | None = Field(
        None, description="Weights of the scalarized objectives (default: equal)."
    )
    weight_sharing: bool = Field(
        False, description="One-shot: train a shared supernet while the controller samples."
    )
    supernet_epochs: int | None = Field(
        None, ge=1, description="Weight sharing: epochs of the supernet (default train.epochs)."
    )
    warmup_epochs: float | None = Field(
        None,
        ge=0.0,
        description="Weight sharing: epochs the supernet trains before the controller "
        "learns (default: half of the supernet's epochs, so that rewards compare trained "
        "shared weights).",
    )
    reward_batch: int = Field(2048, ge=16, description="Weight sharing: validation rows/reward.")


def _controller_settings(o: RLOptions) -> ControllerSettings:
    """The options as the controller's settings."""
    from searchengine.strategies._rl import ControllerSettings, LearnerSettings

    lr = o.lr if o.lr is not None else (0.005 if o.weight_sharing else 0.02)
    learner = LearnerSettings(lr, o.entropy_weight, o.baseline_decay)
    weights = tuple(o.objective_weights) if o.objective_weights is not None else None
    return ControllerSettings(
        o.controller, o.hidden or (16 if o.controller == "mlp" else 64), o.logit_clip,
        learner, o.batch, o.bins,
        o.cost_weight, o.cost_metric, weights, o.cost_scale,
    )  # fmt: skip


def _check_weights(o: RLOptions, space: SearchSpace) -> None:
    n = len(space.spec.objectives)
    if o.objective_weights is not None and len(o.objective_weights) != n:
        raise SpecError(
            f"search.options.objective_weights: expected {n} values (one per objective), "
            f"got {len(o.objective_weights)}"
        )


@STRATEGIES.register("rl")
class RLStrategy(SamplerStrategy[RLOptions]):
    """A REINFORCE controller over every decision of the space (black-box).

    :meth:`sampler` returns a ``ControllerSampler``; the engine's loop asks, evaluates
    and tells trials, and the controller learns from them. Its state is rebuilt from the
    study's trials, so resumed runs and workers continue it. With ``weight_sharing:
    true`` the options describe the one-shot search of :class:`NISStrategy`, which
    :meth:`for_options` returns, so a spec may keep saying ``strategy: rl``.
    """

    name = "rl"
    description = "REINFORCE controller (LSTM/MLP), NIS cost reward; weight_sharing: see nis"
    Options = RLOptions

    @classmethod
    def for_options(cls, options: BaseModel) -> type[Strategy]:
        return NISStrategy if getattr(options, "weight_sharing", False) else cls

    def controller_settings(self) -> ControllerSettings:
        """The options as the controller's settings."""
        return _controller_settings(self.options)

    def check(self, space: SearchSpace) -> None:
        super().check(space)
        _check_weights(self.options, space)

    def sampler(
        self, space: SearchSpace, directions: Sequence[optuna.study.StudyDirection]
    ) -> optuna.samplers.BaseSampler:
        from searchengine.strategies._rl import ControllerSampler

        def is_active(name: str, values: Mapping[str, Any]) -> bool:
            decoded = {n: space[n].decode(v) for n, v in values.items() if n in space}
            return space.is_active(space[name], decoded)

        reference = self.options.cost_reference
        return ControllerSampler(
            self.controller_settings(),
            seed=self.seed,
            search_space={d.name: d.distribution for d in space},
            is_active=is_active,
            reference=(lambda: reference) if reference else lambda: full_size_cost(space),
        )


class NISOptions(RLOptions):
    """``search.options`` of ``nis``: those of ``rl``, with weight sharing on."""

    weight_sharing: bool = Field(
        True, description="Always true for nis (false: the black-box rl strategy)."
    )


@STRATEGIES.register("nis")
class NISStrategy(OneShotStrategy[RLOptions]):
    """NIS's one-shot search (KDD'20): the REINFORCE controller and a shared supernet
    trained together; the most probable architecture is retrained and recorded as one
    trial. ``strategy: rl`` with ``weight_sharing: true`` runs this class too."""

    name = "nis"
    description = "NIS: REINFORCE controller with weight sharing (one-shot), cost reward"
    decides = "widths, multi-size blocks, gates (the rest at defaults)"
    Options = NISOptions

    @classmethod
    def for_options(cls, options: BaseModel) -> type[Strategy]:
        return cls if getattr(options, "weight_sharing", True) else RLStrategy

    def controller_settings(self) -> ControllerSettings:
        return _controller_settings(self.options)

    def check(self, space: SearchSpace) -> None:
        from searchengine.strategies._shareable import is_shareable

        super().check(space)
        _check_weights(self.options, space)
        if space.spec.is_generic or not any(map(is_shareable, space)):
            raise SpecError(
                "weight sharing (nis, or rl with weight_sharing) needs a CTR spec whose space "
                "has embedding widths, multisize blocks or interaction gates to share weights over"
            )

    def search(self, session: Session) -> None:
        """Train the supernet and the controller together; record the derived model."""
        from searchengine.strategies._rl import SharingSettings, weight_sharing_search

        o = self.options
        sharing = SharingSettings(
            o.supernet_epochs, o.warmup_epochs, o.reward_batch, o.cost_reference
        )
        seed = self.seed if self.seed is not None else session.spec.search.seed
        weight_sharing_search(session, self.controller_settings(), sharing, seed)


def full_size_cost(space: SearchSpace) -> float | None:
    """The embedding parameters of the space's full-size architecture (every width and
    multi-size decision at its largest value), or None for a generic search."""
    spec = space.spec
    if spec.is_generic:
        return None
    from searchengine.data import load_data
    from searchengine.models import count_embedding_params
    from searchengine.strategies._shareable import is_shareable, largest

    values = space.defaults() | {d.name: largest(d) for d in space if is_shareable(d)}
    arch = space.fixed(values)
    schema = load_data(spec.data_or_default()).schema  # the evaluator's copy, in memory
    return float(count_embedding_params(arch.model, schema))


def __getattr__(name: str) -> Any:
    if name == "ControllerSampler":  # re-exported, imported on first use
        from searchengine.strategies._rl import ControllerSampler

        return ControllerSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
