"""Grains and grain boundaries on a map: from a supplied boundary mask, or from steps in C.

A slow grain boundary shows up as a step in the 6Li fraction C; a boundary that the tracer
flux runs along (or a fast one) shows no step and cannot be found in C at all. Boundaries
found from steps are therefore a selection: use a registered optical image of the etched
surface (``label_grains`` on its boundary mask) when every boundary must count.

Labels: 0 on boundary pixels, 1..K for grains (or step-bounded regions).
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage
from skimage.morphology import disk
from skimage.segmentation import watershed

from simslab.errors import ValidationError

from .input_checks import float_array, same_shape

__all__ = ["label_grains", "detect_boundaries", "step_significance", "merge_regions", "WHOLE_MAP_DETECTION"]

log = logging.getLogger(__name__)

_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)

WHOLE_MAP_DETECTION = {"threshold_sigma": 2.5, "erosion_px": 1}
"""``detect_boundaries`` settings for the whole-map fit, which needs the network closed more than clean.

Measured on 15 twin maps at the 5 h statistics (9 quarter maps: seeds 1-3 x D_gb/delta 0.3,
1, 3 x default; 6 full maps: seeds 0-2): D_gb/delta from the whole-map fit 0.45-2.0 x the
truth (median 1.36) with these, against 0.65-3.0 x (median 2.24) with the defaults (4 sigma,
erosion 2 px); (3 sigma, 1 px) gave a median of 1.44 x on the quarter maps. Coarser pixels
resolve less of the network: on the closed-loop campaign's 2 um-pixel map 3.9 x (5.1 x with
the defaults).
"""


def label_grains(boundary_mask: ArrayLike, *, min_grain_px: int = 4) -> np.ndarray:
    """Return grain labels 1..K from a boolean mask of boundary pixels (0 on the boundaries).

    Grains are the 4-connected regions between boundary pixels, so a one-pixel boundary line
    drawn with diagonal steps still separates them. Regions smaller than ``min_grain_px`` are
    returned as 0 (too small to fit a bulk gradient in).
    """
    mask = np.asarray(boundary_mask, dtype=bool)
    if mask.ndim != 2:
        raise ValidationError("label_grains", "boundary_mask", f"array of shape {mask.shape}", "a 2-D mask")
    labels, count = ndimage.label(~mask, structure=_FOUR_CONNECTED)
    return _drop_small(labels, count, min_grain_px)


def detect_boundaries(
    fraction: ArrayLike,
    sigma: ArrayLike,
    *,
    smoothing_px: float = 1.0,
    threshold_sigma: float = 4.0,
    min_grain_px: int = 9,
    erosion_px: int | None = None,
) -> np.ndarray:
    """Return region labels (0 on boundary lines) of a C map split where C steps.

    The step significance (``step_significance``) is high on steps; its low regions, eroded
    by ``erosion_px`` (None: twice the smoothing), seed a watershed whose one-pixel lines are
    the boundaries. Regions split only by noise show no significant step in the boundary fit
    and are merged there (``merge_regions``).
    smoothing_px: Gaussian scale of the step detector in pixels (larger finds smaller steps at
    low counts, blurs close boundaries together); threshold_sigma: significance above which a
    pixel counts as lying on a step. A lower threshold and a smaller erosion close more of
    the network (two grains whose shared boundary shows a gap join into one region: every
    boundary of the pair is lost) at the price of a few lines through grains
    (``WHOLE_MAP_DETECTION`` is the choice measured for the whole-map fit).
    """
    if erosion_px is None:
        erosion_px = int(np.ceil(2 * smoothing_px))
    if not (isinstance(erosion_px, (int, np.integer)) and erosion_px >= 0):
        raise ValidationError("detect_boundaries", "erosion_px", erosion_px, "an integer >= 0 pixels, or None")
    significance = step_significance(fraction, sigma, smoothing_px=smoothing_px)
    # Noise leaves gaps a few pixels long in the line of a real step; eroding the step-free
    # area by about the detector's width keeps two grains from joining through such a gap.
    flat = significance < threshold_sigma
    if erosion_px > 0:
        flat = ndimage.binary_erosion(flat, disk(int(erosion_px)))
    markers, count = ndimage.label(flat, structure=_FOUR_CONNECTED)
    markers = _drop_small(markers, count, min_grain_px)
    if markers.max() == 0:
        log.info("no step-free region found: the map has no detectable grain structure")
        return np.ones(significance.shape, dtype=np.int64)
    labels = watershed(significance, markers, watershed_line=True)
    log.debug("step detection: %d regions", labels.max())
    return labels.astype(np.int64)


def step_significance(fraction: ArrayLike, sigma: ArrayLike, *, smoothing_px: float = 1.0) -> np.ndarray:
    """Return |grad C| of the Gaussian-smoothed map in units of its counting noise.

    For pure counting noise the value follows a Rayleigh distribution of scale 1 (so > 4 by
    chance in ~3e-4 of the pixels); a step of height s at counting noise sigma_C peaks at
    about 2 s smoothing_px / sigma_C. Masked (NaN) pixels are filled from their surroundings.
    """
    source = "step_significance"
    fraction = float_array(source, "fraction", fraction, ndim=2)
    sigma = float_array(source, "sigma", sigma, ndim=2)
    same_shape(source, fraction=fraction, sigma=sigma)
    if not smoothing_px > 0:
        raise ValidationError(source, "smoothing_px", smoothing_px, "> 0 pixels")
    valid = np.isfinite(fraction) & np.isfinite(sigma)
    if not valid.any():
        raise ValidationError(source, "fraction", "no finite pixel", "a map with valid pixels")
    filled = _fill_masked(fraction, valid, smoothing_px)
    noise = _fill_masked(sigma, valid, 3.0 * smoothing_px)
    grad_y = ndimage.gaussian_filter(filled, smoothing_px, order=(1, 0), mode="nearest")
    grad_x = ndimage.gaussian_filter(filled, smoothing_px, order=(0, 1), mode="nearest")
    noise_gain = _derivative_noise_gain(smoothing_px)
    return np.hypot(grad_x, grad_y) / (noise * noise_gain)


def merge_regions(labels: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Return labels with each (a, b) row of ``pairs`` joined into one region.

    Boundary pixels (0) whose every labelled neighbour ends up in the same region join it, so
    a line between merged regions disappears while lines to other regions stay.
    """
    parent = np.arange(labels.max() + 1)
    for a, b in np.asarray(pairs, dtype=np.int64).reshape(-1, 2):
        root_a, root_b = _find(parent, a), _find(parent, b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    roots = np.array([_find(parent, i) for i in range(parent.size)])
    merged = roots[labels]
    big = np.iinfo(np.int64).max
    neighbour_max = ndimage.maximum_filter(merged, size=3)
    neighbour_min = ndimage.minimum_filter(np.where(merged > 0, merged, big), size=3)
    joins = (merged == 0) & (neighbour_max == neighbour_min) & (neighbour_max > 0)
    merged[joins] = neighbour_max[joins]
    return merged


def _drop_small(labels: np.ndarray, count: int, min_px: int) -> np.ndarray:
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_px
    keep[0] = False
    renumber = np.zeros(count + 1, dtype=np.int64)
    renumber[keep] = np.arange(1, keep.sum() + 1)
    return renumber[labels]


def _fill_masked(image: np.ndarray, valid: np.ndarray, scale_px: float) -> np.ndarray:
    """Replace invalid pixels by a normalised Gaussian average of the valid ones near them."""
    if valid.all():
        return image
    weights = ndimage.gaussian_filter(valid.astype(float), scale_px, mode="nearest")
    smooth = ndimage.gaussian_filter(np.where(valid, image, 0.0), scale_px, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = smooth / weights
    smooth[~np.isfinite(smooth)] = np.nanmedian(image[valid])
    return np.where(valid, image, smooth)


def _derivative_noise_gain(smoothing_px: float) -> float:
    """Return the standard deviation of one Gaussian-derivative output for unit white noise."""
    half = int(np.ceil(5 * smoothing_px)) + 1
    impulse = np.zeros((2 * half + 1, 2 * half + 1))
    impulse[half, half] = 1.0
    response = ndimage.gaussian_filter(impulse, smoothing_px, order=(0, 1), mode="constant")
    return float(np.sqrt(np.sum(response**2)))


def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return int(i)
