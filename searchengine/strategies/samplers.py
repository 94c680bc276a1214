"""Black-box strategies backed by Optuna's own samplers: ``tpe`` and ``random``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from searchengine.strategies.base import STRATEGIES, NoOptions, SamplerStrategy

if TYPE_CHECKING:
    import optuna

    from searchengine.searchspace import SearchSpace

__all__ = ["RandomStrategy", "TPEStrategy"]


class TPEOptions(BaseModel):
    """``search.options`` of ``tpe`` (Optuna's ``TPESampler`` arguments)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_startup_trials: int = Field(10, ge=0, description="Random trials before TPE starts.")
    n_ei_candidates: int = Field(24, ge=1)
    multivariate: bool = Field(True, description="Model the decisions jointly.")
    group: bool = Field(True, description="Split conditional spaces into groups.")
    constant_liar: bool = Field(True, description="Avoid re-proposing running trials.")


@STRATEGIES.register("tpe")
class TPEStrategy(SamplerStrategy[TPEOptions]):
    """Optuna's Tree-structured Parzen Estimator."""

    name = "tpe"
    description = "Optuna TPE (multivariate, conditional groups, constant liar)"
    Options = TPEOptions

    def budget_note(self, trials: int) -> str | None:
        o = self.options
        if trials > o.n_startup_trials:
            return None
        return (
            f"tpe: all {trials} trials fall within its {o.n_startup_trials} random start-up "
            "trials (search.options.n_startup_trials), so it searches exactly like random; "
            f"give --trials {o.n_startup_trials + 10} or more, or fewer start-up trials"
        )

    def sampler(
        self, space: SearchSpace, directions: Sequence[optuna.study.StudyDirection]
    ) -> optuna.samplers.BaseSampler:
        import optuna

        o = self.options
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=self.seed,
                n_startup_trials=o.n_startup_trials,
                n_ei_candidates=o.n_ei_candidates,
                multivariate=o.multivariate,
                group=o.group and o.multivariate,
                constant_liar=o.constant_liar,
            )


@STRATEGIES.register("random")
class RandomStrategy(SamplerStrategy[NoOptions]):
    """Uniform random sampling of every decision."""

    name = "random"
    description = "uniform random search (Optuna RandomSampler)"

    def sampler(
        self, space: SearchSpace, directions: Sequence[optuna.study.StudyDirection]
    ) -> optuna.samplers.BaseSampler:
        import optuna

        return optuna.samplers.RandomSampler(seed=self.seed)
