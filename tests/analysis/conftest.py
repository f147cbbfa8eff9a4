"""Synthetic SIMS maps with known answers, drawn with the binomial counting model.

Counts per pixel: N = I6 + I7 fixed, I6 ~ Binomial(N, C). That is the statistics the
analysis assumes (shared/physics.md, counting statistics), so errors it reports can be
checked against the scatter of repeated draws.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial import cKDTree


@dataclasses.dataclass(frozen=True)
class SyntheticMap:
    i6: np.ndarray
    i7: np.ndarray
    boundary_mask: np.ndarray
    truth: np.ndarray  # C without noise
    pixel_m: float
    expected_d_gb_over_width: float | None = None


def staircase_map(
    *,
    shape=(206, 512),
    pixel_m=1e-6,
    grain_m=16e-6,
    angle_rad=0.0,
    gradient_per_m=110.0,
    step=0.02,
    c_top=0.9,
    counts=5e3,
    d_bulk=2.6e-12,
    seed=0,
) -> SyntheticMap:
    """Parallel straight boundaries every ``grain_m`` along u = x cos(a) + y sin(a).

    Inside each grain C falls by ``gradient_per_m`` along u; at each boundary it drops by
    ``step``: the steady profile of a slow boundary, so D_gb/delta = D_bulk * gradient / step.
    Each pixel's C is its area average (4 x 4 subsamples), so pixels the boundary crosses hold
    a mixture; those pixels (and those it touches) form the mask.
    """
    rng = np.random.default_rng(seed)
    sub = 4
    offsets = (np.arange(sub) + 0.5) / sub
    grid_y, grid_x = np.indices(shape)
    truth = np.zeros(shape)
    for oy in offsets:
        for ox in offsets:
            u = ((grid_x + ox) * np.cos(angle_rad) + (grid_y + oy) * np.sin(angle_rad)) * pixel_m
            truth += (c_top - gradient_per_m * u - step * np.floor(u / grain_m)) / sub**2
    u_centre = ((grid_x + 0.5) * np.cos(angle_rad) + (grid_y + 0.5) * np.sin(angle_rad)) * pixel_m
    half_width = 0.5 * pixel_m * (abs(np.cos(angle_rad)) + abs(np.sin(angle_rad)))
    mask = np.abs(u_centre - np.round(u_centre / grain_m) * grain_m) <= half_width * (1 + 1e-9)
    assert truth.min() > 0, "synthetic map left the 0-1 range: shorten it or lower the step"
    i6 = rng.binomial(int(counts), truth).astype(float)
    return SyntheticMap(i6, counts - i6, mask, truth, pixel_m, d_bulk * gradient_per_m / step)


def voronoi_map(
    *, shape=(206, 512), pixel_m=1e-6, grain_m=16e-6, macro_gradient_per_m=800.0, counts=5e3, seed=0
) -> SyntheticMap:
    """Voronoi grains (~grain_m apart); C constant per grain, set by its centre's x.

    Boundaries across the x direction step, boundaries along it barely: like a real map.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    seeds = rng.uniform([0, 0], [nx * pixel_m, ny * pixel_m], size=(int(nx * ny * pixel_m**2 / grain_m**2), 2))
    y, x = (np.indices(shape) + 0.5) * pixel_m
    _, nearest = cKDTree(seeds).query(np.column_stack([x.ravel(), y.ravel()]))
    labels = nearest.reshape(shape)
    truth = 0.8 - macro_gradient_per_m * seeds[labels, 0]
    mask = np.zeros(shape, dtype=bool)
    mask[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    mask[:-1, :] |= labels[:-1, :] != labels[1:, :]
    i6 = rng.binomial(int(counts), truth).astype(float)
    return SyntheticMap(i6, counts - i6, mask, truth, pixel_m)


@pytest.fixture
def make_staircase():
    return staircase_map


@pytest.fixture
def make_voronoi():
    return voronoi_map
