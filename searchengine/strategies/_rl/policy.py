"""The controller's policy and its REINFORCE learner.

The policy samples decisions one at a time, each conditioned on the decisions already
taken (an LSTM over the sequence, as in NAS-RL and ENAS, or an MLP over the sum of the
previous choices' embeddings). Every decision has its own output head and its own input
embedding, created on first use and initialized from ``(seed, decision name)`` alone, so
that a policy rebuilt in another process, which meets its decisions in another order,
holds the same weights. Output heads start at zero: the first policy is uniform.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from searchengine.strategies._seeding import mix_seed, name_seed

__all__ = ["Learner", "LearnerSettings", "Policy", "Trajectory", "single_threaded"]

#: One sampled architecture: ``(decision name, action)`` in the order they were taken.
Trajectory = Sequence[tuple[str, int]]
State = tuple[Tensor, ...]


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run the controller's small tensor ops on one thread.

    They are faster so (a thread pool costs more than ops on a few thousand numbers,
    far more on a loaded machine), and their results then do not depend on the thread
    count, so a policy replayed in another process is bit for bit the same.
    """
    threads = torch.get_num_threads()
    if threads != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads != 1:
            torch.set_num_threads(threads)


def _key(name: str) -> str:
    return "d" + hashlib.sha1(name.encode()).hexdigest()[:20]


class Policy(nn.Module):
    """An autoregressive policy over named categorical decisions.

    Args:
        kind: ``"lstm"`` (an LSTM cell steps over the decisions, each conditioned on the
            ones taken) or ``"mlp"`` (a two-layer MLP, shared, of each decision's own
            learned input gives its logits: a factorized policy, which learns faster on
            small spaces).
        hidden: the width of the state and of the action embeddings.
        logit_clip: logits are ``c * tanh(logits / c)`` (ENAS), which keeps every action
            possible; None leaves them unbounded.
        seed: initializes the shared weights and, with each name, the per-decision ones.

    Shapes:
        the state is ``(1, hidden)`` tensors; :meth:`logits` returns ``(n_actions,)``.
    """

    def __init__(
        self, kind: str = "lstm", hidden: int = 64, logit_clip: float | None = 2.5, seed: int = 0
    ) -> None:
        super().__init__()
        if kind not in ("lstm", "mlp"):
            raise ValueError(f"`kind` must be 'lstm' or 'mlp', got {kind!r}")
        self.kind, self.hidden, self.logit_clip, self.seed = kind, hidden, logit_clip, seed
        with torch.random.fork_rng(devices=[]):  # leave torch's global generator alone
            self._build_shared()
        self.heads = nn.ModuleDict()
        self.inputs = nn.ModuleDict()
        self.positions = nn.ParameterDict()  # mlp: each decision's input
        self.sizes: dict[str, int] = {}

    def _build_shared(self) -> None:
        seed, hidden = self.seed, self.hidden
        g = torch.Generator().manual_seed(mix_seed(seed, 1))
        bound = 1.0 / math.sqrt(hidden)
        self.start = nn.Parameter(torch.empty(1, hidden).normal_(0.0, 1.0, generator=g))
        if self.kind == "lstm":
            self.cell = nn.LSTMCell(hidden, hidden)
            for p in self.cell.parameters():
                nn.init.uniform_(p, -bound, bound, generator=g)
        else:
            self.mlp = nn.Sequential(
                nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
            )
            for p in self.mlp.parameters():
                nn.init.uniform_(p, -bound, bound, generator=g)

    def ensure(self, name: str, n_actions: int) -> None:
        """Create the head and input embedding of decision ``name`` if it has none."""
        known = self.sizes.get(name)
        if known is not None:
            if known != n_actions:
                raise ValueError(f"{name!r} has {known} actions, not {n_actions}")
            return
        g = torch.Generator().manual_seed(mix_seed(self.seed, 2, name_seed(name), n_actions))
        with torch.random.fork_rng(devices=[]):
            head = nn.Linear(self.hidden, n_actions)
            embedding = nn.Embedding(n_actions, self.hidden)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        with torch.no_grad():
            embedding.weight.normal_(0.0, 1.0, generator=g)
        if self.kind == "mlp":
            position = torch.empty(1, self.hidden).normal_(0.0, 1.0, generator=g)
            self.positions[_key(name)] = nn.Parameter(position)
        self.heads[_key(name)] = head
        self.inputs[_key(name)] = embedding
        self.sizes[name] = n_actions

    def initial(self) -> State:
        """The state before the first decision."""
        if self.kind == "lstm":
            zeros = torch.zeros(1, self.hidden)
            return self.cell(self.start, (zeros, zeros))  # ((1, H), (1, H))
        return (self.start,)  # (1, H)

    def logits(self, state: State, name: str) -> Tensor:
        """The logits of decision ``name`` in ``state``: ``(n_actions,)``."""
        if self.kind == "lstm":
            h = state[0]  # (1, H)
        else:  # the decision's own input: decisions share the MLP, not its input
            h = self.mlp(state[0] + self.positions[_key(name)])
        raw = self.heads[_key(name)](h)[0]  # (n,)
        if self.logit_clip is None:
            return raw
        return self.logit_clip * torch.tanh(raw / self.logit_clip)

    def advance(self, state: State, name: str, action: int) -> State:
        """The state after decision ``name`` took ``action``."""
        if self.kind == "mlp":
            return state  # factorized: decisions do not condition each other
        x = self.inputs[_key(name)].weight[action].unsqueeze(0)  # (1, H)
        return self.cell(x, (state[0], state[1]))

    def evaluate(self, trajectory: Trajectory) -> tuple[Tensor, Tensor]:
        """The log-probability of a trajectory and the sum of its decisions' entropies."""
        state = self.initial()
        log_prob, entropy = torch.zeros(()), torch.zeros(())
        for name, action in trajectory:
            log_p = torch.log_softmax(self.logits(state, name), dim=0)  # (n,)
            log_prob = log_prob + log_p[action]
            entropy = entropy - (log_p.exp() * log_p).sum()
            state = self.advance(state, name, action)
        return log_prob, entropy


