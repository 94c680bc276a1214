"""Pareto fronts and hypervolume, against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from searchengine.report._pareto import hypervolume, hypervolume_history, knee, pareto_mask


def test_pareto_mask_keeps_non_dominated_points_and_ties() -> None:
    points = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [6, 6]], dtype=float)
    assert pareto_mask(points).tolist() == [True, True, True, False, True, False]


def test_hypervolume_2d_is_the_union_of_rectangles() -> None:
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    # rectangles to (4, 4): 3x1 + 2x1 + 1x1 stacked = 3 + 2 + 1
    assert hypervolume(points, np.array([4.0, 4.0])) == pytest.approx(6.0)


def test_hypervolume_3d_matches_inclusion_exclusion() -> None:
    a, b = np.array([1.0, 2.0, 2.0]), np.array([2.0, 1.0, 1.0])
    ref = np.array([3.0, 3.0, 3.0])
    vol = lambda p: float(np.prod(ref - p))  # noqa: E731
    both = float(np.prod(ref - np.maximum(a, b)))
    assert hypervolume(np.stack([a, b]), ref) == pytest.approx(vol(a) + vol(b) - both)


def test_points_outside_the_reference_add_nothing() -> None:
    assert hypervolume(np.array([[5.0, 0.0]]), np.array([4.0, 4.0])) == 0.0
    assert hypervolume(np.zeros((0, 2)), np.array([1.0, 1.0])) == 0.0


def test_hypervolume_history_never_decreases() -> None:
    rng = np.random.default_rng(0)
    points = rng.random((30, 3))
    history = hypervolume_history(points, np.ones(3))
    assert np.all(np.diff(history) >= -1e-12)
    assert history[-1] == pytest.approx(hypervolume(points[pareto_mask(points)], np.ones(3)))


def test_knee_is_nearest_the_ideal_point() -> None:
    front = np.array([[0.0, 10.0], [4.0, 4.0], [10.0, 0.0]])
    assert knee(front) == 1
