"""The spec's vocabulary (searchengine.spec.vocabulary), which checking a spec reads
without importing torch, names exactly what the models and the trainer build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from searchengine.evaluation.trainer import OPTIMIZERS
from searchengine.models import BACKBONES
from searchengine.models.layers import ACTIVATIONS
from searchengine.searchspace._backbones import backbone_names, backbone_traits
from searchengine.spec import vocabulary


def test_every_builtin_backbone_is_declared_with_its_class_traits() -> None:
    builtin = {
        name for name, cls in BACKBONES.items() if cls.__module__.startswith("searchengine.")
    }
    assert builtin == set(vocabulary.BUILTIN_BACKBONES)
    for name in builtin:
        assert vocabulary.BUILTIN_BACKBONES[name] == vocabulary.BackboneTraits.of(
            BACKBONES.get(name)
        ), name


def test_every_builtin_block_type_is_declared_with_its_settings() -> None:
    from searchengine.models.blocks import BLOCKS

    builtin = {n for n, c in BLOCKS.items() if c.__module__.startswith("searchengine.")}
    assert builtin == set(vocabulary.BUILTIN_BLOCKS)
    for name in builtin:
        assert vocabulary.BUILTIN_BLOCKS[name] == tuple(BLOCKS.get(name).hyperparameters)


def test_activation_and_optimizer_names_match_what_is_built() -> None:
    assert set(vocabulary.ACTIVATIONS) == set(ACTIVATIONS)
    assert set(vocabulary.OPTIMIZERS) == set(OPTIMIZERS)


def test_a_backbone_registered_at_run_time_is_known_with_its_traits() -> None:
    from searchengine.models.backbones import FM

    class Mine(FM):
        uses_mlp = True

    BACKBONES.register("mine", Mine)
    try:
        assert "mine" in backbone_names()
        assert backbone_traits("mine").uses_mlp and backbone_traits("mine").uses_pairs
    finally:
        BACKBONES.unregister("mine")


def test_checking_a_data_spec_does_not_import_torch() -> None:
    """The README's spec, a blocks DAG and one-shot strategies' specs (their checks)."""
    code = (
        "import sys\n"
        "from searchengine.searchspace import load_spec\n"
        "from searchengine.searchspace import SearchSpace\n"
        "from searchengine.strategies import create_strategy\n"
        "for name in ('quickstart', 'autoctr_movielens', 'nis_movielens', 'fields_adult'):\n"
        "    spec = load_spec(f'specs/{name}.yaml')\n"
        "    s = create_strategy(spec.search.strategy, spec.search.options, seed=0)\n"
        "    s.check(SearchSpace.from_spec(spec))\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
