"""Reading a registered grain-boundary map: the etched optical image's boundaries on the SIMS pixel grid.

After the cryo-SIMS series the sample is thermally etched (1100 C) and the same area imaged
optically (shared/physics.md, step 6); registered onto the maps, its boundaries are what the
whole-map fit needs. Accepted files: ``.npy`` (numpy) or ``.tif``/``.tiff``, holding either a
boolean mask of boundary pixels (or a 0/1, 0/255 image: nonzero = boundary) or integer grain
labels (0 on boundaries, if any).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simslab.errors import ValidationError

__all__ = ["read_boundary_map"]


def read_boundary_map(path: str | Path) -> np.ndarray:
    """Return the boundary mask (bool) or grain labels (int64) stored in ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(str(path), "boundaries", "no such file", "a .npy or .tif file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        image = np.load(path, allow_pickle=False)
    elif suffix in (".tif", ".tiff"):
        import tifffile

        image = tifffile.imread(path)
    else:
        raise ValidationError(str(path), "boundaries", suffix, ".npy, .tif or .tiff")
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValidationError(str(path), "boundaries", f"array of shape {image.shape}", "a 2-D image")
    if image.dtype == bool:
        return image
    if image.dtype.kind not in "iu":
        raise ValidationError(str(path), "boundaries", str(image.dtype), "a boolean mask or integer labels")
    values = np.unique(image)
    if values.size <= 2 and values.min() == 0:
        return image != 0  # a 0/1 (or 0/255) image: a mask of the boundary pixels
    return image.astype(np.int64)
