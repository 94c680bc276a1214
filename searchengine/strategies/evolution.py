"""``evolution``: multi-objective evolution with pymoo's NSGA-II (a GA for one objective)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from searchengine.errors import SpecError
from searchengine.strategies.base import STRATEGIES, SamplerStrategy

if TYPE_CHECKING:
    import optuna

    from searchengine.searchspace import SearchSpace
    from searchengine.strategies._evolution import EvolutionSampler

__all__ = ["EvolutionOptions", "EvolutionSampler", "EvolutionStrategy"]


class EvolutionOptions(BaseModel):
    """``search.options`` of ``evolution``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    population_size: int = Field(
        20, ge=2, description="Children per generation and parents kept (NSGA-II's N)."
    )
    crossover_prob: float = Field(
        0.9, ge=0.0, le=1.0, description="Probability that a mating recombines its parents."
    )
    mutation_prob: float | None = Field(
        None, gt=0.0, le=1.0, description="Probability that a gene mutates (default 1/genes)."
    )
    mutation: Literal["auto", "nsga2", "dag"] = Field(
        "auto",
        description="How children are made after the first generation: nsga2 (pymoo's "
        "mixed-variable mating) or dag (AutoCTR: one parent by tournament, exactly one "
        "change); auto: dag for a space with model.blocks decisions, else nsga2.",
    )
    reference_point: list[float] | None = Field(
        None,
        description="Hypervolume reference point, one value per objective in its own units "
        "(default: the worst feasible value of each objective, 10% of its range beyond).",
    )


@STRATEGIES.register("evolution")
class EvolutionStrategy(SamplerStrategy[EvolutionOptions]):
    """pymoo's NSGA-II on every decision kind, as an Optuna sampler (see EvolutionSampler).

    Its state (generations, parents, the children's genes, the seed) is kept in the
    study's storage, so resumed runs and several workers continue one evolution. With
    several workers the first one to sample stores its seed in the study; the others use
    that one.
    """

    name = "evolution"
    description = "pymoo NSGA-II (mixed variables; a GA for one objective), state in storage"
    Options = EvolutionOptions

    def budget_note(self, trials: int) -> str | None:
        o = self.options
        if trials > o.population_size:
            return None
        return (
            f"evolution: {trials} trials never leave generation 0, the random first "
            f"population of {o.population_size} (search.options.population_size); give "
            f"--trials {3 * o.population_size} or more (three generations), or a smaller "
            "population_size"
        )

    def sampler(
        self, space: SearchSpace, directions: Sequence[optuna.study.StudyDirection]
    ) -> optuna.samplers.BaseSampler:
        o = self.options
        if o.reference_point is not None and len(o.reference_point) != len(directions):
            raise SpecError(
                f"search.options.reference_point: expected {len(directions)} values (one "
                f"per objective), got {len(o.reference_point)}"
            )
        roles = {d.name: d.block[0] for d in space if d.role == "block"}
        dag = o.mutation == "dag" or (o.mutation == "auto" and bool(roles))
        from searchengine.strategies._evolution import EvolutionSampler  # pymoo: when used

        return EvolutionSampler(
            population_size=o.population_size,
            crossover_prob=o.crossover_prob,
            mutation_prob=o.mutation_prob,
            seed=self.seed,
            search_space={d.name: d.distribution for d in space},
            dag_roles=roles if dag else None,
        )


def __getattr__(name: str) -> Any:
    if name == "EvolutionSampler":  # re-exported; pymoo is imported on first use
        from searchengine.strategies._evolution import EvolutionSampler

        return EvolutionSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
