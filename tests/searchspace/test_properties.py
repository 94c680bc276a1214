"""Property-based tests: valid specs compile; any corruption is a clean SpecError."""

from __future__ import annotations

import copy
from typing import Any

import optuna
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchengine.errors import SearchEngineError, SpecError
from searchengine.searchspace import SearchSpace, parse_spec

FIELDS = ["I1", "C1", "C2"]


def _int_slot(lo: int, hi: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(lo, hi),
        st.lists(st.integers(lo, hi), min_size=1, max_size=4, unique=True).map(
            lambda c: {"choice": c}
        ),
        st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(
            lambda t: {"int": [min(t), max(t)]}
        ),
    )


def _float_slot(lo: float, hi: float, log: bool = False) -> st.SearchStrategy[Any]:
    number = st.floats(lo, hi, allow_nan=False)
    return st.one_of(
        number,
        st.tuples(number, number).map(
            lambda t: {"float": [min(t), max(t)], **({"log": True} if log else {})}
        ),
    )


specs = st.fixed_dictionaries(
    {
        "name": st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True),
        "data": st.just(
            {"dataset": "synthetic", "rows": 300, "options": {"categorical": 2, "numerical": 1}}
        ),
        "model": st.fixed_dictionaries(
            {
                "backbone": st.one_of(
                    st.sampled_from(["fm", "fwfm", "wide_deep", "deepfm", "dcn"]),
                    st.lists(
                        st.sampled_from(["fm", "deepfm", "dcn"]),
                        min_size=1,
                        max_size=3,
                        unique=True,
                    ).map(lambda c: {"choice": c}),
                ),
                "embedding": st.fixed_dictionaries(
                    {
                        "dim": st.one_of(
                            _int_slot(1, 32),
                            st.lists(st.integers(1, 32), min_size=1, max_size=4, unique=True).map(
                                lambda c: {"choice": c, "per": "field"}
                            ),
                        )
                    }
                ),
                "mlp": st.fixed_dictionaries(
                    {
                        "dropout": _float_slot(0.0, 0.9),
                        "layers": st.lists(_int_slot(1, 64), max_size=3),
                    }
                ),
                "cross": st.fixed_dictionaries({"layers": _int_slot(1, 4)}),
            }
        ),
        "train": st.fixed_dictionaries(
            {
                "lr": _float_slot(1e-5, 1e-1, log=True),
                "batch_size": _int_slot(1, 4096),
                "epochs": _int_slot(1, 5),
                "optimizer": st.one_of(
                    st.sampled_from(["adam", "sgd"]), st.just({"choice": ["adam", "adagrad"]})
                ),
            }
        ),
    }
)


def _compile(data: dict[str, Any]) -> SearchSpace:
    return SearchSpace.from_spec(parse_spec(data))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs, st.integers(0, 2**16))
def test_valid_specs_compile_and_sample(data: dict[str, Any], seed: int) -> None:
    space = _compile(data)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    arch = space.sample(study.ask())
    assert len(SearchSpace.from_spec(parse_spec(arch.to_yaml()))) == 0


_JUNK = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def corrupted(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(draw(specs))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "rename", "add"]))
        key = path[-1]
        if action == "replace":
            parent[key] = draw(_JUNK)
        elif action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[str(key) + draw(st.sampled_from(["x", "_", "s"]))] = parent.pop(key)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=6))] = draw(_JUNK)
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_corrupted_specs_fail_cleanly(data: dict[str, Any]) -> None:
    try:
        _compile(data)
    except SpecError as exc:
        assert exc.issues and all(issue.message for issue in exc.issues)
        assert "Traceback" not in str(exc)
    except SearchEngineError as exc:
        assert str(exc)
