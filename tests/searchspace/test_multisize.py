"""``model.embedding.multisize`` (NIS): decisions, their concrete form, monotone sizes."""

from __future__ import annotations

import itertools

import optuna
import pytest

from searchengine.errors import SpecError
from searchengine.searchspace import SearchSpace, parse_spec

DATA = "data: {dataset: synthetic, rows: 500, options: {categorical: 2, numerical: 1}}\n"


def space_of(multisize: str, dim: str = "4") -> SearchSpace:
    body = f"model:\n  backbone: deepfm\n  embedding: {{dim: {dim}, multisize: {multisize}}}\n"
    return SearchSpace.from_spec(parse_spec("name: t\n" + DATA + body, file="s.yaml"))


def errors(multisize: str, dim: str = "4") -> list[str]:
    with pytest.raises(SpecError) as info:
        space_of(multisize, dim)
    return [issue.format("s.yaml") for issue in info.value.issues]


def test_one_decision_per_field_and_bucket() -> None:
    space = space_of("{buckets: 3, chunk: 8, chunks: 4}")
    assert space.names == [
        "model.embedding.multisize[C1,0]",
        "model.embedding.multisize[C1,1]",
        "model.embedding.multisize[C1,2]",
        "model.embedding.multisize[C2,0]",
        "model.embedding.multisize[C2,1]",
        "model.embedding.multisize[C2,2]",
    ]
    d = space["model.embedding.multisize[C2,1]"]
    assert d.distribution == optuna.distributions.IntDistribution(0, 4)
    assert d.key == "C2,1" and d.default == 4
    arch = space.fixed({"model.embedding.multisize[C1,1]": 0})
    multisize = arch.model.embedding.multisize
    assert multisize.sizes == {"C1": [4, 0, 4], "C2": [4, 4, 4]}
    assert (multisize.buckets, multisize.chunk, multisize.chunks) == (3, 8, 4)
    again = parse_spec(arch.to_yaml())  # the concrete form round-trips
    assert again.model.embedding.multisize == multisize
    assert len(SearchSpace.from_spec(again)) == 0


def test_monotone_decides_the_head_and_a_shrink_per_bucket() -> None:
    space = space_of("{buckets: 3, chunk: 2, chunks: 3, monotone: true}")
    assert space.names[:3] == [
        "model.embedding.multisize[C1,0]",
        "model.embedding.multisize.shrink[C1,1]",
        "model.embedding.multisize.shrink[C1,2]",
    ]
    assert [space[n].default for n in space.names[:3]] == [3, 0, 0]
    for head, a, b in itertools.product(range(4), repeat=3):
        values = {
            "model.embedding.multisize[C1,0]": head,
            "model.embedding.multisize.shrink[C1,1]": a,
            "model.embedding.multisize.shrink[C1,2]": b,
        }
        sizes = space.fixed(values).model.embedding.multisize.sizes["C1"]
        assert sizes == [head, max(head - a, 0), max(head - a - b, 0)]


def test_per_field_widths_are_searched_for_numerical_fields_only() -> None:
    space = space_of("{buckets: 2, chunk: 2, chunks: 2}", dim="{choice: [2, 4], per: field}")
    assert [n for n in space.names if "dim" in n] == ["model.embedding.dim[I1]"]
    arch = space.fixed({"model.embedding.dim[I1]": 2})
    assert arch.model.embedding.dim == {"I1": 2}


def test_fixed_sizes_are_checked() -> None:
    assert errors("{buckets: 2, chunk: 2, chunks: 2, sizes: {C1: [1, 3], C2: [1, 1]}}") == [
        "s.yaml:5: model.embedding.multisize: sizes[C1]: expected 2 values in [0, 2], got [1, 3]"
    ]
    assert errors("{buckets: 2, chunk: 2, chunks: 2, monotone: true, sizes: {C1: [1, 2]}}") == [
        "s.yaml:5: model.embedding.multisize: sizes[C1]: monotone sizes never grow from head "
        "to tail, got [1, 2]"
    ]
    problems = errors("{buckets: 1, chunk: 2, chunks: 2, sizes: {I1: [1], C1: [2]}}")
    assert any("sizes.I1: not a categorical field: 'I1'" in p for p in problems)
    assert any("no sizes for field(s) C2" in p for p in problems)
