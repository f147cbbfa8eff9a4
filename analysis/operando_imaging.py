"""Operando images: region-of-interest intensities, per-pixel reversibility, heterogeneity.

Counts are Poisson: a sum of N counts has error sqrt(N). Intensities are counts per pixel
divided by an exposure (primary ions, or seconds) per image, so a drifting beam current
does not pass for a chemical change. Matrix effects make Ni+ rise on charge and Ti+ fall;
the functions here only measure changes, they do not interpret them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from simslab.errors import ValidationError

from .input_checks import float_array, positive, same_shape
from .isotope_map import bin_counts
from .results import AnalysisResult

__all__ = [
    "RoiTrajectories",
    "roi_trajectories",
    "PixelReversibility",
    "pixel_reversibility",
    "HeterogeneityIndex",
    "heterogeneity_index",
]


@dataclasses.dataclass(frozen=True)
class RoiTrajectories(AnalysisResult):
    """Mean intensity per pixel in each region for each mass and image.

    ``intensity``/``intensity_err``: shape (regions, masses, images), counts per pixel per
    exposure unit (or relative to the first image when ``relative``).
    """

    regions: tuple[str, ...]
    masses: tuple[str, ...]
    intensity: np.ndarray
    intensity_err: np.ndarray
    pixels: np.ndarray
    relative: bool
    method: str

    def series(self, region: str, mass: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (intensity, error) over the images for one region and mass."""
        return self.intensity[self.regions.index(region), self.masses.index(mass)], self.intensity_err[
            self.regions.index(region), self.masses.index(mass)
        ]


@dataclasses.dataclass(frozen=True)
class PixelReversibility(AnalysisResult):
    """Per pixel: change on charge (charged/pristine) and how much of it discharge undid.

    reversibility = (I_charged - I_discharged) / (I_charged - I_pristine): 1 fully
    reversible, 0 stayed at the charged level (irreversible), NaN where the change on charge
    is not significant (``valid`` False). ``fraction_reversible``: share of valid pixels with
    reversibility > 0.5.
    """

    charge_ratio: np.ndarray
    reversibility: np.ndarray
    reversibility_err: np.ndarray
    valid: np.ndarray
    median_reversibility: float
    fraction_reversible: float
    method: str


@dataclasses.dataclass(frozen=True)
class HeterogeneityIndex(AnalysisResult):
    """Spread of the response to charge across a region, with counting noise taken out.

    index = sqrt(var(ln(I_charged/I_pristine)) - mean counting variance): 0 for a uniform
    response, 0.5 when pixels' responses typically differ by a factor ~1.6.
    """

    index: float
    observed_std: float
    noise_std: float
    pixels: int
    method: str


def roi_trajectories(
    counts: Mapping[str, ArrayLike],
    regions: Mapping[str, ArrayLike],
    *,
    exposure: ArrayLike | None = None,
    relative: bool = False,
) -> RoiTrajectories:
    """Return the intensity in each region of interest for each mass over a series of images.

    counts: per mass label, an array (images, ny, nx) of counts; regions: per name, a boolean
    mask (ny, nx); exposure: per image, primary ions or integration seconds (1 if None);
    relative: divide each trajectory by its first image.
    """
    if not counts or not regions:
        raise ValidationError("roi_trajectories", "counts/regions", "empty", "at least one mass and one region")
    masses, region_names = tuple(counts), tuple(regions)
    stacks = [float_array("roi_trajectories", f"counts[{m}]", counts[m], ndim=3) for m in masses]
    same_shape("roi_trajectories", **{m: s for m, s in zip(masses, stacks)})
    images, ny, nx = stacks[0].shape
    norm = np.ones(images) if exposure is None else positive("roi_trajectories", "exposure", exposure).ravel()
    if norm.size != images:
        raise ValidationError("roi_trajectories", "exposure", f"{norm.size} values", f"one per image ({images})")
    masks = [np.asarray(regions[r], dtype=bool) for r in region_names]
    for name, mask in zip(region_names, masks):
        if mask.shape != (ny, nx) or not mask.any():
            raise ValidationError(
                "roi_trajectories", f"regions[{name}]", f"mask of shape {mask.shape}", f"a non-empty ({ny}, {nx}) mask"
            )
    pixels = np.array([m.sum() for m in masks])
    summed = np.array([[stack[:, mask].sum(axis=1) for stack in stacks] for mask in masks])
    intensity = summed / (pixels[:, None, None] * norm)
    error = np.sqrt(summed) / (pixels[:, None, None] * norm)
    if relative:
        first, first_err = intensity[..., :1], error[..., :1]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = intensity / first
            error = np.abs(ratio) * np.sqrt((error / intensity) ** 2 + (first_err / first) ** 2)
            error[..., 0] = 0.0
        intensity = ratio
    unit = "first image" if relative else ("exposure unit" if exposure is not None else "image")
    return RoiTrajectories(
        region_names, masses, intensity, error, pixels, relative, f"counts per pixel per {unit}, Poisson errors"
    )


