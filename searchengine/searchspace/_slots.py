"""Slot kinds: the parts of a spec that make decisions of their own (kept fields, feature
groups, multi-size blocks, block DAGs), as objects that return what they add.

The compiler walks the spec's plain expressions itself; for each slot kind it calls
:meth:`SlotKind.contribute` with a read-only :class:`SlotView` of what it has compiled so
far and adds the :class:`Contribution` it gets back: the kind's decisions, its slot (how
the decided values become the concrete spec), and the names of earlier decisions it
supersedes (multi-size embeddings set the categorical widths). A kind never changes the
compiler's decisions itself; problems in the spec are reported through ``view.issue``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from searchengine.searchspace.space import Decision, Slot
    from searchengine.spec.format import Spec

__all__ = ["Contribution", "SlotKind", "SlotView"]

Loc = tuple[Any, ...]


class SlotView(Protocol):
    """What a slot kind may read of the compilation in progress."""

    spec: Spec
    #: The data's fields, (name, kind) in the data's order.
    fields: list[tuple[str, str]]

    @property
    def compiled(self) -> Sequence[Decision]:
        """The decisions compiled so far (read only)."""
        ...

    def field_names(self, which: str = "all") -> list[str]: ...

    def backbones(self) -> tuple[Loc, list[str], bool]: ...

    def issue(self, loc: Loc, message: str) -> None:
        """Report a problem of the spec at ``loc``."""
        ...


@dataclass(frozen=True)
class Contribution:
    """What a slot kind adds to a search space."""

    decisions: tuple[Decision, ...] = ()
    slot: Slot | None = None
    #: Names of decisions compiled before that this kind's decide instead.
    supersedes: frozenset[str] = field(default_factory=frozenset)


class SlotKind(Protocol):
    """A part of the spec that makes its own decisions."""

    loc: Loc

    def contribute(self, view: SlotView) -> Contribution: ...
