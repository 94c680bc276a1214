"""The exact error text users see for bad specs (pydantic-level checks)."""

from __future__ import annotations

import pytest

from searchengine.errors import SpecError
from searchengine.searchspace import load_spec, parse_spec


def errors_of(text: str, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, file="s.yaml", overrides=overrides)
    return [issue.format("s.yaml") for issue in info.value.issues]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nmodel:\n  embedding:\n    dim: {choice: [2, 4, -4], per: field}\n",
            "s.yaml:4: model.embedding.dim.choice[2]: expected a positive integer, got -4",
        ),
        (
            "name: x\nmodel: {mlp: {dropot: 0.1}}\n",
            "s.yaml:2: model.mlp.dropot: unknown key 'dropot'; did you mean 'dropout'?",
        ),
        (
            "name: x\ntrain: {lr: {float: [1.0e-2, 1.0e-4], log: true}}\n",
            "s.yaml:2: train.lr: `low <= high` must hold, got low=0.01, high=0.0001",
        ),
        (
            "name: x\ntrain: {batch_size: {chioce: [1, 2]}}\n",
            "s.yaml:2: train.batch_size: expected a value or {choice: [...]} or {int: [low, high]}, "
            "got {'chioce': [1, 2]}; did you mean 'choice'?",
        ),
        (
            "name: x\nsearch: {trails: 3}\n",
            "s.yaml:2: search.trails: unknown key 'trails'; did you mean 'trials'?",
        ),
        ("nme: x\n", "s.yaml:1: name: required"),
        (
            "name: a b\n",
            "s.yaml:1: name: expected letters, digits, '_', '.' or '-' (a file name), got 'a b'",
        ),
        ("name: x\nobjectives: []\n", "s.yaml:2: objectives: expected at least 1 item"),
        (
            "name: x\ndata: {split: {valid: 0.6, test: 0.5}}\n",
            "s.yaml:2: data.split: valid + test must be < 1, got 0.6 + 0.5",
        ),
        (
            "name: x\ndata: {fields: [{name: a, type: numerial}]}\n",
            "s.yaml:2: data.fields[0].type: expected categorical or numerical, got 'numerial'; "
            "did you mean 'numerical'?",
        ),
        (
            "name: x\ndata: {fields: [{name: a, type: numerical, transform: logp}]}\n",
            "s.yaml:2: data.fields[0].transform: expected one of 'none', 'log1p', 'standardize' or "
            "'minmax', got 'logp'; did you mean 'log1p'?",
        ),
        (
            "name: x\nmodel: {interactions: {gate: serch}}\n",
            "s.yaml:2: model.interactions.gate: expected one of 'all' or 'search', got 'serch'; "
            "did you mean 'search'?",
        ),
        (
            "name: x\ntrain: {batch_size: {int: [8, 500], step: 8}}\n",
            "s.yaml:2: train.batch_size: high - low must be a multiple of step, got low=8, "
            "high=500, step=8",
        ),
        (
            "name: x\ntrain: {weight_decay: {float: [0.0, 1.0], log: true}}\n",
            "s.yaml:2: train.weight_decay: log: true needs low > 0, got low=0.0",
        ),
        (
            "name: x\ntrain: {lr: {float: [0.0, 1.0], log: true}}\n",
            "s.yaml:2: train.lr.float[0]: expected a number > 0, got 0.0",
        ),
        (
            "name: x\ntrain: {epochs: {int: [1]}}\n",
            "s.yaml:2: train.epochs.int: expected [low, high]",
        ),
        (
            "name: x\nmodel: {backbone: {choice: [fm, fm]}}\n",
            "s.yaml:2: model.backbone: choice: 'fm' is listed twice",
        ),
        (
            "name: x\nmodel: {mlp: {layers: [256, 0]}}\n",
            "s.yaml:2: model.mlp.layers[1]: expected a positive integer, got 0",
        ),
        (
            "name: x\nmodel: {mlp: {dropout: 1.5}}\n",
            "s.yaml:2: model.mlp.dropout: expected a number in [0, 1), got 1.5",
        ),
        (
            "name: x\nevaluator: nocolon\nparams: {x: 1}\n",
            "s.yaml:2: evaluator: expected package.module:function, got 'nocolon'",
        ),
        (
            "name: x\nconstraints: [{metric: auc}]\n",
            "s.yaml:2: constraints[0]: give max, min or both",
        ),
        (
            "name: x\ntrain: {epochs: {choice: [1, 2], default: 3}}\n",
            "s.yaml:2: train.epochs: default: 3 is not one of the choices [1, 2]",
        ),
    ],
)
def test_error_text_is_pinned(text: str, expected: str) -> None:
    assert expected in errors_of(text)


