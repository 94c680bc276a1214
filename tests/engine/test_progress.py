"""Live progress: epoch and trial events as JSON lines, the bar, the CLI flags."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from searchengine import parse_spec, run
from searchengine.cli import main
from searchengine.engine.progress import Progress, _clock
from searchengine.evaluation import Evaluator

TINY = {
    "name": "progress",
    "data": {"dataset": "synthetic", "rows": 1500,
             "options": {"categorical": 3, "numerical": 1, "seed": 2, "max_vocab": 100}},
    "model": {"backbone": "fm", "embedding": {"dim": {"choice": [2, 4]}}},
    "train": {"batch_size": 512, "epochs": 2, "patience": 2},
    "search": {"strategy": "random", "trials": 2, "seed": 0},
}  # fmt: skip


def test_json_lines_per_epoch_and_per_trial(tmp_path: Path) -> None:
    stream = io.StringIO()
    evaluator = Evaluator(parse_spec(TINY))
    run(parse_spec(TINY), out=tmp_path, progress=True, log_json=stream, evaluator=evaluator)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    trials = [e for e in events if e["event"] == "trial"]
    assert [(e["trial"], e["epoch"], e["epochs"]) for e in epochs] == [
        (0, 0, 2), (0, 1, 2), (1, 0, 2), (1, 1, 2),
    ]  # fmt: skip
    assert all(0.0 <= e["valid_auc"] <= 1.0 and "valid_logloss" in e for e in epochs)
    assert [(t["trial"], t["state"], t["done"], t["budget"]) for t in trials] == [
        (0, "COMPLETE", 1, 2), (1, "COMPLETE", 2, 2),
    ]  # fmt: skip
    assert trials[-1]["best"] == max(t["values"]["auc"] for t in trials)
    assert trials[-1]["eta_s"] == 0.0 and trials[0]["elapsed_s"] > 0
    assert evaluator.listeners == []  # the display let go of the evaluator


def test_cli_log_json_to_a_file_and_quiet(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps(TINY))  # JSON is YAML
    log = tmp_path / "events.jsonl"
    code = main(["run", str(spec), "--out", str(tmp_path / "o"), "-q", "--log-json", str(log)])
    assert code == 0
    kinds = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert kinds.count("trial") == 2 and kinds.count("epoch") == 4
    assert capsys.readouterr().err == ""  # quiet: no bar
    assert main(["run", str(spec), "--log-json", str(tmp_path / "no" / "dir" / "x")]) == 2
    assert "--log-json" in capsys.readouterr().err


def test_eta_from_the_trials_of_this_run() -> None:
    class Fake:
        start_done, budget, timeout = 2, 10, None

        def elapsed(self) -> float:
            return 30.0

    fake = Fake()
    fake.done = 5  # type: ignore[attr-defined]
    assert Progress.eta(fake) == 50.0  # 3 trials in 30 s, 5 left  # type: ignore[arg-type]
    fake.timeout = 40.0  # type: ignore[misc]
    assert Progress.eta(fake) == 10.0  # type: ignore[arg-type]
    assert _clock(3725) == "1:02:05"


def test_a_one_shot_search_reports_its_supernet_epochs(tmp_path: Path) -> None:
    spec = dict(TINY)
    spec["model"] = {"backbone": "fm", "embedding": {"dim": 4}, "interactions": {"gate": "search"}}
    spec["search"] = {"strategy": "differentiable", "options": {"epochs": 2}}
    stream = io.StringIO()
    run(parse_spec(spec), out=tmp_path, progress=True, log_json=stream)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    supernet = [e for e in events if e.get("phase") == "supernet"]
    assert [(e["epoch"], e["epochs"]) for e in supernet] == [(0, 2), (1, 2)]
    assert all(e["trial"] is None and 0.0 <= e["valid_auc"] <= 1.0 for e in supernet)
    retrain = [e for e in events if e["event"] == "epoch" and "phase" not in e]
    assert retrain and all(e["trial"] == 0 for e in retrain)  # then the derived model trains


def test_without_a_terminal_one_plain_line_per_trial(tmp_path: Path, capsys) -> None:
    spec = parse_spec(
        "name: g\nevaluator: tests.engine.functions:quadratic\nparams: {x: {float: [-5, 5]}}\n"
        "objectives: [{metric: value, direction: minimize}]\n"
    )
    result = run(spec, trials=3, strategy="random", out=tmp_path, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("trial")]
    assert len(lines) == 3, lines
    best = None
    for i, (line, trial) in enumerate(zip(lines, result.study.trials, strict=True)):
        if best is None or trial.value < best.value:
            best = trial
        assert re.fullmatch(
            rf"trial {i} COMPLETE value {trial.value:.4f} \| best value {best.value:.4f} "
            rf"\(trial {best.number}\) \| {i + 1}/3 \| 0:00:\d\d",
            line,
        ), line


def test_plain_lines_name_the_final_retrains_and_never_exceed_the_count(
    tmp_path: Path, capsys
) -> None:
    spec = parse_spec(
        {**TINY, "search": {**TINY["search"], "trials": 3,
                            "fidelity": {"subsample": 0.5, "epochs": 1, "retrain": 1}}}
    )  # fmt: skip
    result = run(spec, out=tmp_path, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("trial")]
    trials = result.study.trials  # both candidates of the space (it is then exhausted)
    assert len(lines) == len(trials) == 3, lines
    retrain = trials[-1]
    assert re.search(
        rf"^trial 2 COMPLETE auc \S+ \(full-fidelity retrain of trial "
        rf"{retrain.user_attrs['retrain_of']}\) \| .* \| 2/3 \|",
        lines[-1],
    ), lines[-1]