def pixel_reversibility(
    pristine: ArrayLike,
    charged: ArrayLike,
    discharged: ArrayLike,
    *,
    exposures: tuple[float, float, float] = (1.0, 1.0, 1.0),
    bin_factor: int = 1,
    min_change_sigma: float = 3.0,
) -> PixelReversibility:
    """Return per-pixel reversibility of one mass's intensity over a charge-discharge cycle.

    pristine, charged, discharged: count maps (ny, nx) of the same region; exposures: primary
    ions (or s) of each; bin_factor: sum square blocks first (per-pixel counts are often too
    few); pixels whose change on charge is below ``min_change_sigma`` are not judged.
    """
    maps = [
        float_array("pixel_reversibility", n, a, ndim=2)
        for n, a in (("pristine", pristine), ("charged", charged), ("discharged", discharged))
    ]
    same_shape("pixel_reversibility", pristine=maps[0], charged=maps[1], discharged=maps[2])
    exposure = positive("pixel_reversibility", "exposures", exposures).ravel()
    if bin_factor > 1:
        maps = [bin_counts(m, bin_factor) for m in maps]
    rates = [m / e for m, e in zip(maps, exposure)]
    variances = [np.maximum(m, 1.0) / e**2 for m, e in zip(maps, exposure)]
    p, c, d = rates
    vp, vc, vd = variances
    change, undone = c - p, c - d
    valid = np.abs(change) > min_change_sigma * np.sqrt(vc + vp)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(p > 0, c / p, np.nan)
        r = np.where(valid, undone / change, np.nan)
        var_r = ((change - undone) / change**2) ** 2 * vc + vd / change**2 + (undone / change**2) ** 2 * vp
        r_err = np.where(valid, np.sqrt(var_r), np.nan)
    judged = r[valid]
    return PixelReversibility(
        charge_ratio=ratio,
        reversibility=r,
        reversibility_err=r_err,
        valid=valid,
        median_reversibility=float(np.median(judged)) if judged.size else float("nan"),
        fraction_reversible=float(np.mean(judged > 0.5)) if judged.size else float("nan"),
        method=(
            f"(I_c - I_d)/(I_c - I_p) per {bin_factor}x{bin_factor} pixel, "
            f"change on charge > {min_change_sigma:g} sigma"
        ),
    )


def heterogeneity_index(
    pristine: ArrayLike,
    charged: ArrayLike,
    *,
    region: ArrayLike | None = None,
    bin_factor: int = 1,
) -> HeterogeneityIndex:
    """Return the noise-corrected spread of ln(I_charged / I_pristine) over a region's pixels.

    pristine, charged: count maps (ny, nx) of one mass (e.g. 58Ni+ in the cathode window)
    with equal exposure; region: boolean mask of the pixels to judge (all if None);
    bin_factor: sum square blocks first. Pixels with zero counts in either map are left out.
    """
    p = float_array("heterogeneity_index", "pristine", pristine, ndim=2)
    c = float_array("heterogeneity_index", "charged", charged, ndim=2)
    same_shape("heterogeneity_index", pristine=p, charged=c)
    mask = np.ones(p.shape, dtype=bool) if region is None else np.asarray(region, dtype=bool)
    same_shape("heterogeneity_index", pristine=p, region=mask)
    if bin_factor > 1:
        p, c = bin_counts(p, bin_factor), bin_counts(c, bin_factor)
        mask = bin_counts(mask.astype(float), bin_factor) == bin_factor**2
    use = mask & (p > 0) & (c > 0)
    if use.sum() < 2:
        raise ValidationError(
            "heterogeneity_index",
            "region",
            f"{use.sum()} pixels with counts",
            "at least 2 pixels with counts in both maps",
        )
    log_ratio = np.log(c[use] / p[use])
    observed_var = float(np.var(log_ratio, ddof=1))
    noise_var = float(np.mean(1.0 / c[use] + 1.0 / p[use]))
    return HeterogeneityIndex(
        index=float(np.sqrt(max(observed_var - noise_var, 0.0))),
        observed_std=float(np.sqrt(observed_var)),
        noise_std=float(np.sqrt(noise_var)),
        pixels=int(use.sum()),
        method=f"sqrt(var ln(I_c/I_p) - mean(1/N_c + 1/N_p)) over {bin_factor}x{bin_factor} pixels",
    )
