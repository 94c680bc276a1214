"""Checks of a spec's inputs that need no study and no training: they run first."""

from __future__ import annotations

from searchengine.spec.format import Spec

__all__ = ["check_data"]


def check_data(spec: Spec) -> None:
    """Check that a CTR spec's data files and columns exist, reading a header at most.

    Raises:
        DataError: a missing file or column (with the path).
    """
    if spec.evaluator is not None:  # a generic search reads no data of ours
        return
    from searchengine.data import check_data

    check_data(spec.data_or_default())
