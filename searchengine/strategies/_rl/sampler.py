"""``ControllerSampler``: a REINFORCE controller as an Optuna sampler, rebuilt from trials."""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import torch
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FrozenTrial, TrialState

from searchengine._optuna import (
    RL_SEED_ATTR,
    all_trials,
    set_study_system_attr,
    storage_of,
    study_id,
    study_system_attr,
    trial_id,
)
from searchengine.strategies._rl.actions import Actions, actions_of
from searchengine.strategies._rl.policy import (
    Learner,
    LearnerSettings,
    Policy,
    Trajectory,
    single_threaded,
)
from searchengine.strategies._rl.reward import Rewarder, RewardSettings, outcome_of
from searchengine.strategies._seeding import mix_seed

__all__ = ["ControllerSampler", "ControllerSettings"]

_log = logging.getLogger(__name__)
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_SNAPSHOTS = 8
_SAMPLE, _FALLBACK = 1, 2


@dataclass(frozen=True)
class ControllerSettings:
    """The controller of ``search.options``: its policy, learning and reward.

    Attributes:
        kind: ``"lstm"`` or ``"mlp"``.
        hidden: the policy's width.
        logit_clip: see :class:`Policy`.
        learner: the REINFORCE settings.
        batch: trials per policy update.
        bins: actions of a float or wide int decision (see ``actions``).
        cost_weight: ``lambda`` of the NIS reward (None: scalarize the objectives).
        cost_scale: ``lambda``'s unit: the observed spread of the objective, or absolute.
        cost_metric: the metric ``C_M`` is made of.
        objective_weights: weights of the scalarized objectives.
    """

    kind: str = "lstm"
    hidden: int = 64
    logit_clip: float | None = 2.5
    learner: LearnerSettings = LearnerSettings()
    batch: int = 1
    bins: int = 16
    cost_weight: float | None = None
    cost_metric: str = "embedding_params"
    objective_weights: tuple[float, ...] | None = None
    cost_scale: str = "spread"


@dataclass
class _Run:
    """One trial being sampled: the policy it started with and the state so far."""

    policy: Policy
    state: tuple[torch.Tensor, ...]
    consumed: int = 0


@dataclass
class _ControllerMemo:
    """What a sampler has computed from one study: a mirror of the storage, never a source."""

    seed: int
    learner: Learner
    rewarder: Rewarder
    version: int = 0
    snapshots: OrderedDict[int, Policy] = field(default_factory=OrderedDict)
    runs: dict[int, _Run] = field(default_factory=dict)
    actions: dict[str, Actions | None] = field(default_factory=dict)


