"""Where each grain boundary lies, and which pixels sit beside it, from a grain label image.

Every pair of touching grains is one boundary. Its line is fitted (principal axis) through
the pixel faces between the two grains, after the grains are grown over the boundary pixels;
the centre is moved to the middle of the boundary pixels when there are any. Each grain pixel
belongs to the boundary nearest to it (one Euclidean distance transform for the whole map),
so a pixel is used once, pixels nearest a triple junction are left out, and averaging "along
the boundary" follows the boundary's real extent. Coordinates are in metres.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage
from skimage.segmentation import expand_labels

__all__ = ["BoundaryGeometry", "boundary_geometry"]

_NOT_RIM = -1
_JUNCTION = -2


@dataclasses.dataclass(frozen=True)
class BoundaryGeometry:
    """Boundaries (index b) and the pixels assigned to them (index p), all in metres.

    ``low_label``/``high_label``: the two grains (low_label < high_label); the normal points
    from the low-label grain into the high-label grain. ``pixel_side`` is +1 in the
    high-label grain, -1 in the low-label one; ``pixel_normal_m``/``pixel_tangent_m`` are the
    coordinates across and along the boundary line from its centre.
    """

    low_label: np.ndarray
    high_label: np.ndarray
    centre_m: np.ndarray  # (B, 2) x, y
    normal: np.ndarray  # (B, 2) unit vectors
    length_m: np.ndarray
    faces: np.ndarray
    pixel_index: np.ndarray  # (P,) flat index into the map
    pixel_boundary: np.ndarray  # (P,) boundary index b
    pixel_side: np.ndarray
    pixel_normal_m: np.ndarray
    pixel_tangent_m: np.ndarray

    @property
    def count(self) -> int:
        """Number of boundaries."""
        return int(self.low_label.size)


def boundary_geometry(
    labels: np.ndarray, usable: np.ndarray, pixel_size_m: tuple[float, float], band_m: float, gap_m: float
) -> BoundaryGeometry:
    """Return the boundaries between labelled grains and their pixels within ``band_m``.

    labels: (ny, nx) grain labels, 0 on boundary pixels; usable: pixels with a valid C;
    pixel_size_m: (x, y); pixels closer than ``gap_m`` to the boundary line are left out.
    """
    dx, dy = pixel_size_m
    ny, nx = labels.shape
    grown = expand_labels(labels, distance=max(ny, nx) * max(dx, dy), spacing=(dy, dx))
    stride = int(grown.max()) + 1

    face_x, face_y, face_key = _faces(grown, dx, dy, stride)
    if face_key.size == 0:
        return _no_boundaries()
    keys, face_boundary = np.unique(face_key, return_inverse=True)
    count = keys.size
    faces = np.bincount(face_boundary, minlength=count).astype(float)
    centre_x = np.bincount(face_boundary, face_x, count) / faces
    centre_y = np.bincount(face_boundary, face_y, count) / faces
    rel_x, rel_y = face_x - centre_x[face_boundary], face_y - centre_y[face_boundary]
    cxx = np.bincount(face_boundary, rel_x * rel_x, count)
    cxy = np.bincount(face_boundary, rel_x * rel_y, count)
    cyy = np.bincount(face_boundary, rel_y * rel_y, count)
    angle = 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)
    tangent = np.column_stack([np.cos(angle), np.sin(angle)])
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    along = rel_x * tangent[face_boundary, 0] + rel_y * tangent[face_boundary, 1]
    index = np.arange(1, count + 1)
    extent = ndimage.maximum(along, face_boundary + 1, index) - ndimage.minimum(along, face_boundary + 1, index)
    length = np.asarray(extent) + np.hypot(dx * tangent[:, 0], dy * tangent[:, 1])

    rim_boundary = _rim_boundaries(grown, keys, stride)
    distance, (near_y, near_x) = ndimage.distance_transform_edt(
        rim_boundary == _NOT_RIM, sampling=(dy, dx), return_indices=True
    )
    nearest = rim_boundary[near_y, near_x]
    grid_y, grid_x = np.indices(labels.shape)
    pos_x, pos_y = (grid_x + 0.5) * dx, (grid_y + 0.5) * dy

    centre = np.column_stack([centre_x, centre_y])
    _centre_on_boundary_pixels(centre, normal, labels == 0, nearest, distance, pos_x, pos_y, max(dx, dy))

    chosen = usable & (labels > 0) & (nearest >= 0) & (distance <= band_m)
    flat = np.flatnonzero(chosen)
    b = nearest.ravel()[flat]
    own = labels.ravel()[flat]
    low, high = keys // stride, keys % stride
    side = np.where(own == high[b], 1, np.where(own == low[b], -1, 0))
    rel_px, rel_py = pos_x.ravel()[flat] - centre[b, 0], pos_y.ravel()[flat] - centre[b, 1]
    across = rel_px * normal[b, 0] + rel_py * normal[b, 1]
    # Orient each normal from the low-label grain into the high-label grain.
    flip = np.where(np.bincount(b, side * across, count) < 0, -1.0, 1.0)
    normal *= flip[:, None]
    across *= flip[b]
    keep = (side != 0) & (side * across >= gap_m)
    tangent_coord = rel_px * tangent[b, 0] + rel_py * tangent[b, 1]
    return BoundaryGeometry(
        low_label=low,
        high_label=high,
        centre_m=centre,
        normal=normal,
        length_m=length,
        faces=faces.astype(int),
        pixel_index=flat[keep],
        pixel_boundary=b[keep],
        pixel_side=side[keep].astype(float),
        pixel_normal_m=across[keep],
        pixel_tangent_m=tangent_coord[keep],
    )


def _faces(grown: np.ndarray, dx: float, dy: float, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the midpoints (x, y in m) and pair keys of all faces between different grains."""
    iy, ix = np.nonzero(grown[:, :-1] != grown[:, 1:])
    a, b = grown[iy, ix], grown[iy, ix + 1]
    hx, hy = (ix + 1.0) * dx, (iy + 0.5) * dy
    hkey = np.minimum(a, b) * stride + np.maximum(a, b)
    iy, ix = np.nonzero(grown[:-1, :] != grown[1:, :])
    a, b = grown[iy, ix], grown[iy + 1, ix]
    vx, vy = (ix + 0.5) * dx, (iy + 1.0) * dy
    vkey = np.minimum(a, b) * stride + np.maximum(a, b)
    return np.concatenate([hx, vx]), np.concatenate([hy, vy]), np.concatenate([hkey, vkey])


