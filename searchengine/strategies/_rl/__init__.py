"""The implementation of the ``rl`` strategy (see :class:`ControllerSampler` and
:func:`weight_sharing_search`)."""

from searchengine.strategies._rl.actions import Actions, actions_of
from searchengine.strategies._rl.policy import Learner, LearnerSettings, Policy
from searchengine.strategies._rl.reward import Outcome, Rewarder, RewardSettings, outcome_of
from searchengine.strategies._rl.sampler import RL_SEED_ATTR, ControllerSampler, ControllerSettings
from searchengine.strategies._rl.sharing import SharingSettings, weight_sharing_search

__all__ = [
    "RL_SEED_ATTR",
    "Actions",
    "ControllerSampler",
    "ControllerSettings",
    "Learner",
    "LearnerSettings",
    "Outcome",
    "Policy",
    "RewardSettings",
    "Rewarder",
    "SharingSettings",
    "actions_of",
    "outcome_of",
    "weight_sharing_search",
]