@dataclass(frozen=True)
class LearnerSettings:
    """REINFORCE settings (``search.options`` of ``rl``).

    Attributes:
        lr: Adam's learning rate for the policy.
        entropy_weight: the entropy bonus (per decision, summed over a trajectory).
        baseline_decay: decay of the moving averages of the reward and of its variance.
        advantage_clip: normalized advantages are clipped to +-this.
    """

    lr: float = 0.02
    entropy_weight: float = 0.01
    baseline_decay: float = 0.9
    advantage_clip: float = 2.0


class Learner:
    """REINFORCE with a moving-average baseline and an entropy bonus.

    For each reward ``R`` in order, ``A = (R - b) / s`` with ``b`` the moving average of
    the rewards and ``s`` the moving root-mean-square of ``R - b`` (both with decay
    ``baseline_decay``; the first reward sets ``b`` and has ``A = 0``), clipped. One
    update minimizes ``mean(-A * log p(trajectory) - entropy_weight * entropy)`` by one
    Adam step. Everything is deterministic: the same updates give the same policy.
    """

    def __init__(self, policy: Policy, settings: LearnerSettings) -> None:
        self.policy = policy
        self.settings = settings
        self.baseline: float | None = None
        self.variance = 0.0
        self.updates = 0
        self.optimizer = torch.optim.Adam(list(policy.parameters()), lr=settings.lr, foreach=False)
        self._known = {id(p) for p in policy.parameters()}

    def advantages(self, rewards: Sequence[float]) -> list[float]:
        """Normalized advantages of ``rewards``; moves the baseline past them."""
        out = []
        decay, clip = self.settings.baseline_decay, self.settings.advantage_clip
        for r in rewards:
            if self.baseline is None:
                self.baseline = float(r)
                out.append(0.0)
                continue
            delta = float(r) - self.baseline
            self.variance = decay * self.variance + (1 - decay) * delta * delta
            scale = math.sqrt(self.variance)
            out.append(max(-clip, min(clip, delta / scale)) if scale > 0 else 0.0)
            self.baseline += (1 - decay) * delta
        return out

    def update(self, trajectories: Sequence[Trajectory], rewards: Sequence[float]) -> None:
        """One policy-gradient step on these trajectories and their rewards."""
        self.updates += 1
        if not trajectories:
            return
        advantages = self.advantages(rewards)
        loss = torch.zeros(())
        for trajectory, advantage in zip(trajectories, advantages, strict=True):
            log_prob, entropy = self.policy.evaluate(trajectory)
            loss = loss - advantage * log_prob - self.settings.entropy_weight * entropy
        self._add_new_parameters()
        self.optimizer.zero_grad(set_to_none=True)
        (loss / len(trajectories)).backward()
        self.optimizer.step()

    def _add_new_parameters(self) -> None:
        # per-decision modules created since the last step; Adam updates each tensor on
        # its own, so when a tensor joins does not change the result
        new = [p for p in self.policy.parameters() if id(p) not in self._known]
        if new:
            self.optimizer.add_param_group({"params": new})
            self._known.update(id(p) for p in new)

    def state(self) -> dict[str, Any]:
        """The policy's weights by decision name, and the baseline (for comparisons)."""
        weights = {k: v.detach().clone() for k, v in self.policy.state_dict().items()}
        return {"weights": weights, "baseline": self.baseline, "variance": self.variance}
