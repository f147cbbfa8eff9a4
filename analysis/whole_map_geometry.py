"""Where the grain boundaries of a map run, for the thin-interface forward model.

The forward model puts each boundary on pixel faces: every pixel belongs to a grain, and a
face between two grains carries the boundary's conductance, scaled by the boundary's true
orientation (``simslab.physics.pixel_boundaries``). A :class:`BoundaryMap` holds that:

- from a boolean mask of boundary pixels (a registered optical image of the etched
  surface, or lines found from the C map's steps): grains are the 4-connected regions
  between the lines (``label_grains``), and each line pixel joins the grain beside it whose
  C it matches (or the nearest grain without C), so the boundary runs along the line;
- from a grain label image (0 on boundary pixels, which join the nearest grain, as above;
  the analysis convention of ``grain_boundary_diffusivities``);
- from the steps of the C map itself (:meth:`BoundaryMap.from_steps`), when no etched image
  is registered. That network is incomplete: a boundary the tracer flux runs along carries
  a step below the counting noise, yet it still blocks the flux between the grains beside
  it, and a gap in a found line joins two grains into one region. The whole-map fit on such
  a network is biased (see :data:`FOUND_IN_C`); the source string says so.

Boundary classes (one D_gb/delta each): a map of class numbers 0..K-1 read at the boundary
pixels (a face takes the largest class of the nearest line pixels on either side), or
explicit per-face classes. Normals are estimated from the labels unless given (one straight
line per grain pair, :func:`_pair_normals`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage
from skimage.segmentation import expand_labels

from simslab.errors import ValidationError
from simslab.physics.pixel_boundaries import boundary_faces

from .grain_segmentation import WHOLE_MAP_DETECTION, detect_boundaries, label_grains

__all__ = ["BoundaryMap", "FOUND_IN_C", "FOUND_IN_C_BIAS"]

_SOURCE = "BoundaryMap"

FOUND_IN_C_BIAS = "0.45-2.0 x the truth on 1 um-pixel twin maps, 3.9 x at 2 um"
"""The whole-map D_gb/delta on boundaries found in C, as measured (see ``grain_segmentation.WHOLE_MAP_DETECTION``)."""
FOUND_IN_C = (
    "boundaries found from the steps of C (an incomplete network: boundaries along the flux show no step; "
    f"whole-map D_gb/delta measured {FOUND_IN_C_BIAS}: a systematic its error does not include)"
)
"""Source of a :class:`BoundaryMap` found in C, as the fit's method reports it (measured: see
``grain_segmentation.WHOLE_MAP_DETECTION``)."""


@dataclasses.dataclass(frozen=True, eq=False)
class BoundaryMap:
    """Grains on the image grid and their boundary faces (see the module docstring).

    labels: (ny, nx) grain of every pixel (>= 1); normal_x_rad / normal_y_rad: normal angle of
    each x-face (ny, nx-1) and y-face (ny-1, nx), NaN off boundaries; class_x / class_y: class
    of each boundary face (0..classes-1), -1 off boundaries.
    """

    labels: np.ndarray
    normal_x_rad: np.ndarray
    normal_y_rad: np.ndarray
    class_x: np.ndarray
    class_y: np.ndarray
    source: str
    normals_estimated: bool = True

    @classmethod
    def from_mask(
        cls, mask: ArrayLike, classes: ArrayLike | None = None, *, fraction: ArrayLike | None = None, min_grain_px: int = 4,
    ) -> BoundaryMap:
        """Return the boundaries of a boolean mask of boundary pixels; ``classes``: (ny, nx) ints per pixel.

        fraction: the map's C; then each line pixel joins the neighbouring grain whose C near
        it is closer to its own (a step of a few hundredths stands well above one pixel's
        noise), instead of the nearest grain, which for a one-pixel line is a coin toss.
        """
        mask = np.asarray(mask)
        if mask.ndim != 2 or mask.dtype != bool:
            shown = f"{mask.dtype} array of shape {mask.shape}"
            raise ValidationError(_SOURCE, "mask", shown, "a 2-D boolean mask of boundary pixels")
        if mask.all():
            raise ValidationError(_SOURCE, "mask", "every pixel marked", "a mask with grains between the lines")
        grains = label_grains(mask, min_grain_px=min_grain_px)
        line = grains == 0
        if fraction is not None and line.any():
            fraction = np.asarray(fraction, dtype=float)
            if fraction.shape != mask.shape:
                raise ValidationError(_SOURCE, "fraction", f"shape {fraction.shape}", f"the mask's shape {mask.shape}")
            grains = _join_lines_by_level(grains, line, fraction)
        return cls._from_grains(grains, line, classes, None, "boundary mask")

    @classmethod
    def from_steps(cls, fraction: ArrayLike, sigma: ArrayLike, *, min_grain_px: int = 4) -> BoundaryMap:
        """Return the boundaries found from the steps of a C map (fraction, sigma: (ny, nx), NaN where masked).

        Lines from ``detect_boundaries`` with ``WHOLE_MAP_DETECTION`` (the network closed
        rather than clean: each gap joins two grains); each line pixel joins the grain whose
        C it matches. Biased for the whole-map fit, see the module docstring.
        """
        fraction = np.asarray(fraction, dtype=float)
        lines = detect_boundaries(fraction, sigma, **WHOLE_MAP_DETECTION) == 0
        found = cls.from_mask(lines, fraction=fraction, min_grain_px=min_grain_px)
        return dataclasses.replace(found, source=FOUND_IN_C)

    @classmethod
    def from_labels(
        cls,
        labels: ArrayLike,
        *,
        classes: ArrayLike | None = None,
        face_classes: tuple[ArrayLike, ArrayLike] | None = None,
        normals_rad: tuple[ArrayLike, ArrayLike] | None = None,
    ) -> BoundaryMap:
        """Return the boundaries of a grain label image (labels >= 1, 0 on boundary pixels).

        classes: (ny, nx) class per pixel as in :meth:`from_mask`; face_classes: (class_x
        (ny, nx-1), class_y (ny-1, nx)) per face instead; normals_rad: known face normals.
        """
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.dtype.kind not in "iu":
            shown = f"{labels.dtype} array of shape {labels.shape}"
            raise ValidationError(_SOURCE, "labels", shown, "a 2-D integer label image")
        if np.any(labels < 0) or not np.any(labels > 0):
            raise ValidationError(_SOURCE, "labels", "negative or no grain labels", "grains >= 1, 0 on boundary pixels")
        if classes is not None and face_classes is not None:
            raise ValidationError(_SOURCE, "classes", "both classes and face_classes", "one of them")
        return cls._from_grains(labels.astype(np.int64), labels == 0, classes, face_classes, "grain labels", normals_rad)

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    def with_short_boundaries_unrotated(self, min_faces: int = 10) -> BoundaryMap:
        """Return the same map with the faces of short boundaries (fewer than ``min_faces``) along their own axes.

        A boundary a few pixels long has an orientation a pixel map hardly tells (tens of
        degrees); the fit compares the two versions to say how much D_gb/delta depends on it.
        """
        normal_x, normal_y = _pair_normals(self.labels, self.class_x >= 0, self.class_y >= 0, min_faces)
        return dataclasses.replace(self, normal_x_rad=normal_x, normal_y_rad=normal_y)

    @property
    def classes(self) -> int:
        """Number of boundary classes (0 when the map has no boundary)."""
        return int(max(self.class_x.max(initial=-1), self.class_y.max(initial=-1)) + 1)

    @property
    def face_counts(self) -> np.ndarray:
        """Number of boundary faces of each class."""
        both = np.concatenate([self.class_x[self.class_x >= 0], self.class_y[self.class_y >= 0]])
        return np.bincount(both, minlength=self.classes)

    def mean_spacing_m(self, pixel_size_m: float) -> float:
        """Return the mean distance between boundaries in m (the mean of the intercepts along x and y)."""
        ny, nx = self.shape
        faces_x = max(int((self.class_x >= 0).sum()), 1)
        faces_y = max(int((self.class_y >= 0).sum()), 1)
        return 0.5 * (ny * nx / faces_x + ny * nx / faces_y) * pixel_size_m

    @classmethod
    def _from_grains(cls, labels, line_pixels, classes, face_classes, source, normals_rad=None) -> BoundaryMap:
        if np.any(labels == 0):
            labels = expand_labels(labels, distance=max(labels.shape))
        if np.any(labels == 0):
            raise ValidationError(_SOURCE, "labels", "pixels no grain reaches", "every pixel within reach of a grain")
        bx, by = boundary_faces(labels)
        if normals_rad is None:
            normal_x, normal_y = _pair_normals(labels, bx, by)
        else:
            normal_x, normal_y = (np.asarray(a, dtype=float) for a in normals_rad)
            if normal_x.shape != bx.shape or normal_y.shape != by.shape:
                shown = f"shapes {normal_x.shape}, {normal_y.shape}"
                raise ValidationError(_SOURCE, "normals_rad", shown, f"{bx.shape} and {by.shape}")
        if face_classes is not None:
            class_x, class_y = (np.asarray(a) for a in face_classes)
            if class_x.shape != bx.shape or class_y.shape != by.shape:
                shown = f"shapes {class_x.shape}, {class_y.shape}"
                raise ValidationError(_SOURCE, "face_classes", shown, f"{bx.shape} and {by.shape}")
        elif classes is not None:
            class_x, class_y = _face_classes_from_pixels(np.asarray(classes), line_pixels, bx, by)
        else:
            class_x, class_y = np.zeros(bx.shape, dtype=int), np.zeros(by.shape, dtype=int)
        class_x = np.where(bx, class_x, -1).astype(int)
        class_y = np.where(by, class_y, -1).astype(int)
        if np.any(class_x[bx] < 0) or np.any(class_y[by] < 0):
            raise ValidationError(_SOURCE, "classes", "negative class on a boundary", "classes 0..K-1")
        normal_x = np.where(bx, normal_x, np.nan)
        normal_y = np.where(by, normal_y, np.nan)
        return cls(labels, normal_x, normal_y, class_x, class_y, source, normals_rad is None)


def _join_lines_by_level(grains: np.ndarray, line: np.ndarray, fraction: np.ndarray, reach: int = 2) -> np.ndarray:
    """Give each line pixel to the nearest grain or the other grain beside it, whichever's C is closer.

    Each grain's level near a line pixel is the mean C of its own (non-line) pixels within
    ``reach`` pixels; pixels without a finite C keep the nearest grain.
    """
    nearest = expand_labels(grains, distance=max(grains.shape))
    ny, nx = grains.shape
    iy, ix = np.nonzero(line)
    offsets = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1) if dy or dx]
    ys = np.clip(iy[:, None] + np.array([o[0] for o in offsets]), 0, ny - 1)
    xs = np.clip(ix[:, None] + np.array([o[1] for o in offsets]), 0, nx - 1)
    around = np.where(line[ys, xs], 0, grains[ys, xs])  # (line pixels, window): grain ids of grain pixels
    values = np.where(around > 0, fraction[ys, xs], np.nan)
    own = nearest[iy, ix]
    other = np.where((around > 0) & (around != own[:, None]), around, 0).max(axis=1)  # a second grain, if any
    level_own = _window_mean(values, around == own[:, None])
    level_other = _window_mean(values, (around == other[:, None]) & (other[:, None] > 0))
    pixel = fraction[iy, ix]
    closer = (other > 0) & np.isfinite(pixel) & (np.abs(pixel - level_other) < np.abs(pixel - level_own))
    joined = nearest.copy()
    joined[iy[closer], ix[closer]] = other[closer]
    return joined


def _window_mean(values: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Row means of the finite ``values`` where ``chosen`` (NaN where none)."""
    use = chosen & np.isfinite(values)
    count = use.sum(axis=1)
    total = np.where(use, values, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _pair_normals(labels: np.ndarray, bx: np.ndarray, by: np.ndarray, min_faces: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Return each face's normal angle: the normal of the straight line through all faces of its grain pair.

    Grains of a sintered ceramic meet along nearly straight boundaries between triple
    junctions; one principal axis through every face of a pair estimates that line's
    direction to well under a degree, where a local estimate from a few faces of a staircase
    errs by several (``estimate_boundary_normals`` is the local one, for curved boundaries).
    Pairs with fewer than ``min_faces`` faces take the faces' own axes.
    """
    ny, nx = labels.shape
    stride = int(labels.max()) + 1
    iy, ix = np.nonzero(bx)
    ky = np.minimum(labels[iy, ix], labels[iy, ix + 1]) * stride + np.maximum(labels[iy, ix], labels[iy, ix + 1])
    jy, jx = np.nonzero(by)
    kx = np.minimum(labels[jy, jx], labels[jy + 1, jx]) * stride + np.maximum(labels[jy, jx], labels[jy + 1, jx])
    points_x = np.concatenate([ix + 1.0, jx + 0.5])
    points_y = np.concatenate([iy + 0.5, jy + 1.0])
    own = np.concatenate([np.zeros(ix.size), np.full(jx.size, np.pi / 2)])
    _, pair, counts = np.unique(np.concatenate([ky, kx]), return_inverse=True, return_counts=True)
    size = counts.size
    mean_x = np.bincount(pair, points_x, size) / counts
    mean_y = np.bincount(pair, points_y, size) / counts
    rx, ry = points_x - mean_x[pair], points_y - mean_y[pair]
    cxx, cxy, cyy = (np.bincount(pair, v, size) for v in (rx * rx, rx * ry, ry * ry))
    along = 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)  # direction of the line
    angle = np.where(counts[pair] >= min_faces, along[pair] + np.pi / 2, own)
    normal_x = np.full(bx.shape, np.nan)
    normal_y = np.full(by.shape, np.nan)
    normal_x[iy, ix] = angle[: ix.size]
    normal_y[jy, jx] = angle[ix.size :]
    return normal_x, normal_y


def _face_classes_from_pixels(classes: np.ndarray, line_pixels: np.ndarray, bx: np.ndarray, by: np.ndarray):
    """Each face takes the largest class of the nearest marked pixel on either side of it."""
    if not (bx.any() or by.any()):
        return np.zeros(bx.shape, dtype=int), np.zeros(by.shape, dtype=int)
    if classes.shape != line_pixels.shape or classes.dtype.kind not in "iu":
        shown = f"{classes.dtype} array of shape {classes.shape}"
        raise ValidationError(_SOURCE, "classes", shown, f"integers of the map's shape {line_pixels.shape}")
    # the marked pixels: the line pixels when there are any, otherwise the pixels beside a face
    marked = line_pixels.copy()
    if not marked.any():
        marked[:, :-1] |= bx
        marked[:, 1:] |= bx
        marked[:-1, :] |= by
        marked[1:, :] |= by
    _, (near_y, near_x) = ndimage.distance_transform_edt(~marked, return_indices=True)
    spread = classes[near_y, near_x]
    return np.maximum(spread[:, :-1], spread[:, 1:]), np.maximum(spread[:-1, :], spread[1:, :])
