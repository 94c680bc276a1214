"""The numerical-embedding slots: decisions, their resolution, errors, an end-to-end run."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
import pytest

import searchengine
from searchengine.errors import SpecError
from searchengine.searchspace import SearchSpace, parse_spec

DATA = "data: {dataset: synthetic, rows: 500, options: {categorical: 3, numerical: 2}}\n"


def space_of(body: str, data: str = DATA) -> SearchSpace:
    return SearchSpace.from_spec(parse_spec("name: t\n" + data + body, file="s.yaml"))


def spec_errors(body: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        space_of(body)
    return [issue.format("s.yaml") for issue in info.value.issues]


SEARCHED = (
    "model:\n"
    "  embedding:\n"
    "    numerical: {choice: [scalar, bucket, autodis], per: field}\n"
    "    bucket: {count: {int: [4, 32]}, method: {choice: [width, frequency, log]}}\n"
    "    autodis:\n"
    "      meta: {choice: [8, 16]}\n"
    "      temperature: {float: [0.1, 2.0], log: true}\n"
    "      aggregation: {choice: [max, topk, weighted]}\n"
    "      topk: {int: [1, 4]}\n"
)


def test_one_method_decision_per_numerical_field() -> None:
    space = space_of(SEARCHED)
    assert space.names == [
        "model.embedding.numerical[I1]",
        "model.embedding.numerical[I2]",
        "model.embedding.bucket.count",
        "model.embedding.bucket.method",
        "model.embedding.autodis.meta",
        "model.embedding.autodis.temperature",
        "model.embedding.autodis.aggregation",
        "model.embedding.autodis.topk",
    ]
    assert space["model.embedding.numerical[I1]"].choices == ("scalar", "bucket", "autodis")
    assert space["model.embedding.autodis.temperature"].kind == "float"


def test_sampled_methods_resolve_to_a_per_field_map_that_round_trips() -> None:
    space = space_of(SEARCHED)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    arch = space.sample(study.ask())
    methods = arch.model.embedding.numerical
    assert isinstance(methods, dict) and set(methods) == {"I1", "I2"}
    assert methods == {f: arch.values[f"model.embedding.numerical[{f}]"] for f in methods}
    again = parse_spec(arch.to_yaml())
    assert again.model_or_default().embedding == arch.model.embedding
    assert len(SearchSpace.from_spec(again)) == 0


def test_literal_method_for_all_fields_makes_no_decision() -> None:
    space = space_of("model: {embedding: {numerical: autodis, autodis: {meta: 4}}}\n")
    assert len(space) == 0
    assert space.fixed({}).model.embedding.numerical == "autodis"


def test_no_numerical_fields_means_no_decisions(caplog: pytest.LogCaptureFixture) -> None:
    data = "data: {dataset: synthetic, rows: 500, options: {categorical: 3, numerical: 0}}\n"
    with caplog.at_level(logging.WARNING):
        space = space_of(SEARCHED, data)
    assert not any(n.startswith("model.embedding.numerical") for n in space.names)
    assert "model.embedding.numerical: `per: field` but the data has no numerical" in caplog.text
    assert space.fixed({}).model.embedding.numerical == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "model: {embedding: {numerical: autodsi}}\n",
            "s.yaml:3: model.embedding.numerical: unknown numerical method 'autodsi'; "
            "did you mean 'autodis'? (choices: scalar, bucket, autodis, raw)",
        ),
        (
            "model: {embedding: {numerical: {choice: [scalar, buckt], per: field}}}\n",
            "s.yaml:3: model.embedding.numerical.choice[1]: unknown numerical method 'buckt'; "
            "did you mean 'bucket'? (choices: scalar, bucket, autodis, raw)",
        ),
        (
            "model: {embedding: {numerical: {I1: autodis, C1: bucket}}}\n",
            "s.yaml:3: model.embedding.numerical.C1: 'C1' is categorical; only numerical "
            "fields (I1, I2) have a method",
        ),
        (
            "model: {embedding: {numerical: {I1: autodis, I22: bucket}}}\n",
            "s.yaml:3: model.embedding.numerical.I22: unknown numerical field 'I22'; "
            "did you mean 'I2'?",
        ),
        (
            "model: {embedding: {bucket: {method: widht}}}\n",
            "s.yaml:3: model.embedding.bucket.method: unknown bucket method 'widht'; "
            "did you mean 'width'? (choices: width, frequency, log)",
        ),
        (
            "model: {embedding: {autodis: {aggregation: {choice: [max, wieghted]}}}}\n",
            "s.yaml:3: model.embedding.autodis.aggregation.choice[1]: unknown aggregation "
            "'wieghted'; did you mean 'weighted'? (choices: max, topk, weighted)",
        ),
        (
            "model: {embedding: {autodis: {meta: 4, topk: 5}}}\n",
            "s.yaml:3: model.embedding.autodis.topk: topk (5) must be at most meta (4)",
        ),
        (
            "model: {embedding: {autodis: {temperature: 0}}}\n",
            "s.yaml:3: model.embedding.autodis.temperature: expected a number > 0, got 0",
        ),
    ],
)
def test_error_text_is_pinned(body: str, message: str) -> None:
    assert message in spec_errors(body)


def test_search_per_field_methods_end_to_end(tmp_path: Path) -> None:
    spec = parse_spec(
        "name: numerical-e2e\n"
        "data: {dataset: synthetic, rows: 1500, cache: false,\n"
        "       options: {categorical: 2, numerical: 3, max_vocab: 50}}\n"
        "model:\n"
        "  backbone: deepfm\n"
        "  embedding:\n"
        "    dim: 4\n"
        "    numerical: {choice: [scalar, bucket, autodis], per: field}\n"
        "    bucket: {count: 4}\n"
        "    autodis: {meta: 4, aggregation: {choice: [max, weighted]}}\n"
        "  mlp: {layers: [8]}\n"
        "train: {epochs: 1, batch_size: 512, threads: 1}\n"
        "search: {strategy: random, trials: 3, seed: 0}\n"
    )
    result = searchengine.run(
        spec, out=tmp_path, storage=f"sqlite:///{tmp_path}/study.db", progress=False
    )
    trials = result.study.trials
    assert len(trials) == 3
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    used = {t.params[f"model.embedding.numerical[I{i}]"] for t in trials for i in (1, 2, 3)}
    assert used == {"scalar", "bucket", "autodis"}
    assert all(0.0 < t.values[0] <= 1.0 for t in trials)


# --------------------------------------------------------------------------- raw


def test_a_raw_field_s_width_pairs_and_memberships_are_not_searched() -> None:
    space = space_of(
        "model:\n"
        "  backbone: fm\n"
        "  embedding:\n"
        "    dim: {choice: [4, 8], per: field}\n"
        "    numerical: {I1: raw}\n"
        "  interactions: {gate: search, groups: {orders: [2], sets: 1}}\n"
    )
    names = space.names
    assert "model.embedding.dim[I2]" in names and "model.embedding.dim[C1]" in names
    assert not [n for n in names if "I1" in n]  # no width, no pair, no membership
    assert "model.interactions.gate[I2,C1]" in names
    assert "model.interactions.groups[2,0,I2]" in names
    arch = space.fixed({})
    assert "I1" not in arch.spec.model.embedding.dim  # a raw field needs no width


def test_a_searched_raw_choice_conditions_the_field_s_vector_decisions() -> None:
    space = space_of(
        "model:\n"
        "  backbone: deepfm\n"
        "  embedding:\n"
        "    dim: {choice: [4, 8], per: field}\n"
        "    numerical: {choice: [scalar, raw], per: field}\n"
        "  interactions: {gate: search}\n"
    )
    width = space["model.embedding.dim[I1]"]
    assert [(c.parent, c.values) for c in width.conditions] == [
        ("model.embedding.numerical[I1]", ("scalar",))
    ]
    pair = space["model.interactions.gate[I1,I2]"]
    assert {c.parent for c in pair.conditions} == {
        "model.embedding.numerical[I1]",
        "model.embedding.numerical[I2]",
    }
    assert not space["model.embedding.dim[C1]"].conditions
    raw = {"model.embedding.numerical[I1]": "raw", "model.embedding.numerical[I2]": "scalar"}
    active = {d.name for d in space if space.is_active(d, raw)}
    assert "model.embedding.dim[I1]" not in active and "model.embedding.dim[I2]" in active
    assert "model.interactions.gate[I1,I2]" not in active
    assert "model.interactions.gate[I2,C1]" in active


def test_a_width_map_may_leave_raw_fields_out(tmp_path: Path) -> None:
    body = (
        "model:\n"
        "  backbone: deepfm\n"
        "  embedding:\n"
        "    dim: {C1: 4, C2: 8, C3: 4, I2: 4}\n"
        "    numerical: {I1: raw}\n"
        "  mlp: {layers: [8]}\n"
        "train: {epochs: 1}\n"
        "search: {trials: 1}\n"
    )
    assert "I1" not in space_of(body).fixed({}).spec.model.embedding.dim
    errors = spec_errors(body.replace("I1: raw", "I1: scalar"))
    assert any("no width for field(s) I1" in e for e in errors)
    spec = parse_spec("name: t\n" + DATA + body, file="s.yaml")
    result = searchengine.run(spec, out=tmp_path / "run", progress=False)
    assert result.best and result.best[0].state.name == "COMPLETE"
