"""Grain label maps for the physics tests: a Voronoi tessellation of random seeds on the pixel grid."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def voronoi_labels(shape: tuple[int, int], grains: int, seed: int) -> np.ndarray:
    """Return (ny, nx) grain labels 0..grains-1: each pixel centre belongs to its nearest seed."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    seeds = rng.uniform((0, 0), (nx, ny), size=(grains, 2))
    iy, jx = np.mgrid[0:ny, 0:nx]
    return cKDTree(seeds).query(np.column_stack([jx.ravel() + 0.5, iy.ravel() + 0.5]))[1].reshape(shape)