def _rim_boundaries(grown: np.ndarray, keys: np.ndarray, stride: int) -> np.ndarray:
    """Return, per pixel, the boundary index of the one other grain it touches.

    _NOT_RIM where it touches none, _JUNCTION where it touches several (a triple junction).
    """
    other = np.zeros_like(grown)
    several = np.zeros(grown.shape, dtype=bool)
    padded = np.pad(grown, 1, mode="edge")
    ny, nx = grown.shape
    for oy, ox in ((0, 1), (2, 1), (1, 0), (1, 2)):
        neighbour = padded[oy : oy + ny, ox : ox + nx]
        differs = neighbour != grown
        several |= differs & (other != 0) & (neighbour != other)
        other = np.where(differs & (other == 0), neighbour, other)
    rim = (other != 0) & ~several
    result = np.full(grown.shape, _NOT_RIM, dtype=np.int64)
    result[several] = _JUNCTION
    key = np.minimum(grown[rim], other[rim]) * stride + np.maximum(grown[rim], other[rim])
    result[rim] = np.searchsorted(keys, key)
    return result


def _centre_on_boundary_pixels(
    centre: np.ndarray,
    normal: np.ndarray,
    boundary_pixels: np.ndarray,
    nearest: np.ndarray,
    distance: np.ndarray,
    pos_x: np.ndarray,
    pos_y: np.ndarray,
    reach_m: float,
) -> None:
    """Shift each boundary line across itself onto the mean of its own boundary pixels.

    The faces between grown grains lie at one edge of a one-pixel boundary line; the boundary
    itself runs through the middle of the line.
    """
    on_line = boundary_pixels & (nearest >= 0) & (distance <= reach_m)
    if not on_line.any():
        return
    b = nearest[on_line]
    across = (pos_x[on_line] - centre[b, 0]) * normal[b, 0] + (pos_y[on_line] - centre[b, 1]) * normal[b, 1]
    count = np.bincount(b, minlength=centre.shape[0])
    shift = np.bincount(b, across, centre.shape[0]) / np.maximum(count, 1)
    centre += shift[:, None] * normal


def _no_boundaries() -> BoundaryGeometry:
    """Return the geometry of a map without any boundary (one grain, or none)."""
    empty = {f.name: np.zeros(0) for f in dataclasses.fields(BoundaryGeometry)}
    for name in ("low_label", "high_label", "faces", "pixel_index", "pixel_boundary"):
        empty[name] = np.zeros(0, dtype=np.int64)
    empty["centre_m"], empty["normal"] = np.zeros((0, 2)), np.zeros((0, 2))
    return BoundaryGeometry(**empty)
