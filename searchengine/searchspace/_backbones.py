"""Backbone names and traits, block types and their settings, for checking a spec
without importing the models.

The built-ins come from :mod:`searchengine.spec.vocabulary`; plug-ins are named by their
entry points. Only a plug-in's traits, or a backbone registered at run time (then the
models are loaded already), need the live registry.
"""

from __future__ import annotations

import sys
from importlib import metadata

from searchengine.errors import UnknownNameError
from searchengine.spec.vocabulary import BUILTIN_BACKBONES, BUILTIN_BLOCKS, BackboneTraits

__all__ = ["backbone_names", "backbone_traits", "block_settings", "block_types"]

_GROUP = "searchengine.backbones"


def _live() -> object | None:
    """The models' registry when the models are loaded (so run-time registrations count)."""
    base = sys.modules.get("searchengine.models.base")
    return getattr(base, "BACKBONES", None)


def backbone_names() -> list[str]:
    """Every backbone name a spec may use, sorted."""
    live = _live()
    if live is not None:
        return live.names()  # type: ignore[attr-defined]
    plugins = {ep.name for ep in metadata.entry_points(group=_GROUP)}
    return sorted(set(BUILTIN_BACKBONES) | plugins)


def backbone_traits(name: str) -> BackboneTraits:
    """What backbone ``name`` reads of ``model:``.

    Raises:
        UnknownNameError: no such backbone.
    """
    live = _live()
    if live is None and name in BUILTIN_BACKBONES:
        return BUILTIN_BACKBONES[name]
    from searchengine.models import BACKBONES  # a plug-in: its class says

    return BackboneTraits.of(BACKBONES.get(name))


def is_backbone(name: str) -> bool:
    """Whether a backbone of that name exists."""
    try:
        backbone_traits(name)
    except UnknownNameError:
        return False
    return True


def _live_blocks() -> object | None:
    base = sys.modules.get("searchengine.models.blocks.base")
    return getattr(base, "BLOCKS", None)


def block_types() -> list[str]:
    """Every block type a ``blocks`` DAG may use, sorted."""
    live = _live_blocks()
    if live is not None:
        return live.names()  # type: ignore[attr-defined]
    plugins = {ep.name for ep in metadata.entry_points(group="searchengine.blocks")}
    return sorted(set(BUILTIN_BLOCKS) | plugins)


def block_settings(name: str) -> tuple[str, ...]:
    """The settings (``width``, ``layers``...) block type ``name`` reads."""
    if _live_blocks() is None and name in BUILTIN_BLOCKS:
        return BUILTIN_BLOCKS[name]
    from searchengine.models.blocks import BLOCKS  # a plug-in: its class says

    return tuple(BLOCKS.get(name).hyperparameters)
