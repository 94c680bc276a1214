"""The package's layers stay one-way (pyproject.toml's import contract), every import
counted: module level, inside functions, and under TYPE_CHECKING."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_layers_are_one_way() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.fail("lint-imports is missing: pip install -e '.[test]'")
    done = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "one-way layers KEPT" in done.stdout


def test_a_function_level_import_upward_is_caught(tmp_path: Path) -> None:
    """The contract sees imports inside functions: a copy of the package with one upward
    import (models -> engine) breaks it."""
    copy = tmp_path / "searchengine"
    shutil.copytree(ROOT / "searchengine", copy, ignore=shutil.ignore_patterns("__pycache__"))
    layers = copy / "models" / "layers.py"
    layers.write_text(layers.read_text() + "\n\ndef _up():\n    from searchengine import engine\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    done = subprocess.run(
        [exe], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(tmp_path), "PATH": str(Path(exe).parent)},
    )  # fmt: skip
    assert done.returncode != 0
    assert "searchengine.models.layers -> searchengine.engine" in done.stdout
