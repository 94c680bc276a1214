"""``searchengine report``: figures present when their data is, any strategy, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from searchengine import parse_spec, run
from searchengine.cli import main
from searchengine.engine.runs import open_run
from searchengine.report import FIGURES, ReportContext, build_report
from searchengine.report._search import hypervolume_data
from searchengine.strategies import STRATEGIES
from tests.report.conftest import search, tiny_spec

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "demo_plugin"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def figure_divs(html: str) -> list[str]:
    return [kind.key for kind in FIGURES if f'id="figure-{kind.key}"' in html]


def test_single_objective_report(single_run: Path) -> None:
    report = build_report(single_run)
    assert report.html == single_run / "report.html"
    html = report.html.read_text()
    assert report.figures == ["history", "importances", "dims", "gates"]
    assert figure_divs(html) == report.figures
    assert "Pareto" not in html and "Hypervolume" not in html
    # one self-contained page: plotly.js inline, nothing fetched
    assert "<script src=" not in html and "Plotly.newPlot" in html
    assert "over constraint, not trained" in html  # the failures section, with reasons
    assert 'id="top-trials"' in html
    top = html.split('id="top-trials"', 1)[1].split("</table>", 1)[0]
    assert "<th>embedding_params</th>" in top and "latency_ms" not in top  # load, not model
    assert {p.name for p in report.pngs} == {f"{k}.png" for k in report.figures}
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in report.pngs)


def test_multi_objective_report(multi_run: Path, tmp_path: Path) -> None:
    report = build_report(multi_run, tmp_path / "r.html", png=False)
    assert report.figures[:4] == ["history", "pareto", "hypervolume", "importances"]
    assert "gates" in report.figures and not report.pngs
    html = report.html.read_text()
    assert "knee" in html and "best embedding_params" in html
    result = json.loads((multi_run / "result.json").read_text())
    for entry in result["best"]:  # every Pareto trial is labelled on the front
        assert f"#{entry['number']}" in html
    opened = open_run(multi_run)
    ctx = ReportContext(opened.study, opened.spec, opened.storage, opened.study.get_trials())
    curve = hypervolume_data(ctx)
    assert curve is not None and np.all(np.diff(curve.values) >= 0)
    if result.get("hypervolume"):  # the same reference point, so the same final value
        assert curve.values[-1] == pytest.approx(result["hypervolume"]["value"], rel=1e-9)


def test_three_objectives_draw_a_3d_front(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "name": "three",
            "evaluator": "tests.report.functions:three",
            "params": {"x": {"float": [0, 1]}, "y": {"float": [0, 1]}},
            "objectives": [
                {"metric": "a", "direction": "minimize"},
                {"metric": "b", "direction": "minimize"},
                {"metric": "c", "direction": "maximize"},
            ],
        }
    )
    run(spec, trials=8, out=tmp_path, progress=False)
    report = build_report(tmp_path, png=True)
    assert {"pareto", "hypervolume", "importances"} <= set(report.figures)
    assert "dims" not in report.figures  # a generic search has no fields
    assert '"type":"scatter3d"' in report.html.read_text()
    assert (tmp_path / "report_figures" / "pareto.png").read_bytes().startswith(PNG_MAGIC)


def _hook_study(url: str) -> None:
    """A study made by some other tool: hook attributes, no searchengine spec."""
    study = optuna.create_study(storage=url, study_name="hooks", directions=["maximize"])
    dists = {"x": FloatDistribution(0, 1), "k": CategoricalDistribution(["a", "b"])}
    for i in range(4):
        attrs = {"search_cost": {"seconds": 3.5}} if i == 3 else {}
        study.add_trial(
            create_trial(value=0.5 + i / 10, params={"x": i / 4, "k": "ab"[i % 2]},
                         distributions=dists, user_attrs=attrs)
        )  # fmt: skip
    study.add_trial(
        create_trial(
            value=0.99, params={"x": 0.9, "k": "a"}, distributions=dists,
            user_attrs={
                "gate_weights": {"u,i": 0.8, "u,c": -0.1, "i,c": 0.4},
                "groups": {"2": [["u", "i"], ["i", "c"]], "3": [["u", "i", "c"]]},
                "entity_sizes": {"u": {"sizes": [8, 4, 2], "counts": [100, 10, 1]}},
                "dag": {"nodes": [{"id": "in", "label": "input"}, {"id": "b1", "label": "mlp 64"},
                                  {"id": "out"}], "edges": [["in", "b1"], ["b1", "out"], ["in", "out"]]},
            },
        )
    )  # fmt: skip
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "boom: x"}))


def test_hook_attributes_feed_their_figures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    _hook_study(url)
    report = build_report(storage=url, out=tmp_path / "hooks.html")
    assert report.figures == [
        "history", "importances", "entity_sizes", "gates", "groups", "dag",
    ]  # fmt: skip
    html = report.html.read_text()
    assert "learned |alpha|" in html and "mlp 64" in html and "order 3, set 1" in html
    assert "boom" in html and "3.5" in html  # failure reasons; search cost
    for key in report.figures:  # every main figure has its PNG too
        assert (tmp_path / "hooks_figures" / f"{key}.png").read_bytes().startswith(PNG_MAGIC)


def test_groups_and_multisize_of_black_box_trials_are_drawn(tmp_path: Path) -> None:
    groups = {"orders": [2, 3], "sets": 2}
    model = {"backbone": "fm", "embedding": {"dim": 4}, "interactions": {"groups": groups}}
    search(tmp_path / "g", tiny_spec("groups", model=model), trials=2)
    report = build_report(tmp_path / "g")
    assert (
        "groups" in report.figures and (tmp_path / "g" / "report_figures" / "groups.png").exists()
    )
    assert "order 3, set 2" in report.html.read_text()
    multisize = {"buckets": 3, "chunk": 2, "chunks": 3}
    model = {"backbone": "deepfm", "embedding": {"dim": 4, "multisize": multisize},
             "mlp": {"layers": [8]}}  # fmt: skip
    search(tmp_path / "m", tiny_spec("multisize", model=model), trials=2)
    report = build_report(tmp_path / "m", png=False)
    assert "multisize" in report.figures
    assert "Multi-size embedding width per frequency bucket" in report.html.read_text()


def test_a_study_still_running(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    study = optuna.create_study(storage=url, study_name="live")
    study.ask()  # RUNNING, nothing finished yet
    report = build_report(storage=url, out=tmp_path / "live.html")
    assert report.figures == []
    html = report.html.read_text()
    assert "still running" in html and "No completed trial yet" in html
    assert any("no completed trial" in n for n in report.notes)


STRATEGY_NAMES = STRATEGIES.names()


@pytest.mark.parametrize("name", [*STRATEGY_NAMES, "plugin"])
def test_report_on_each_strategy(name: str, tmp_path: Path, monkeypatch) -> None:
    strategy = name
    if name == "plugin":
        monkeypatch.syspath_prepend(str(PLUGIN))
        strategy = "searchengine_demo_plugin:HaltonStrategy"
    spec = tiny_spec(f"s-{name}")
    figure = "dims"
    if name == "esapn":  # ESAPN searches per-id sizes of dynamic fields, nothing else
        model = spec.model.model_dump(mode="json", exclude_none=True, by_alias=True)
        model["embedding"] = {"dim": 4, "dynamic": {"candidates": [2, 4, 8], "fields": ["C1"]}}
        model.pop("interactions", None)
        spec = tiny_spec(f"s-{name}", model=model)
        figure = "entity_sizes"
    if name == "fieldperm":  # fieldperm decides which fields are kept, nothing else
        model = spec.model.model_dump(mode="json", exclude_none=True, by_alias=True)
        spec = tiny_spec(f"s-{name}", model=model | {"fields": {"keep": "search"}})
        figure = "fields"
    result = search(tmp_path, spec, strategy=strategy, trials=2)
    assert result.summary["trials"]["complete"] >= 1
    report = build_report(tmp_path, png=False)
    assert report.figures[0] == "history" and figure in report.figures
    if name == "differentiable":  # AutoFIS's learned gates, not kept/dropped
        assert "gates" in report.figures and "learned |alpha|" in report.html.read_text()
    assert strategy in report.html.read_text()


def test_report_cli_and_its_errors(single_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli.html"
    assert main(["report", str(single_run), "-o", str(out), "--no-png", "--trial", "0"]) == 0
    assert "report:" in capsys.readouterr().out and out.exists()
    assert not (tmp_path / "cli_figures").exists()
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert f"run folder not found: {tmp_path / 'missing'}" in capsys.readouterr().err
    assert main(["report", str(single_run), "--trial", "99"]) == 2
    assert "no trial 99 in study 'single'" in capsys.readouterr().err
    assert main(["report"]) == 2
    assert "give a run folder" in capsys.readouterr().err
    url = f"sqlite:///{tmp_path / 'two.db'}"
    for study in ("a", "b"):
        optuna.create_study(storage=url, study_name=study)
    assert main(["report", "--storage", url]) == 2
    assert "holds 2 studies (a, b); pick one with --study NAME" in capsys.readouterr().err
    assert main(["report", "--storage", f"sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "storage not found" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()  # nothing is created


def test_the_dims_figure_keeps_field_names_apart() -> None:
    from searchengine.report._arch import DimsData, dims_figure, label_positions

    assert label_positions([2, 2, 2, 8, 2]) == [
        "top center", "bottom center", "middle right", "top center", "middle left"
    ]  # fmt: skip
    many = [f"C{i}" for i in range(26)]
    data = DimsData(trial=3, fields=many, dims=[2] * 26, cardinality=[10.0 ** (i % 6) for i in range(26)],
                    frequency=[1.0 + i for i in range(26)])  # fmt: skip
    fig = dims_figure(data)
    assert all(t.mode == "markers" and list(t.hovertext) == many for t in fig.data)
    assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis2.dtick == 1
