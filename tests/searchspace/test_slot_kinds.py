"""Slot kinds return what they add (decisions, slot, superseded decisions) and leave the
compilation they read alone."""

from __future__ import annotations

from searchengine.searchspace import _blocks, _fields, _groups, _multisize, parse_spec
from searchengine.searchspace._compile import _Compiler
from searchengine.searchspace._slots import Contribution

SPEC = """
name: kinds
data: {dataset: synthetic, options: {categorical: 3, numerical: 1}}
model:
  backbone: fm
  embedding:
    dim: {choice: [2, 4], per: field}
    multisize: {buckets: 2, chunk: 2, chunks: 3}
  interactions: {groups: {orders: [2], sets: 1}}
  fields: {keep: search}
"""


def _view() -> _Compiler:
    view = _Compiler(parse_spec(SPEC))
    view.fields = [("C1", "categorical"), ("C2", "categorical"), ("C3", "categorical"),
                   ("I1", "numerical")]  # fmt: skip
    view._walk(view.spec.model_or_default(), ("model",))
    return view


def test_each_kind_returns_its_decisions_and_slot_without_touching_the_view() -> None:
    view = _view()
    before, slots = list(view.decisions), list(view.slots)
    for kind, loc in [
        (_fields.SLOTS, ("model", "fields", "keep")),
        (_groups.SLOTS, ("model", "interactions", "groups")),
        (_multisize.SLOTS, ("model", "embedding", "multisize")),
    ]:
        made = kind.contribute(view)
        assert isinstance(made, Contribution) and made.decisions and made.slot is not None
        assert {d.loc for d in made.decisions} == {loc} == {made.slot.loc}
        assert made.slot.decisions == tuple(d.name for d in made.decisions)
        assert view.decisions == before and view.slots == slots and not view.issues


def test_multisize_supersedes_the_categorical_widths_it_sets() -> None:
    view = _view()
    made = _multisize.SLOTS.contribute(view)
    assert made.supersedes == {f"model.embedding.dim[{f}]" for f in ("C1", "C2", "C3")}
    assert "model.embedding.dim[I1]" in {d.name for d in view.decisions}


def test_kept_fields_condition_the_decisions_about_their_field() -> None:
    view = _view()
    keeps = _fields.SLOTS.contribute(view).decisions
    conditioned = _fields.SLOTS.condition([*view.decisions, *keeps])
    width = next(d for d in conditioned if d.name == "model.embedding.dim[I1]")
    assert [c.parent for c in width.conditions] == ["model.fields.keep[I1]"]


def test_a_spec_without_blocks_adds_nothing() -> None:
    assert _blocks.SLOTS.contribute(_view()) == Contribution()
