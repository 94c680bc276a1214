"""The command line end to end: exit codes, messages, run on tiny data, plug-ins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from searchengine.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = """\
name: tiny
data: {dataset: synthetic, rows: 3000, options: {categorical: 4, numerical: 2, seed: 1}}
model:
  backbone: {choice: [fm, deepfm]}
  embedding: {dim: {choice: [2, 4], per: field}}
  mlp: {layers: [16]}
train: {batch_size: 512, epochs: 2, patience: 1, lr: 5.0e-3}
objectives: [{metric: auc}]
search: {strategy: random, trials: 3, seed: 0}
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def cli(
    args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "searchengine", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_run_end_to_end_and_rerun_best(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write(tmp_path, TINY)
    out = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "Best trial of tiny (random)" in printed and "3 complete" in printed
    result = json.loads((out / "result.json").read_text())
    best = result["best"][0]
    assert 0.5 < best["values"]["auc"] <= 1.0
    assert set(best["test_metrics"]) >= {"auc", "logloss"}
    assert best["metrics"]["embedding_params"] > 0 and best["metrics"]["latency_ms"] > 0
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 3
    assert study.trials[0].intermediate_values  # validation AUC reported per epoch
    # best.yaml is a concrete spec named tiny-best: running it, from where the search ran,
    # is one trial of the same architecture in its own folder, the search left as it was
    text = (out / "best.yaml").read_text()
    assert "name: tiny-best" in text
    assert main(["run", str(out / "best.yaml"), "-q"]) == 0
    again = json.loads((Path("runs") / "tiny-best" / "result.json").read_text())["best"][0]
    assert (
        len(optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}").trials)
        == 3
    )
    assert again["architecture"]["model"] == best["architecture"]["model"]
    assert again["values"]["auc"] == pytest.approx(best["values"]["auc"], abs=1e-6)


def test_validate_lists_decisions(tmp_path: Path, capsys) -> None:
    assert main(["validate", str(write(tmp_path, TINY))]) == 0
    out = capsys.readouterr().out
    assert "model.embedding.dim[C1]" in out and "model.backbone" in out and "is valid" in out


def test_bad_spec_exits_2_without_traceback(tmp_path: Path) -> None:
    spec = write(
        tmp_path, TINY.replace("epochs: 2", "epochs: -2").replace("backbone:", "backbon:")
    )
    done = cli(["validate", str(spec)])
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "train.epochs: expected a positive integer, got -2" in done.stderr
    assert "model.backbon: unknown key 'backbon'; did you mean 'backbone'?" in done.stderr


def test_every_kind_of_error_is_reported_at_once_with_brackets_intact(
    tmp_path: Path, capsys
) -> None:
    bad = (
        "name: bad\ndata: {dataset: adlut}\nmodel: {backbone: deepfmm, embedding: {dim: -4}}\n"
        "train: {lr: {float: [1.0, 0.1]}, weight_decay: {float: [1.0]}}\nobjectives: [{metric: acu}]\nsearch: {strategy: tpee}\n"
    )
    assert main(["validate", str(write(tmp_path, bad))]) == 2
    err = capsys.readouterr().err
    assert "model.embedding.dim: expected a positive integer, got -4" in err
    assert "train.lr: `low <= high` must hold, got low=1.0, high=0.1" in err
    assert "data.dataset: unknown dataset 'adlut'; did you mean 'adult'?" in err
    assert "model.backbone: unknown backbone 'deepfmm'; did you mean 'deepfm'?" in err
    assert "search.strategy: unknown strategy 'tpee'; did you mean 'tpe'?" in err
    assert "objectives[0].metric: unknown metric 'acu'; did you mean 'auc'?" in err
    assert "(choices: autoint, blocks, dcn, dcnv2, deepfm, finalmlp, fm, fwfm, wide_deep)" in err
    assert "train.weight_decay.float: expected [low, high]" in err  # rich kept the brackets


def test_bad_override_and_flags_exit_2(tmp_path: Path, capsys) -> None:
    spec = str(write(tmp_path, TINY))
    assert main(["validate", spec, "--set", "model.backbone=deepfn"]) == 2
    err = capsys.readouterr().err
    assert "unknown backbone 'deepfn'; did you mean 'deepfm'?" in err
    assert main(["run", spec, "--trials", "0"]) == 2
    assert "--trials: expected a positive number, got 0" in capsys.readouterr().err
    assert main(["run", spec, "--strategy", "tpee", "--out", str(tmp_path / "x")]) == 2
    assert "unknown strategy 'tpee'; did you mean 'tpe'?" in capsys.readouterr().err


def test_missing_data_is_a_clear_error(tmp_path: Path, capsys) -> None:
    spec = write(tmp_path, "name: ml\ndata: {dataset: movielens-100k, path: /no/such/dir}\n")
    assert main(["run", str(spec), "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "/no/such/dir" in capsys.readouterr().err


def test_schema_is_in_sync_with_specs_schema_json(capsys) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    committed = (ROOT / "specs" / "schema.json").read_text()
    assert printed == committed, "run `searchengine schema > specs/schema.json`"
    assert json.loads(printed)["properties"]["model"]


def test_strategies_lists_builtins(capsys) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "tpe" in out and "random" in out and "black-box" in out


@pytest.mark.parametrize(
    "name",
    [
        "quickstart.yaml",
        "autodim_adult.yaml",
        "autodis_adult.yaml",
        "autofis_movielens.yaml",
        "generic_function.yaml",
    ],
)
def test_shipped_specs_validate(name: str, capsys) -> None:
    if name == "autofis_movielens.yaml" and not (ROOT.parent / "shared" / "datasets").exists():
        pytest.skip("../shared/datasets is not beside the repository")
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        assert main(["validate", f"specs/{name}"]) == 0, capsys.readouterr().err
    finally:
        os.chdir(cwd)


PLUGIN = ROOT / "tests" / "plugins" / "demo_plugin"
GENERIC = """\
name: plug
evaluator: tests.engine.functions:quadratic
params: {x: {float: [-5, 5]}}
objectives: [{metric: value, direction: minimize}]
search: {trials: 4}
"""


def test_plugin_strategy_by_module_and_class(tmp_path: Path) -> None:
    spec = write(tmp_path, GENERIC)
    done = cli(
        [
            "run",
            str(spec),
            "--strategy",
            "searchengine_demo_plugin:HaltonStrategy",
            "--out",
            str(tmp_path / "o"),
            "-q",
        ],
        env={"PYTHONPATH": f"{PLUGIN}{os.pathsep}{ROOT}"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert result["strategy"] == "searchengine_demo_plugin:HaltonStrategy"
    assert result["trials"]["complete"] == 4


def test_plugin_strategy_by_entry_point(tmp_path: Path) -> None:
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(PLUGIN),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {"PYTHONPATH": f"{target}{os.pathsep}{ROOT}"}
    listed = cli(["strategies"], env=env)
    assert listed.returncode == 0 and "halton" in listed.stdout
    spec = write(tmp_path, GENERIC)
    done = cli(
        ["run", str(spec), "--strategy", "halton", "--out", str(tmp_path / "o"), "-q"], env=env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "o" / "result.json").read_text())["trials"]["complete"] == 4


def test_run_refuses_another_strategy_on_a_study_unless_continue_with(
    tmp_path: Path, capsys
) -> None:
    spec = str(
        write(
            tmp_path,
            "name: g\nevaluator: tests.engine.functions:quadratic\n"
            "params: {x: {float: [-5, 5]}}\nobjectives: [{metric: value, direction: minimize}]\n"
            "search: {strategy: tpe, trials: 2, options: {n_startup_trials: 1}}\n",
        )
    )
    out = ["--out", str(tmp_path / "o"), "-q"]
    assert main(["run", spec, *out]) == 0
    capsys.readouterr()
    assert main(["run", spec, "--strategy", "evolution", "--trials", "3", *out]) == 2
    assert "is searched by tpe (2 trials)" in capsys.readouterr().err
    assert main(["run", spec, "--continue-with", "evolution", "--trials", "3", *out]) == 0
    printed = capsys.readouterr().out
    assert "Best trial of g (2 tpe, 1 evolution)" in printed
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert result["strategies"] == {"tpe": 2, "evolution": 1}


TABLE = (
    "name: t\ndata: {dataset: table, path: PATH, label: y, fields: [{name: a, type: categorical}]}\n"
    "model: {embedding: {dim: {choice: [2, 4]}}}\ntrain: {epochs: 1}\nsearch: {trials: 1}\n"
)


def test_validate_checks_that_the_data_file_exists(tmp_path: Path, capsys) -> None:
    spec = write(tmp_path, TABLE.replace("PATH", str(tmp_path / "missing.csv")))
    assert main(["validate", str(spec)]) == 2
    assert f"{tmp_path / 'missing.csv'}" in capsys.readouterr().err


@pytest.mark.parametrize("rows", [None, "a,y\nx,maybe\nz,perhaps\n", "a,y\n"])
def test_a_run_that_stops_on_bad_data_leaves_no_study(
    tmp_path: Path, rows: str | None, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data.csv"
    if rows is not None:
        data.write_text(rows)
    spec = write(tmp_path, TABLE.replace("PATH", str(data)))
    assert main(["run", str(spec), "-q"]) == 2
    assert "data.csv" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args", [["--help"], ["strategies"], ["schema"], ["validate", "specs/generic_function.yaml"]]
)
def test_light_commands_do_not_import_torch_or_pandas(args: list[str]) -> None:
    code = (
        "import sys\nfrom searchengine.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({'torch', 'pandas', 'plotly', 'matplotlib', 'pymoo'} & set(sys.modules))\n"
        "print('heavy:', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert "heavy: []" in done.stdout, done.stdout + done.stderr
