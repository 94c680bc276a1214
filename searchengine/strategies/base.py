"""The plug-in point: a strategy drives an Optuna study over a SearchSpace."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from searchengine.errors import SearchEngineError, SpecError
from searchengine.registry import Registry
from searchengine.strategies._seeding import continued_seed

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from searchengine.evaluation.evaluator import BaseEvaluator, Evaluator
    from searchengine.searchspace import SearchSpace
    from searchengine.spec import Architecture, Spec

__all__ = [
    "Session",
    "training_evaluator",
    "STRATEGIES",
    "NoOptions",
    "OneShotStrategy",
    "SamplerStrategy",
    "Strategy",
    "continued_seed",
    "resolve_strategy",
]

ALL_KINDS = frozenset({"float", "int", "categorical"})
#: Study user attribute a one-shot strategy sets once its search is recorded, so that a
#: rerun on the same storage (or another worker) does not search again.


class Session(Protocol):
    """What a one-shot strategy may use of the search in progress.

    The engine's :class:`searchengine.engine.Session` is one; strategies know only this
    protocol, so the strategy layer never imports the engine above it.
    """

    spec: Spec
    space: SearchSpace
    study: optuna.Study
    evaluator: BaseEvaluator
    #: The objectives' metric names, in the spec's order.
    objectives: list[str]

    def time_left(self) -> float:
        """Seconds left of the run's timeout (``inf`` without one)."""
        ...

    def record(
        self, arch: Architecture, *, user_attrs: dict[str, Any] | None = None
    ) -> FrozenTrial:
        """Evaluate ``arch`` with the common evaluator and tell it as one trial."""
        ...

    def record_measured(
        self,
        arch: Architecture,
        metrics: dict[str, float],
        *,
        test_metrics: dict[str, float] | None = None,
        user_attrs: dict[str, Any] | None = None,
    ) -> FrozenTrial:
        """Tell ``arch`` as one trial with metrics the strategy measured (no retraining)."""
        ...

    def report_epoch(self, phase: str, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        """Show a search epoch (``phase``: e.g. ``supernet``) in the run's progress."""
        ...


def training_evaluator(session: Session, strategy: str) -> Evaluator:
    """The session's CTR evaluator (data, models, training), which one-shot strategies
    train with; a generic spec's function evaluator has none of that."""
    from searchengine.evaluation.evaluator import Evaluator

    evaluator = session.evaluator
    if not isinstance(evaluator, Evaluator):
        raise SearchEngineError(f"{strategy} needs a CTR spec (data and model), not a generic one")
    return evaluator


class NoOptions(BaseModel):
    """A strategy without options."""

    model_config = ConfigDict(extra="forbid", frozen=True)


OptionsT = TypeVar("OptionsT", bound=BaseModel)


class Strategy(abc.ABC, Generic[OptionsT]):  # noqa: B024 - the families hold the abstract methods
    """How the study of a search is driven.

    The engine uses a strategy in this order:

    1. ``Strategy(seed=search.seed, **search.options)``: the options are validated by the
       class's ``Options`` pydantic model (``extra="forbid"``) into ``self.options``.
       Once the study is open, the engine replaces ``seed`` with :func:`continued_seed`
       of it, so that a resumed run or another worker continues the search instead of
       replaying its first trials.
    2. :meth:`searches` with the compiled :class:`~searchengine.searchspace.SearchSpace`:
       if the space leaves nothing to decide (a ``best.yaml``), the engine evaluates the
       spec once (with ``random``) instead of using this strategy.
    3. :meth:`check`: raise :class:`~searchengine.errors.SpecError` for a decision it
       cannot search (by default: any decision kind not in :attr:`kinds`);
       :meth:`budget_note`: a warning the engine logs once for a budget too small.
    4. Then one of the two families, as :attr:`one_shot` says (options may pick the
       class: :meth:`for_options`; ``rl`` with ``weight_sharing`` runs ``nis``):

       * :class:`SamplerStrategy` (black-box): :meth:`SamplerStrategy.sampler` returns an
         Optuna ``BaseSampler`` that the study is loaded with. The engine loops: ask a
         trial, let the space sample an Architecture through ``trial.suggest_*``,
         evaluate it, tell the result, call :meth:`after_trial`, until the budget (trials
         counted over the whole study, so a rerun resumes) or the timeout is spent.
       * :class:`OneShotStrategy`: :meth:`OneShotStrategy.search` gets a
         :class:`~searchengine.engine.Session`, trains what it needs itself, derives
         discrete Architectures, and records each one through ``session.record``, which
         retrains it with the common Evaluator and tells it to the study with the
         search cost in its user attributes.

    All state a strategy needs to continue must be recoverable from the study's storage,
    so a resumed run or another worker continues the same search.

    Plug-ins subclass :class:`SamplerStrategy` or :class:`OneShotStrategy` and are found
    through the entry point group ``searchengine.strategies`` or as
    ``--strategy package.module:ClassName``.
    """

    #: Registered name.
    name: ClassVar[str] = ""
    #: One line, shown by ``searchengine strategies``.
    description: ClassVar[str] = ""
    #: Decision kinds it can search: ``float``, ``int``, ``categorical``.
    kinds: ClassVar[frozenset[str]] = ALL_KINDS
    #: What it decides, for ``searchengine strategies`` (default: every decision of
    #: :attr:`kinds`); one-shot strategies name the decisions they decide.
    decides: ClassVar[str] = ""
    #: The pydantic model of ``search.options``; a subclass names it twice, as the
    #: class's type argument and here: ``class TPE(SamplerStrategy[TPEOptions])`` with
    #: ``Options = TPEOptions``, so ``self.options`` is typed without a cast.
    Options: ClassVar[type[BaseModel]] = NoOptions
    options: OptionsT

    def __init__(self, *, seed: int | None = None, **options: Any) -> None:
        self.seed = seed
        try:
            self.options = self.Options.model_validate(options)  # type: ignore[assignment]
        except ValidationError as exc:
            from searchengine.searchspace.loader import SpecSource, _describe

            source = SpecSource()
            issues = [
                source.issue(("search", "options", *loc), message)
                for loc, message in (_describe(err, options) for err in exc.errors())
            ]
            raise SpecError(issues) from None

    @classmethod
    def for_options(cls, options: BaseModel) -> type[Strategy]:
        """The class that runs these (validated) options: ``cls`` itself, unless the
        options make it the other family (``rl`` with ``weight_sharing`` is ``nis``), so
        that an instance's family never changes at run time."""
        return cls

    @property
    def one_shot(self) -> bool:
        """Whether the engine calls ``search(session)`` (one-shot) rather than loading the
        study with :meth:`SamplerStrategy.sampler`."""
        return isinstance(self, OneShotStrategy)

    def searches(self, space: SearchSpace) -> bool:
        """Whether ``space`` leaves anything for this strategy to decide. A concrete spec
        (a ``best.yaml``) does not; the engine then evaluates it once instead."""
        return len(space) > 0

    def check(self, space: SearchSpace) -> None:
        """Raise SpecError if ``space`` has decisions this strategy cannot search."""
        unsupported = [d.name for d in space if d.kind not in self.kinds]
        if unsupported:
            raise SpecError(
                f"strategy {self.name!r} cannot search {', '.join(unsupported[:5])}"
                f"{' ...' if len(unsupported) > 5 else ''} "
                f"(it searches {', '.join(sorted(self.kinds))} decisions)"
            )

    def budget_note(self, trials: int) -> str | None:
        """A warning when a budget of ``trials`` (the whole study's) cannot reach what makes
        this strategy differ from random search, saying what would; None if it can."""
        return None

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:  # noqa: B027
        """Hook: called after each trial is told to the study."""


class SamplerStrategy(Strategy[OptionsT]):
    """A black-box strategy: an Optuna sampler the engine's ask/tell loop uses."""

    @abc.abstractmethod
    def sampler(
        self, space: SearchSpace, directions: Sequence[optuna.study.StudyDirection]
    ) -> optuna.samplers.BaseSampler:
        """The sampler to load the study with."""


class OneShotStrategy(Strategy[OptionsT]):
    """A strategy that trains a relaxed supernet itself and records derived architectures."""

    @abc.abstractmethod
    def search(self, session: Session) -> None:
        """Run the search; record each derived Architecture with ``session.record``."""


STRATEGIES: Registry[type[Strategy]] = Registry("strategy", group="searchengine.strategies")


def resolve_strategy(name: str) -> type[Strategy]:
    """A registered strategy name, or ``package.module:ClassName``, to its class.

    Raises:
        UnknownNameError: an unknown registered name (with the choices).
        SearchEngineError: a ``module:Class`` that cannot be imported or is not a Strategy.
    """
    if ":" not in name:
        return STRATEGIES.get(name)
    from searchengine._imports import import_reference

    cls = import_reference(name, "strategy")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise SearchEngineError(
            f"{name!r} is not a Strategy subclass (SamplerStrategy or OneShotStrategy)"
        )
    if not issubclass(cls, SamplerStrategy | OneShotStrategy):
        raise SearchEngineError(f"{name!r} must subclass SamplerStrategy or OneShotStrategy")
    return cls
