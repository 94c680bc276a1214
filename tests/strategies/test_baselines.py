"""The fde and mde baselines: the widths they choose, recorded as one trial each."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from searchengine import parse_spec, run
from searchengine.errors import SpecError
from searchengine.evaluation import Evaluator
from searchengine.strategies import STRATEGIES
from searchengine.strategies.baselines import effective_vocabulary

SPEC = {
    "name": "baselines",
    "data": {"dataset": "synthetic", "rows": 4000,
             "options": {"categorical": 4, "numerical": 1, "seed": 5, "max_vocab": 2000}},
    "model": {"backbone": "deepfm", "mlp": {"layers": [8]},
              "embedding": {"dim": {"choice": [2, 4, 8, 16, 32], "per": "field"}}},
    "train": {"batch_size": 512, "epochs": 1, "threads": 1},
}  # fmt: skip


def _widths(strategy: str, tmp_path: Path, **options: float) -> dict[str, int]:
    spec = parse_spec(SPEC | {"search": {"strategy": strategy, "options": options}})
    (trial,) = run(spec, out=tmp_path / strategy, progress=False).study.trials
    assert trial.user_attrs["search_cost"]["strategy"] == strategy
    assert trial.user_attrs["test_metrics"]["auc"] > 0  # trained like any candidate
    return {k[len("model.embedding.dim[") : -1]: v for k, v in trial.params.items()}


def test_fde_puts_every_field_at_the_largest_width(tmp_path: Path) -> None:
    widths = _widths("fde", tmp_path)
    assert widths == dict.fromkeys(["I1", "C1", "C2", "C3", "C4"], 32)


def test_mde_shrinks_widths_with_the_effective_vocabulary(tmp_path: Path) -> None:
    alpha = 0.3
    widths = _widths("mde", tmp_path, alpha=alpha)
    schema = Evaluator(parse_spec(SPEC)).data.schema
    sizes = {
        n: effective_vocabulary(schema.field(n).counts) if schema.field(n).is_categorical else 1
        for n in widths
    }
    smallest = min(sizes.values())
    for name, width in widths.items():
        target = 32 * (sizes[name] / smallest) ** (-alpha)
        nearest = min([2, 4, 8, 16, 32], key=lambda c: (abs(math.log(c / target)), c))
        assert width == nearest, (name, sizes[name], width, target)
    assert widths["I1"] == 32  # a numerical field is the smallest "vocabulary"
    by_size = sorted(widths, key=sizes.__getitem__)
    assert [widths[n] for n in by_size] == sorted(widths.values(), reverse=True)
    assert len(set(widths.values())) > 1


def test_effective_vocabulary_covers_the_share_of_rows() -> None:
    counts = np.array([50, 30, 10, 5, 3, 2])
    assert effective_vocabulary(counts, 0.8) == 2
    assert effective_vocabulary(counts, 0.95) == 4
    assert effective_vocabulary(None) == 1
    with pytest.raises(SpecError, match=r"search\.options\.alpha"):
        STRATEGIES.get("mde")(seed=0, alpha=5)
