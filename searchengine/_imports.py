"""Importing ``package.module:name`` references written by users (plug-ins, evaluators)."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from searchengine.errors import SearchEngineError

__all__ = ["import_reference"]


def import_reference(reference: str, what: str) -> Any:
    """Import ``package.module:name`` and return ``name``.

    The current directory is importable, as for ``python -m``, so a spec can name a
    module that lies beside it (``examples.functions:branin``).

    Raises:
        SearchEngineError: the module cannot be imported or has no such name.
    """
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise SearchEngineError(f"{what} {reference!r}: expected package.module:name")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SearchEngineError(
            f"{what} {reference!r}: cannot import {module_name!r} ({exc})"
        ) from None
    if attribute not in vars(module):
        raise SearchEngineError(f"{what} {reference!r}: {module_name!r} has no {attribute!r}")
    return vars(module)[attribute]
