"""A tiny search on the bundled Adult data, and its export, made once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from searchengine import parse_spec, run
from searchengine.cli import main

ADULT = {
    "name": "adult-tiny",
    "data": {"dataset": "adult", "rows": 2500},
    "model": {
        "backbone": {"choice": ["fm", "deepfm"]},
        "embedding": {"dim": {"choice": [2, 4], "per": "field"}},
        "mlp": {"layers": [16]},
    },
    "train": {"batch_size": 512, "epochs": 2, "patience": 1, "lr": 5.0e-3},
    "objectives": [{"metric": "auc"}],
    "constraints": [{"metric": "embedding_params", "max": 360}],
    "search": {"strategy": "random", "trials": 4, "seed": 0},
}


@dataclass
class Exported:
    run_dir: Path
    folder: Path


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    root = tmp_path_factory.mktemp("export")
    run(parse_spec(ADULT), out=root / "run", progress=False)
    assert main(["export", str(root / "run"), "-o", str(root / "model")]) == 0
    return Exported(root / "run", root / "model")