class ControllerSampler(BaseSampler):
    """A REINFORCE controller (NAS-RL / ENAS / NIS) for any Optuna study.

    **Sampling.** Optuna calls :meth:`sample_independent` for every parameter a trial
    suggests, in the order it suggests them. The controller is autoregressive over that
    order: it feeds the trial's parameters already set (sampled by it, fixed, or
    single-valued ones left out) into its policy, then samples the requested one from its
    head. Conditional parameters are thus skipped when inactive, exactly: they never
    appear in the sequence. Floats and wide ints are discretized (see ``actions``); the
    random draw is seeded by (the study's seed, trial number, parameter name). A name met
    again with another distribution (a dynamic space) is sampled by a seeded
    ``RandomSampler``. :meth:`infer_relative_search_space` is empty: no joint relative
    sampling is needed, the sequence is the joint model.

    **State: rebuilt from completed trials, never saved.** The policy that samples trial
    ``t`` is a pure function of the study's seed and of the trials before it: starting
    from the initial policy (``rl:seed`` in the study's system attributes, written by the
    first sampler that uses the study), one REINFORCE update per batch of ``batch`` trial
    numbers ``[k*batch, (k+1)*batch)``, applied once every trial of the batch and of the
    batches before it is finished. A trial's actions are read back from its parameters
    (in the order it set them, as storages keep them), its reward from its values,
    constraints and user attribute ``metrics`` (see ``reward``). A sampler in a new
    process -- a resumed run, another worker -- replays those updates and continues the
    same policy; a sequential run gives the same asks from the same seed, interrupted
    and resumed or not. Replay costs one policy evaluation per finished trial.

    Every call takes one lock, so ``n_jobs > 1`` is safe; there, a trial started while
    an earlier one runs uses the policy of the batches finished at its start.

    Args:
        settings: the controller.
        seed: the controller's seed; a study that already has one keeps its own.
        search_space: the declared decisions in order (for :meth:`most_probable`).
        is_active: ``(name, values so far) -> bool`` for conditional declared decisions.
        reference: returns the cost of the full-size architecture (``C_M``'s
            denominator), or None to use the largest cost seen.
    """

    def __init__(
        self,
        settings: ControllerSettings | None = None,
        *,
        seed: int | None = None,
        search_space: Mapping[str, BaseDistribution] | None = None,
        is_active: Callable[[str, Mapping[str, Any]], bool] | None = None,
        reference: Callable[[], float | None] | None = None,
    ) -> None:
        self.settings = settings or ControllerSettings()
        if self.settings.batch < 1:
            raise ValueError(f"`batch` must be at least 1, got {self.settings.batch}")
        self._seed = seed
        self._declared = dict(search_space or {})
        self._is_active = is_active
        self._reference = reference
        self._lock = threading.RLock()
        self._memos: weakref.WeakKeyDictionary[Any, dict[int, _ControllerMemo]] = (
            weakref.WeakKeyDictionary()
        )

    def reseed_rng(self) -> None:
        """Nothing to reseed: every draw is seeded from the study's stored seed."""

    # -- optuna's sampler interface
    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """The controller's joint sample of ``search_space``, decision by decision in its
        order, after the trial's parameters already set.

        Optuna's trials never ask for it (the inferred relative space is empty); a caller
        that passes a space (a wrapping sampler, Optuna's sampler suites) gets what
        :meth:`sample_independent` would give for the same sequence of suggestions.
        """
        if not search_space:
            return {}
        with self._lock, single_threaded():
            memo = self._memo(study)
            run = self._start(study, memo)
            params: dict[str, Any] = {}
            with torch.no_grad():
                self._consume(memo, run, trial)
                for name, distribution in search_space.items():
                    actions = self._actions(memo, name, distribution)
                    if actions is None:
                        params[name] = self._fallback(study, memo, trial, name, distribution)
                        continue
                    action = self._draw(memo, run, trial.number, name, actions)
                    run.state = run.policy.advance(run.state, name, action)
                    params[name] = actions.value(action)
            return params

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        with self._lock, single_threaded():
            memo = self._memo(study)
            actions = self._actions(memo, param_name, param_distribution)
            if actions is None:
                return self._fallback(study, memo, trial, param_name, param_distribution)
            run = memo.runs.get(trial_id(trial))
            if run is None:
                run = memo.runs[trial_id(trial)] = self._start(study, memo)
            with torch.no_grad():
                self._consume(memo, run, trial)
                return actions.value(self._draw(memo, run, trial.number, param_name, actions))

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        with self._lock:
            self._memo(study).runs.pop(trial_id(trial), None)

    # -- what tests, reports and the weight-sharing search read
    def most_probable(self, study: optuna.Study) -> dict[str, Any]:
        """The controller's most probable architecture now (greedy, decision by decision,
        over the declared decisions, or every decision seen without a declared space)."""
        with self._lock, single_threaded():
            memo = self._memo(study)
            policy = self._policy_now(study, memo)
            names = list(self._declared) or [n for n, a in memo.actions.items() if a]
            values: dict[str, Any] = {}
            state = policy.initial()
            with torch.no_grad():
                for name in names:
                    if self._is_active is not None and not self._is_active(name, values):
                        continue
                    distribution = self._declared.get(name)
                    actions = (
                        self._actions(memo, name, distribution)
                        if distribution is not None
                        else memo.actions.get(name)
                    )
                    if actions is None:
                        continue
                    policy.ensure(name, len(actions))
                    action = int(torch.argmax(policy.logits(state, name)))
                    values[name] = actions.value(action)
                    state = policy.advance(state, name, action)
            return values

    def learner_state(self, study: optuna.Study) -> dict[str, Any]:
        """The learner's state after every update the study's finished trials allow."""
        with self._lock, single_threaded():
            memo = self._memo(study)
            self._policy_now(study, memo)
            return memo.learner.state() | {"version": memo.version}

    def _draw(
        self, memo: _ControllerMemo, run: _Run, number: int, name: str, actions: Actions
    ) -> int:
        """The action of decision ``name`` of trial ``number``, drawn from the policy."""
        run.policy.ensure(name, len(actions))
        logits = run.policy.logits(run.state, name)
        probs = torch.softmax(logits.double(), dim=0).numpy()
        seed = mix_seed(memo.seed, _SAMPLE, number, zlib.crc32(name.encode()))
        rng = np.random.default_rng(seed)
        return int(rng.choice(len(actions), p=probs / probs.sum()))

    def _fallback(
        self,
        study: optuna.Study,
        memo: _ControllerMemo,
        trial: FrozenTrial,
        name: str,
        distribution: BaseDistribution,
    ) -> Any:
        """A decision the policy does not model (single-valued, or its distribution
        changed): a uniform draw, seeded by (seed, trial number, name)."""
        seed = mix_seed(memo.seed, _FALLBACK, trial.number, zlib.crc32(name.encode()))
        return RandomSampler(seed=seed).sample_independent(study, trial, name, distribution)

    # -- the controller, rebuilt from the storage
    def _memo(self, study: optuna.Study) -> _ControllerMemo:
        memos = self._memos.setdefault(storage_of(study), {})
        memo = memos.get(study_id(study))
        if memo is None:
            seed = _study_seed(study, self._seed)
            memo = memos[study_id(study)] = self._fresh(study, seed)
        return memo

    def _fresh(self, study: optuna.Study, seed: int) -> _ControllerMemo:
        s = self.settings
        policy = Policy(s.kind, s.hidden, s.logit_clip, seed)
        maximize = tuple(d == optuna.study.StudyDirection.MAXIMIZE for d in study.directions)
        reward = RewardSettings(maximize, s.cost_weight, None, s.objective_weights, s.cost_scale)
        return _ControllerMemo(seed, Learner(policy, s.learner), Rewarder(reward))

    def _actions(
        self, memo: _ControllerMemo, name: str, distribution: BaseDistribution
    ) -> Actions | None:
        """The actions of a parameter; None if single-valued or its distribution changed."""
        if name not in memo.actions:
            memo.actions[name] = actions_of(distribution, self.settings.bins)
        actions = memo.actions[name]
        if actions is None or actions.distribution != distribution:
            return None
        return actions

    def _trajectory(self, memo: _ControllerMemo, trial: FrozenTrial, start: int = 0) -> Trajectory:
        out = []
        for name in list(trial.params)[start:]:
            actions = self._actions(memo, name, trial.distributions[name])
            if actions is not None:
                out.append((name, actions.action(trial.params[name])))
        return out

    def _consume(self, memo: _ControllerMemo, run: _Run, trial: FrozenTrial) -> None:
        """Feed the parameters the trial set since the last call into its state."""
        for name, action in self._trajectory(memo, trial, run.consumed):
            run.policy.ensure(name, len(memo.actions[name] or ()))
            run.state = run.policy.advance(run.state, name, action)
        run.consumed = len(trial.params)

    def _start(self, study: optuna.Study, memo: _ControllerMemo) -> _Run:
        trials = all_trials(study)
        policy = self._policy_at(
            study, memo, trials, _finished_batches(trials, self.settings.batch)
        )
        with torch.no_grad():
            return _Run(policy, policy.initial())

    def _policy_now(self, study: optuna.Study, memo: _ControllerMemo) -> Policy:
        trials = all_trials(study)
        return self._policy_at(study, memo, trials, _finished_batches(trials, self.settings.batch))

    def _policy_at(
        self,
        study: optuna.Study,
        memo: _ControllerMemo,
        trials: Sequence[FrozenTrial],
        version: int,
    ) -> Policy:
        """The policy after ``version`` updates (a copy the caller may extend)."""
        if version in memo.snapshots:
            return memo.snapshots[version]
        if version < memo.version:  # an old version no longer kept: replay it apart
            memo = self._fresh(study, memo.seed)
        by_number = {t.number: t for t in trials}
        size = self.settings.batch
        for k in range(memo.version, version):
            batch = [by_number[n] for n in range(k * size, (k + 1) * size)]
            self._update(study, memo, batch)
        memo.version = version
        snapshot = copy.deepcopy(memo.learner.policy)
        memo.snapshots[version] = snapshot
        while len(memo.snapshots) > _SNAPSHOTS:
            memo.snapshots.popitem(last=False)
        return snapshot

    def _update(
        self, study: optuna.Study, memo: _ControllerMemo, batch: Sequence[FrozenTrial]
    ) -> None:
        if memo.rewarder.settings.cost_weight is not None and self._reference is not None:
            if memo.rewarder.settings.reference is None:
                reference = self._reference()
                settings = memo.rewarder.settings
                memo.rewarder.settings = dataclasses.replace(settings, reference=reference)
        outcomes = [outcome_of(t, self.settings.cost_metric) for t in batch]
        rewards = memo.rewarder.rewards(outcomes)
        trajectories, kept = [], []
        for trial, reward in zip(batch, rewards, strict=True):
            trajectory = self._trajectory(memo, trial)
            if reward is None or not trajectory:
                continue
            for name, _ in trajectory:
                memo.learner.policy.ensure(name, len(memo.actions[name] or ()))
            trajectories.append(trajectory)
            kept.append(reward)
        memo.learner.update(trajectories, kept)


def _finished_batches(trials: Sequence[FrozenTrial], batch: int) -> int:
    """How many leading batches of trial numbers are entirely finished."""
    finished = {t.number for t in trials if t.state in _FINISHED}
    n = 0
    while n in finished:
        n += 1
    return n // batch


def _study_seed(study: optuna.Study, seed: int | None) -> int:
    """The controller's seed: the study's stored one, else ``seed`` (or a random one)."""
    stored = study_system_attr(study, RL_SEED_ATTR)
    if stored is not None:
        return int(stored)
    if seed is None:
        import secrets

        seed = secrets.randbits(31)
    set_study_system_attr(study, RL_SEED_ATTR, int(seed))
    return int(study_system_attr(study, RL_SEED_ATTR))
