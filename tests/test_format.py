"""Numbers as people read them, the same in the terminal, result tables and the report."""

from __future__ import annotations

import math

from searchengine._format import number
from searchengine.engine.results import _fmt
from searchengine.report._html import _fmt as html_fmt


def test_whole_numbers_print_as_integers() -> None:
    assert number(278.0) == "278" and _fmt(278.0) == "278" and html_fmt(278.0) == "278"
    assert number(12_345.0) == "12,345" and number(1234.56) == "1,235"


def test_fractions_keep_their_digits() -> None:
    assert number(0.788345) == "0.7883" and _fmt(0.788345) == "0.7883"
    assert html_fmt(0.001) == "0.001" and html_fmt(1e-5) == "1e-05"
    assert number(math.nan) == "nan" and number(math.inf) == "inf"


def test_a_concrete_spec_names_its_backbone_even_the_default() -> None:
    from searchengine.searchspace import SearchSpace, parse_spec

    spec = parse_spec("name: x\ndata: {dataset: synthetic}\ntrain: {epochs: 2}\n")
    text = SearchSpace.from_spec(spec).fixed({}).to_yaml()
    assert "model: {backbone: deepfm}" in text
    assert text.index("data:") < text.index("model:") < text.index("train:")
    assert parse_spec(text).model.backbone == "deepfm"


def test_the_default_backbone_is_named_beside_other_model_settings() -> None:
    from searchengine.searchspace import SearchSpace, parse_spec

    spec = parse_spec(
        "name: x\ndata: {dataset: synthetic}\nmodel: {embedding: {dim: {choice: [2, 4]}}}\n"
    )
    arch = SearchSpace.from_spec(spec).fixed({"model.embedding.dim": 4})
    model = arch.to_dict()["model"]
    assert model["backbone"] == "deepfm" and model["embedding"] == {"dim": 4}
    assert list(arch.to_dict()) == ["name", "data", "model"]
