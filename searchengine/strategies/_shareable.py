"""Which decisions weight sharing (``nis``) applies by masking one full-size supernet, and
their full-size values: what checking a spec needs, without the supernet (torch)."""

from __future__ import annotations

from typing import Any

from searchengine.searchspace import Decision

__all__ = ["is_shareable", "largest"]


def is_shareable(decision: Decision) -> bool:
    """Whether a decision is applied by masking the supernet (widths, multi-size, gates)."""
    role = decision.role
    return (role == "dim" and decision.kind != "float") or role in ("multisize", "gate")


def largest(decision: Decision) -> Any:
    """The value of a shareable decision in the full-size architecture."""
    if decision.role == "gate":
        return True
    if decision.role == "multisize":  # the default is the full size (no shrinking)
        return decision.default
    if decision.kind == "categorical":
        return max(decision.choices)
    return decision.distribution.high  # type: ignore[attr-defined]
