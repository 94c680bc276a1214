"""Small studies to report on: CTR searches on tiny synthetic data, made once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from searchengine import parse_spec, run
from searchengine.engine import RunResult


def tiny_spec(name: str, **changes: Any) -> Any:
    """A CTR spec on 2,000 synthetic rows: per-field widths, searched gates, 1 epoch."""
    data: dict[str, Any] = {
        "name": name,
        "data": {
            "dataset": "synthetic",
            "rows": 2000,
            "options": {"categorical": 4, "numerical": 2, "seed": 1, "max_vocab": 200},
        },
        "model": {
            "backbone": "fm",
            "embedding": {"dim": {"choice": [2, 4, 8], "per": "field"}},
            "interactions": {"gate": "search"},
        },
        "train": {"batch_size": 512, "epochs": 1, "patience": 0, "lr": 5.0e-3},
        "objectives": [{"metric": "auc"}],
        "search": {"strategy": "random", "trials": 5, "seed": 0},
    }
    data.update(changes)
    return parse_spec(data)


def search(tmp: Path, spec: Any, **kwargs: Any) -> RunResult:
    return run(spec, out=tmp, progress=False, **kwargs)


@pytest.fixture(scope="session")
def single_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One objective; a constraint that prunes the widest candidates before training."""
    out = tmp_path_factory.mktemp("single")
    spec = tiny_spec("single", constraints=[{"metric": "embedding_params", "max": 1500}])
    search(out, spec, trials=5)
    return out


@pytest.fixture(scope="session")
def multi_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two objectives (auc, embedding_params): a Pareto front and a hypervolume."""
    out = tmp_path_factory.mktemp("multi")
    spec = tiny_spec("multi", objectives=[{"metric": "auc"}, {"metric": "embedding_params"}])
    search(out, spec, trials=5)
    return out
