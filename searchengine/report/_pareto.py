"""Pareto fronts and hypervolume, on objective values in minimization form.

Every function takes an ``(n, m)`` array of objective values, each objective already
turned so that lower is better (maximized objectives negated).
"""

from __future__ import annotations

import numpy as np

__all__ = ["hypervolume", "hypervolume_history", "knee", "pareto_mask"]


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Which rows no other row dominates (no worse in all objectives, better in one).

    Duplicates of a non-dominated point are all kept.
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        no_worse = np.all(points <= points[i], axis=1)
        better = np.any(points < points[i], axis=1)
        if np.any(no_worse & better):
            keep[i] = False
    return keep


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume that ``points`` dominate, bounded by ``reference`` (1 to 3 objectives).

    Points not strictly better than the reference in every objective add nothing.

    Raises:
        ValueError: for more than 3 objectives.
    """
    points = np.asarray(points, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if points.size == 0:
        return 0.0
    points = points[np.all(points < reference, axis=1)]
    if len(points) == 0:
        return 0.0
    m = points.shape[1]
    if m == 1:
        return float(reference[0] - points[:, 0].min())
    if m == 2:
        return _hv2(points, reference)
    if m == 3:
        return _hv3(points, reference)
    raise ValueError(f"hypervolume of {m} objectives is not supported (at most 3)")


def _hv2(points: np.ndarray, reference: np.ndarray) -> float:
    order = np.argsort(points[:, 0], kind="stable")
    volume, best_y = 0.0, reference[1]
    for x, y in points[order]:
        if y < best_y:
            volume += (reference[0] - x) * (best_y - y)
            best_y = y
    return float(volume)


def _hv3(points: np.ndarray, reference: np.ndarray) -> float:
    """Slices along the third objective, each the 2-D volume of the points below it."""
    order = np.argsort(points[:, 2], kind="stable")
    points = points[order]
    volume = 0.0
    for i in range(len(points)):
        top = points[i + 1, 2] if i + 1 < len(points) else reference[2]
        if top > points[i, 2]:
            volume += _hv2(points[: i + 1, :2], reference[:2]) * (top - points[i, 2])
    return float(volume)


def hypervolume_history(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The hypervolume of the first k points' front, for each k = 1..n."""
    points = np.asarray(points, dtype=np.float64)
    out = np.zeros(len(points))
    front = np.zeros((0, points.shape[1] if points.ndim == 2 else 1))
    for k, point in enumerate(points):
        front = np.vstack([front, point])
        front = front[pareto_mask(front)]
        out[k] = hypervolume(front, reference)
    return out


def knee(front: np.ndarray) -> int:
    """Index of the front point nearest the ideal point, objectives scaled to [0, 1]."""
    front = np.asarray(front, dtype=np.float64)
    low, high = front.min(axis=0), front.max(axis=0)
    scaled = (front - low) / np.where(high > low, high - low, 1.0)
    return int(np.argmin(np.linalg.norm(scaled, axis=1)))
