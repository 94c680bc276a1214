"""One small registry type for strategies, backbones, datasets and metrics.

A registry maps names to objects. Names are registered with a decorator inside the
package and, for plug-ins, through an entry point group (``searchengine.strategies``,
``searchengine.backbones``, ``searchengine.datasets``, ``searchengine.metrics``), loaded
the first time a name is looked up. Duplicates are rejected; an unknown name is answered
with the valid choices and the closest match.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Generic, TypeVar

from searchengine.errors import UnknownNameError

__all__ = ["Registry"]

T = TypeVar("T")
_log = logging.getLogger(__name__)


class Registry(Generic[T]):
    """Names to objects, with entry-point plug-ins.

    Args:
        kind: what the registry holds, in the singular ("strategy"); used in messages.
        group: the entry point group plug-ins register under, or None.
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}
        self._entry_points_loaded = group is None

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as ``@registry.register("name")``.

        Raises:
            ValueError: if ``name`` is already registered.
        """
        if obj is not None:
            self._add(name, obj)
            return obj

        def decorator(item: T) -> T:
            self._add(name, item)
            return item

        return decorator

    def _add(self, name: str, obj: T) -> None:
        if name in self._items and self._items[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests and interactive plug-in development)."""
        self._items.pop(name, None)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.group):
            if ep.name in self._items:
                _log.warning("%s plug-in %r ignored: the name is taken", self.kind, ep.name)
                continue
            try:
                self._items[ep.name] = ep.load()
            except Exception as exc:  # a broken plug-in must not break the others
                _log.warning("could not load %s plug-in %r: %s", self.kind, ep.value, exc)

    def get(self, name: str) -> T:
        """Return the object registered as ``name``.

        Raises:
            UnknownNameError: with the valid choices and the closest match.
        """
        if name not in self._items:
            self._load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items) from None

    def names(self) -> list[str]:
        """All registered names, sorted, plug-ins included."""
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._items[name]) for name in self.names()]
