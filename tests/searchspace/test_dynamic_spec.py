"""The ``model.embedding.dynamic`` slot (ESAPN): its checks and the errors users see."""

from __future__ import annotations

import pytest

from searchengine.errors import SpecError
from searchengine.searchspace import SearchSpace, parse_spec

DATA = "data: {dataset: synthetic, rows: 500, options: {categorical: 3, numerical: 2}}\n"


def errors_of(dynamic: str) -> list[str]:
    text = "name: t\n" + DATA + f"model:\n  embedding:\n    dynamic: {dynamic}\n"
    with pytest.raises(SpecError) as info:
        SearchSpace.from_spec(parse_spec(text, file="s.yaml"))
    return [issue.format("s.yaml") for issue in info.value.issues]


def test_a_dynamic_slot_adds_no_decision() -> None:
    text = (
        "name: t\n" + DATA + "model: {embedding: {dynamic: {candidates: [2, 8], fields: [C3]}}}\n"
    )
    space = SearchSpace.from_spec(parse_spec(text))
    assert len(space) == 0
    dynamic = space.fixed({}).model.embedding.dynamic
    assert dynamic is not None and dynamic.candidates == [2, 8] and dynamic.sizes is None


@pytest.mark.parametrize(
    ("dynamic", "expected"),
    [
        (
            "{candidates: [2, 8, 4], fields: [C1]}",
            [
                "s.yaml:5: model.embedding.dynamic: candidates must be strictly increasing, "
                "got [2, 8, 4]"
            ],
        ),
        (
            "{candidates: [2, 0], fields: [C1]}",
            [
                "s.yaml:5: model.embedding.dynamic.candidates[1]: expected a positive integer, got 0"
            ],
        ),
        (
            "{candidates: [2, 4], fields: [C_2, I1, C1, C1]}",
            [
                "s.yaml:5: model.embedding.dynamic.fields[0]: unknown field 'C_2'; "
                "did you mean 'C2'?",
                "s.yaml:5: model.embedding.dynamic.fields[1]: 'I1' is numerical; dynamic sizes "
                "are for categorical fields (C1, C2, C3)",
                "s.yaml:5: model.embedding.dynamic.fields[3]: 'C1' is listed twice",
            ],
        ),
        (
            "{candidates: [2, 4], fields: [C1], sizes: {C2: [2], C1: [2, 3]}}",
            [
                "s.yaml:5: model.embedding.dynamic.sizes.C2: 'C2' is not one of the dynamic "
                "fields",
                "s.yaml:5: model.embedding.dynamic.sizes.C1: sizes must be candidates [2, 4], "
                "got [3]",
            ],
        ),
    ],
)
def test_dynamic_errors(dynamic: str, expected: list[str]) -> None:
    assert errors_of(dynamic) == expected
