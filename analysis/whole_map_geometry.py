"""Where the grain boundaries of a map run, for the thin-interface forward model.

The forward model puts each boundary on pixel faces: every pixel belongs to a grain, and a
face between two grains carries the boundary's conductance, scaled by the boundary's true
orientation (``simslab.physics.pixel_boundaries``). A :class:`BoundaryMap` holds that:

- from a boolean mask of boundary pixels (a registered optical image of the etched
  surface, or lines found from the C map's steps): grains are the 4-connected regions
  between the lines (``label_grains``), and each line pixel joins the nearest grain, so the
  boundary runs along the line;
- from a grain label image (0 on boundary pixels, which join the nearest grain, as above;
  the analysis convention of ``grain_boundary_diffusivities``).

Boundary classes (one D_gb/delta each): a map of class numbers 0..K-1 read at the boundary
pixels (a face takes the largest class of the nearest line pixels on either side), or
explicit per-face classes. Normals are estimated from the labels unless given.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage
from skimage.segmentation import expand_labels

from simslab.errors import ValidationError
from simslab.physics.pixel_boundaries import boundary_faces, estimate_boundary_normals

from .grain_segmentation import label_grains

__all__ = ["BoundaryMap"]

_SOURCE = "BoundaryMap"


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

    @classmethod
    def from_mask(cls, mask: ArrayLike, classes: ArrayLike | None = None, *, min_grain_px: int = 4) -> BoundaryMap:
        """Return the boundaries of a boolean mask of boundary pixels; ``classes``: (ny, nx) ints per pixel."""
        mask = np.asarray(mask)
        if mask.ndim != 2 or mask.dtype != bool:
            raise ValidationError(_SOURCE, "mask", f"{mask.dtype} array of shape {mask.shape}", "a 2-D boolean mask of boundary pixels")
        if mask.all():
            raise ValidationError(_SOURCE, "mask", "every pixel marked", "a mask with grains between the lines")
        grains = label_grains(mask, min_grain_px=min_grain_px)
        return cls._from_grains(grains, grains == 0, classes, None, "boundary mask")

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
            raise ValidationError(_SOURCE, "labels", f"{labels.dtype} array of shape {labels.shape}", "a 2-D integer label image")
        if np.any(labels < 0) or not np.any(labels > 0):
            raise ValidationError(_SOURCE, "labels", "negative or no grain labels", "grains >= 1, 0 on boundary pixels")
        if classes is not None and face_classes is not None:
            raise ValidationError(_SOURCE, "classes", "both classes and face_classes", "one of them")
        return cls._from_grains(labels.astype(np.int64), labels == 0, classes, face_classes, "grain labels", normals_rad)

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

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
        if line_pixels.any():
            labels = expand_labels(labels, distance=max(labels.shape))
        if np.any(labels == 0):
            raise ValidationError(_SOURCE, "labels", "pixels no grain reaches", "every pixel within reach of a grain")
        bx, by = boundary_faces(labels)
        if normals_rad is None:
            normal_x, normal_y = estimate_boundary_normals(labels)
        else:
            normal_x, normal_y = (np.asarray(a, dtype=float) for a in normals_rad)
            if normal_x.shape != bx.shape or normal_y.shape != by.shape:
                raise ValidationError(_SOURCE, "normals_rad", f"shapes {normal_x.shape}, {normal_y.shape}", f"{bx.shape} and {by.shape}")
        if face_classes is not None:
            class_x, class_y = (np.asarray(a) for a in face_classes)
            if class_x.shape != bx.shape or class_y.shape != by.shape:
                raise ValidationError(_SOURCE, "face_classes", f"shapes {class_x.shape}, {class_y.shape}", f"{bx.shape} and {by.shape}")
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
        return cls(labels, normal_x, normal_y, class_x, class_y, source)


def _face_classes_from_pixels(classes: np.ndarray, line_pixels: np.ndarray, bx: np.ndarray, by: np.ndarray):
    """Each face takes the largest class of the nearest marked pixel on either side of it."""
    if not (bx.any() or by.any()):
        return np.zeros(bx.shape, dtype=int), np.zeros(by.shape, dtype=int)
    if classes.shape != line_pixels.shape or classes.dtype.kind not in "iu":
        raise ValidationError(_SOURCE, "classes", f"{classes.dtype} array of shape {classes.shape}", f"integers of the map's shape {line_pixels.shape}")
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
