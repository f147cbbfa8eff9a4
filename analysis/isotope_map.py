"""Isotope-fraction maps C = I6 / (I6 + I7) with their counting-statistics uncertainty.

Counts are binomial given the total N = I6 + I7 per pixel, so sigma_C = sqrt(C (1 - C) / N)
(shared/physics.md, counting statistics). Binning sums counts over square blocks before the
ratio is taken (the honest way: a mean of noisy ratios is biased at low counts); pixels with
fewer than ``min_counts`` are masked (NaN) rather than reported with a meaningless fraction.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from numpy.typing import ArrayLike

from simslab.errors import ValidationError

from .input_checks import float_array, same_shape
from .results import AnalysisResult

__all__ = ["IsotopeFraction", "isotope_fraction", "bin_counts"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class IsotopeFraction(AnalysisResult):
    """A 6Li fraction map: ``fraction`` and ``sigma`` are NaN where ``valid`` is False.

    ``counts`` is N = I6 + I7 per (binned) pixel; ``pixel_size_m`` is (x, y) after binning,
    None when the caller gave no pixel size.
    """

    fraction: np.ndarray
    sigma: np.ndarray
    counts: np.ndarray
    valid: np.ndarray
    bin_factor: int
    min_counts: float
    pixel_size_m: tuple[float, float] | None
    method: str

    @property
    def mean_counts(self) -> float:
        """Mean N per valid pixel."""
        return float(self.counts[self.valid].mean()) if self.valid.any() else 0.0


def isotope_fraction(
    i6: ArrayLike,
    i7: ArrayLike,
    *,
    bin_factor: int = 1,
    min_counts: float = 1.0,
    pixel_size_m: tuple[float, float] | None = None,
) -> IsotopeFraction:
    """Return C = I6 / (I6 + I7) per pixel with sigma_C = sqrt(C (1 - C) / N).

    i6, i7: counts of 6Li+ and 7Li+ (any shape, usually (ny, nx)); bin_factor: sum square
    blocks of this many pixels per side first (edge rows/columns that do not fill a block are
    dropped); min_counts: pixels with N below this are masked. sigma uses C regularised as
    (I6 + 1/2) / (N + 1) so that a pixel with no 6Li counts does not claim zero uncertainty.
    """
    source = "isotope_fraction"
    i6 = float_array(source, "i6", i6)
    i7 = float_array(source, "i7", i7)
    same_shape(source, i6=i6, i7=i7)
    for name, array in (("i6", i6), ("i7", i7)):
        if np.any(array[np.isfinite(array)] < 0):
            raise ValidationError(source, name, "negative counts", "counts >= 0")
    if not isinstance(bin_factor, (int, np.integer)) or bin_factor < 1:
        raise ValidationError(source, "bin_factor", bin_factor, "an integer >= 1")
    if min_counts < 0:
        raise ValidationError(source, "min_counts", min_counts, ">= 0")
    if bin_factor > 1:
        i6, i7 = bin_counts(i6, bin_factor), bin_counts(i7, bin_factor)
        if pixel_size_m is not None:
            pixel_size_m = (pixel_size_m[0] * bin_factor, pixel_size_m[1] * bin_factor)
    counts = i6 + i7
    valid = np.isfinite(counts) & (counts >= max(min_counts, np.finfo(float).tiny))
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(valid, i6 / counts, np.nan)
        regularised = (i6 + 0.5) / (counts + 1.0)
        sigma = np.where(valid, np.sqrt(regularised * (1.0 - regularised) / counts), np.nan)
    log.debug("isotope fraction: %d of %d pixels valid", valid.sum(), valid.size)
    method = f"C = I6/(I6+I7), binomial sigma, {bin_factor}x{bin_factor} binning, N >= {min_counts:g}"
    return IsotopeFraction(fraction, sigma, counts, valid, int(bin_factor), float(min_counts), pixel_size_m, method)


def bin_counts(counts: ArrayLike, factor: int) -> np.ndarray:
    """Return counts summed over ``factor`` x ``factor`` blocks of the last two axes.

    Rows and columns that do not fill a whole block are dropped.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim < 2:
        raise ValidationError("bin_counts", "counts", f"array of shape {counts.shape}", "at least 2-D")
    ny, nx = counts.shape[-2] // factor, counts.shape[-1] // factor
    if ny == 0 or nx == 0:
        raise ValidationError("bin_counts", "factor", factor, f"<= the map size {counts.shape[-2:]}")
    trimmed = counts[..., : ny * factor, : nx * factor]
    return trimmed.reshape(*counts.shape[:-2], ny, factor, nx, factor).sum(axis=(-3, -1))
