"""Grain boundaries on a pixel grid: which pixel faces they cross, and their true orientation.

Faces are indexed like the arrays of differences along each axis: an x-face ``[i, j]`` lies
between pixels ``[i, j]`` and ``[i, j+1]`` (shape (ny, nx-1)), a y-face ``[i, j]`` between
``[i, j]`` and ``[i+1, j]`` (shape (ny-1, nx)). A boundary's orientation is the angle of its
normal from the x axis in radians, defined modulo pi; faces off boundaries carry NaN.

A straight boundary with normal angle theta drawn on the grid as a staircase has
|cos theta| + |sin theta| face length per unit true length (sqrt(2) at 45 degrees), so a
solver that gives each face the interface conductance of a straight boundary conducts that
much too well; :func:`staircase_factor` is the correction per face (shared/physics.md).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

__all__ = ["boundary_faces", "staircase_factor", "estimate_boundary_normals", "face_midpoints_m"]


def boundary_faces(labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return boolean masks of the x-faces and y-faces between pixels of different labels."""
    labels = _labels(labels)
    return labels[:, :-1] != labels[:, 1:], labels[:-1, :] != labels[1:, :]


def staircase_factor(normal_angle_rad: ArrayLike) -> np.ndarray:
    """Return 1 / (|cos theta| + |sin theta|): true boundary length per unit of staircase faces."""
    theta = np.asarray(normal_angle_rad, dtype=float)
    return 1.0 / (np.abs(np.cos(theta)) + np.abs(np.sin(theta)))


def face_midpoints_m(shape: tuple[int, int], pixel_size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (x, y) midpoints in m of the x-faces (ny, nx-1, 2) and y-faces (ny-1, nx, 2).

    Pixel [i, j] spans x in [j h, (j+1) h] and y in [i h, (i+1) h].
    """
    ny, nx = shape
    h = float(pixel_size_m)
    iy, jx = np.mgrid[0:ny, 0 : nx - 1]
    x_faces = np.stack([(jx + 1.0) * h, (iy + 0.5) * h], axis=-1)
    iy, jx = np.mgrid[0 : ny - 1, 0:nx]
    y_faces = np.stack([(jx + 0.5) * h, (iy + 1.0) * h], axis=-1)
    return x_faces, y_faces


def estimate_boundary_normals(labels: ArrayLike, neighbours: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Estimate each boundary face's normal angle from the label map alone (any data).

    For every face between grains a and b, the principal axis of the midpoints of the
    ``neighbours`` nearest faces of the same pair (a, b) is the local boundary direction; the
    normal is perpendicular to it. A straight boundary is recovered to ~1 degree once it is
    a few pixels long; curved or very short boundaries get a local chord. Returns
    (angle_x (ny, nx-1), angle_y (ny-1, nx)) in radians, NaN off boundaries.
    """
    labels = _labels(labels)
    if neighbours < 2:
        raise ValueError(f"neighbours must be >= 2, got {neighbours}")
    bx, by = boundary_faces(labels)
    x_mid, y_mid = face_midpoints_m(labels.shape, 1.0)
    points = np.concatenate([x_mid[bx], y_mid[by]])
    pair_low = np.concatenate(
        [np.minimum(labels[:, :-1], labels[:, 1:])[bx], np.minimum(labels[:-1], labels[1:])[by]]
    )
    pair_high = np.concatenate(
        [np.maximum(labels[:, :-1], labels[:, 1:])[bx], np.maximum(labels[:-1], labels[1:])[by]]
    )
    # a straight pair with faces along one axis only would be ambiguous from midpoints alone:
    # the face's own orientation tells (an x-face alone means a boundary normal along x)
    own_angle = np.concatenate([np.zeros(bx.sum()), np.full(by.sum(), np.pi / 2)])
    angles = np.full(len(points), np.nan)
    _, pair_index = np.unique(np.stack([pair_low, pair_high], axis=1), axis=0, return_inverse=True)
    order = np.argsort(pair_index, kind="stable")
    splits = np.flatnonzero(np.diff(pair_index[order])) + 1
    for members in np.split(order, splits):
        angles[members] = _pair_normals(points[members], own_angle[members], neighbours)
    angle_x = np.full(bx.shape, np.nan)
    angle_y = np.full(by.shape, np.nan)
    angle_x[bx] = angles[: bx.sum()]
    angle_y[by] = angles[bx.sum() :]
    return angle_x, angle_y


def _pair_normals(points: np.ndarray, own_angle: np.ndarray, neighbours: int) -> np.ndarray:
    if len(points) < 3:
        return own_angle
    k = min(neighbours, len(points))
    _, nearest = cKDTree(points).query(points, k=k)
    local = points[nearest] - points[nearest].mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", local, local)
    _, vectors = np.linalg.eigh(cov)
    tangent = vectors[:, :, 1]  # largest eigenvalue: along the boundary
    return np.arctan2(tangent[:, 0], -tangent[:, 1])  # normal = tangent rotated by -90 degrees


def _labels(labels: ArrayLike) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or min(labels.shape) < 2:
        raise ValueError(f"labels must be a 2D map of at least 2 x 2 pixels, got shape {labels.shape}")
    return labels
