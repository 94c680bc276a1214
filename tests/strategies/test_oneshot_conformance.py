"""Every registered one-shot strategy passes the one-shot conformance suite
(searchengine.testing.oneshot), through the real engine on tiny synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest

from searchengine.searchspace import parse_spec
from searchengine.strategies import STRATEGIES, OneShotStrategy
from searchengine.testing.oneshot import check_one_shot

BASE = """\
name: oneshot-{name}
data: {{dataset: synthetic, rows: 3000, cache: false,
       options: {{categorical: 3, numerical: 1, seed: 5, max_vocab: 300}}}}
model:
  backbone: {backbone}
  embedding: {embedding}
  mlp: {{layers: [8]}}
  interactions: {{gate: {gate}}}
  fields: {{keep: {keep}}}
train: {{batch_size: 256, epochs: 1, patience: 1, lr: 5.0e-3, threads: 1}}
search: {{strategy: {strategy}, seed: 0, trials: 4, options: {options}}}
"""
WIDTHS = "{dim: {choice: [2, 4, 8], per: field}}"
#: Each one-shot strategy with a tiny space it searches: (backbone, embedding, gate, options).
SPACES = {
    "differentiable": ("deepfm", WIDTHS, "search", "{supernet_epochs: 1}"),
    "esapn": ("deepfm", "{dim: 4, dynamic: {candidates: [2, 4, 8], fields: [C1, C2]}}",
              "all", "{}"),
    "fde": ("fm", WIDTHS, "all", "{}"),
    "fieldperm": ("fm", "{dim: 4}", "all", "{repeats: 1}", "search"),
    "mde": ("fm", WIDTHS, "all", "{}"),
    "pep": ("fm", "{dim: 4}", "all", "{targets: [0.8, 0.5], epochs: 1, extra_epochs: 2}"),
    "nis": ("deepfm", WIDTHS, "search", "{supernet_epochs: 1, warmup_epochs: 0.5}"),
    "rl": ("deepfm", WIDTHS, "search",
           "{weight_sharing: true, supernet_epochs: 1, warmup_epochs: 0.5}"),
}  # fmt: skip
#: ``rl`` with ``weight_sharing`` runs ``nis``: the old spelling is checked too.
ONE_SHOT = sorted(
    n for n in STRATEGIES.names() if issubclass(STRATEGIES.get(n), OneShotStrategy)
) + ["rl"]


def test_every_one_shot_strategy_has_a_space_here() -> None:
    assert set(ONE_SHOT) <= set(SPACES), set(ONE_SHOT) - set(SPACES)


@pytest.mark.parametrize("name", ONE_SHOT)
def test_one_shot_conformance(name: str, tmp_path: Path) -> None:
    backbone, embedding, gate, options, *keep = SPACES[name]
    text = BASE.format(
        name=name, backbone=backbone, embedding=embedding, gate=gate, strategy=name,
        options=options, keep=keep[0] if keep else "all",
    )  # fmt: skip
    check_one_shot(parse_spec(text), tmp_path)


def test_a_strategy_that_ignores_its_seed_fails_the_suite(tmp_path: Path) -> None:
    """A one-shot strategy whose architecture does not follow the seed is caught."""
    import random

    from searchengine.strategies.baselines import FDEStrategy

    class Unseeded(FDEStrategy):
        def widths(self, session) -> dict[str, int]:
            return {d.name: random.choice([2, 4, 8]) for d in session.space if d.role == "dim"}

    STRATEGIES.unregister("fde")
    STRATEGIES.register("fde", Unseeded)
    try:
        backbone, embedding, gate, options = SPACES["fde"]
        text = BASE.format(
            name="unseeded", backbone=backbone, embedding=embedding, gate=gate,
            strategy="fde", options=options, keep="all",
        )  # fmt: skip
        random.seed(1)
        with pytest.raises(AssertionError, match="same seed"):
            check_one_shot(parse_spec(text), tmp_path)
    finally:
        STRATEGIES.unregister("fde")
        STRATEGIES.register("fde", FDEStrategy)