def test_all_errors_are_reported_together() -> None:
    text = "name: x\nmodel: {mlp: {dropot: 0.1}, embedding: {dim: -1}}\ntrain: {lr: -1.0}\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, file="s.yaml")
    message = str(info.value)
    assert message.startswith("3 errors in s.yaml:")
    assert "model.mlp.dropot" in message
    assert "model.embedding.dim: expected a positive integer, got -1" in message
    assert "train.lr: expected a number > 0, got -1.0" in message


def test_override_errors_name_the_override() -> None:
    issues = errors_of("name: x\n", ("search.trials=0", "oops", "search.seed=[1"))
    assert "--set search.trials=0: search.trials: expected a positive integer, got 0" in issues
    assert "--set oops: expected key=value with a dotted key" in issues
    assert any(
        i.startswith("--set search.seed=[1: search.seed: invalid YAML value") for i in issues
    )


def test_overrides_apply_yaml_values() -> None:
    spec = parse_spec(
        "name: x\n",
        overrides=[
            "model.embedding.dim={choice: [4, 8], per: field}",
            "search.trials=7",
            "data.path=some/where",
        ],
    )
    assert spec.search.trials == 7
    assert spec.data is not None and spec.data.path == "some/where"
    assert list(spec.model.embedding.dim.choice) == [4, 8]  # type: ignore[union-attr]


def test_invalid_yaml_and_missing_file(tmp_path) -> None:
    assert errors_of("name: [a\n") == [
        "s.yaml:2: invalid YAML: expected ',' or ']', but got '<stream end>'"
    ]
    assert errors_of("- a\n- b\n") == [
        "s.yaml: a spec must be a YAML mapping (name: ..., data: ..., ...)"
    ]
    with pytest.raises(SpecError, match="no such spec file: .*nope.yaml"):
        load_spec(tmp_path / "nope.yaml")


def test_yaml_is_read_safely() -> None:
    issues = errors_of("name: !!python/object/apply:os.system ['echo hi']\n")
    assert len(issues) == 1 and "invalid YAML" in issues[0]


def test_generic_spec_rules() -> None:
    assert any(
        "`evaluator` replaces `data` and `model`" in i
        for i in errors_of("name: x\nevaluator: a.b:f\nparams: {x: 1}\ndata: {}\n")
    )
    assert any("needs `params`" in i for i in errors_of("name: x\nevaluator: a.b:f\n"))
    assert any("only used with `evaluator`" in i for i in errors_of("name: x\nparams: {x: 1}\n"))


def test_a_field_declared_twice_is_reported_at_its_own_line() -> None:
    from searchengine.searchspace import SearchSpace

    text = (
        "name: t\ndata:\n  dataset: table\n  path: x.csv\n  label: y\n  fields:\n"
        "    - {name: a, type: categorical}\n    - {name: b, type: numerical}\n"
        "    - {name: a, type: categorical}\n"
    )
    with pytest.raises(SpecError) as info:
        SearchSpace.from_spec(parse_spec(text, file="s.yaml"))
    assert str(info.value) == (
        "s.yaml:9: data.fields[2]: field 'a' is declared twice; declare each field once"
    )
