"""One cryo-SIMS map of a campaign: quench check, grain boundaries (per boundary and whole map), depth check.

Grain boundaries come from the registered optical image of the etched surface when the
settings hold one, else from the steps of C (``detect_boundaries``): only boundaries with a
significant step are found that way. Per boundary, D_gb/delta = j_n / dC_gb with the
macroscopic flux of the long-range model at the map (``flux`` mode, the precise one: each
found boundary stands alone). The whole-map fit uses every pixel's counts through the
recorded history and needs the whole network: boundaries the flux runs along show no step
yet block it, and a gap in a found line joins two grains. On the network found in C
(``BoundaryMap.from_steps``, a lower threshold that closes more of it) it is biased, measured
0.45-2.0x the truth on 1 um-pixel twin maps, 3.9x at 2 um (0.65-3.0x and 5.1x with the
per-boundary detection), and says so in its method. Both refer to the reference temperature.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from simslab.errors import SimslabError
from simslab.physics.diffusion_laws import BOLTZMANN_EV_PER_K

from .diffusion_models import QuenchCheck, quench_check_from_trace
from .diffusion_settings import PUBLISHED_GB_ACTIVATION_EV, PUBLISHED_GB_PREFACTOR_M2_PER_S, DiffusionSettings
from .grain_boundary import grain_boundary_diffusivities
from .grain_boundary_results import BoundaryDistribution, GrainBoundaryAnalysis
from .isotope_map import IsotopeFraction, bin_counts, isotope_fraction
from .long_range import LongRangeAnalysis
from .read_cryo_sims import CryoImage
from .read_history import SampleTimeline
from .results import AnalysisResult
from .whole_map_fit import fit_gb_map
from .whole_map_geometry import BoundaryMap
from .whole_map_results import WholeMapFit

__all__ = ["ImageAnalysis", "ImageFigureData", "DepthCheck", "analyze_image", "detection_bin"]

log = logging.getLogger(__name__)

DETECTED_BAND_M = 12e-6
"""How far from a boundary found in C its pixels enter the per-boundary fit."""
_SQUARE_TOLERANCE = 0.02  # x and y pitch may differ this much for the whole-map fit (square-pixel model)


@dataclasses.dataclass(frozen=True)
class DepthCheck(AnalysisResult):
    """The line scan (below the surface) against the map's profile at the same x: is the profile uniform in depth?"""

    mean_difference: float
    mean_difference_err: float
    chi2_reduced: float
    points: int
    method: str


@dataclasses.dataclass(frozen=True)
class ImageAnalysis(AnalysisResult):
    """What one map says (SI units; D_gb/delta values at ``reference_temperature_k``)."""

    uid: str
    label: str
    mean_counts_per_pixel: float
    pixel_size_m: tuple[float, float]
    window_origin_m: float | None
    origin_source: str
    stage_temperature_k: float
    quench: QuenchCheck | None
    bulk_smearing: QuenchCheck | None
    boundary_source: str
    boundaries: BoundaryDistribution
    boundaries_method: str
    whole_map: WholeMapFit | None
    whole_map_note: str
    depth_check: DepthCheck | None
    reference_temperature_k: float
    method: str


@dataclasses.dataclass(frozen=True)
class ImageFigureData:
    """Arrays behind the figures of one map (not part of the JSON)."""

    fraction: IsotopeFraction
    boundaries: GrainBoundaryAnalysis
    fit_i6: np.ndarray | None
    fit_i7: np.ndarray | None
    fit_mask: np.ndarray | None
    fit_pixel_m: float | None


def analyze_image(index: int, image: CryoImage, long_range: LongRangeAnalysis | None, timeline: SampleTimeline,
                  settings: DiffusionSettings, *, whole_map: bool) -> tuple[ImageAnalysis, ImageFigureData]:
    """Analyse map ``index`` of the campaign (its place in ``long_range``) with the settings."""
    reference_k = settings.reference_temperature_k
    d_eff = long_range.d_eff_at(reference_k) if long_range is not None else None
    origin = float(long_range.profiles[index].x_m[0] - 0.5 * image.pixel_size_m[0]) if long_range else image.window_origin_m
    given = _registered(settings.boundary_map, image.shape) if settings.boundary_map is not None else None
    full = isotope_fraction(image.i6, image.i7, pixel_size_m=image.pixel_size_m)
    factor = 1 if given is not None else (settings.detection_bin or detection_bin(full.mean_counts))
    fraction = full if factor == 1 else isotope_fraction(image.i6, image.i7, bin_factor=factor,
                                                          pixel_size_m=image.pixel_size_m)
    flux = None
    if d_eff is not None and long_range is not None and origin is not None:
        def flux(x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return long_range.flux_m_per_s(index, d_eff[0], x_m + origin), 0.0 * x_m
    # found boundaries: a wider band and a one-pixel gap (measured on a 5 h twin map: 78 of 94 boundaries
    # usable, median within 13 % of the truth, against 3 of 16 with the defaults made for known boundaries)
    found = {} if given is not None else {"band_m": DETECTED_BAND_M, "gap_m": fraction.pixel_size_m[0]}
    boundaries = grain_boundary_diffusivities(
        fraction.fraction, fraction.sigma, fraction.pixel_size_m, settings.d_bulk_m2_per_s, boundaries=given,
        d_bulk_err=settings.d_bulk_rel_err * settings.d_bulk_m2_per_s, gb_width_m=settings.gb_width_m,
        flux_m_per_s=flux, **found,
    )
    source = "registered boundary map (etched optical image)" if given is not None else (
        "found from the steps of C: only boundaries with a significant step, a selection (biased)"
        + (f"; map binned {factor}x{factor} for ~2000 counts per pixel" if factor > 1 else ""))
    fit, note, fit_data = None, "not asked for", (None, None, None, None)
    if whole_map:
        fit, note, fit_data = _whole_map(image, given, factor, long_range, timeline, settings, d_eff, origin)
    quench, smearing = _quench(image, long_range, settings)
    analysis = ImageAnalysis(
        uid=image.uid, label=image.label, mean_counts_per_pixel=full.mean_counts, pixel_size_m=image.pixel_size_m,
        window_origin_m=origin, origin_source=image.origin_source,
        stage_temperature_k=float(np.mean(image.stage_temperature_k)) if image.stage_temperature_k.size else math.nan,
        quench=quench, bulk_smearing=smearing, boundary_source=source, boundaries=boundaries.distribution,
        boundaries_method=boundaries.method, whole_map=fit, whole_map_note=note,
        depth_check=_depth_check(image, long_range.profiles[index]) if long_range is not None else None,
        reference_temperature_k=reference_k,
        method="C = I6/(I6+I7) per pixel; per-boundary fits and the whole-map fit on " + source,
    )
    return analysis, ImageFigureData(fraction, boundaries, *fit_data)


def detection_bin(mean_counts: float, target_counts: float = 2000.0, largest: int = 4) -> int:
    """Return the smallest bin factor giving ``target_counts`` per binned pixel (at most ``largest``).

    At 2000 counts sigma_C is ~0.01, so the 0.01-0.06 steps at slow boundaries stand out
    from the noise; at the published 5 h statistics (~5000 counts) no binning is needed.
    """
    factor = 1
    while factor < largest and mean_counts * factor**2 < target_counts:
        factor += 1
    return factor


def _registered(boundary_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    given = np.asarray(boundary_map)
    if given.shape != shape:
        raise SimslabError(f"the registered boundary map has shape {given.shape}, the maps {shape}: register it first")
    return given if given.dtype == bool else given.astype(np.int64)


def _whole_map(image: CryoImage, given, factor: int, long_range, timeline, settings: DiffusionSettings, d_eff, origin):
    """Return (WholeMapFit or None, note, (i6, i7, mask, pixel)) of the whole-map fit of one map."""
    px, py = image.pixel_size_m
    if abs(px - py) > _SQUARE_TOLERANCE * px:
        return None, f"not fitted: pixels {px * 1e6:.3f} x {py * 1e6:.3f} um are not square", (None,) * 4
    if d_eff is None or origin is None:
        return None, "not fitted: no long-range D_eff or window place for the history", (None,) * 4
    if not d_eff[0] < settings.d_bulk_m2_per_s:
        return None, "not fitted: D_eff is not below the given D_bulk at the reference temperature", (None,) * 4
    columns = slice(0, settings.whole_map_columns)
    i6, i7 = image.i6[:, columns], image.i7[:, columns]
    if factor > 1:
        i6, i7 = bin_counts(i6, factor), bin_counts(i7, factor)
    if given is not None:
        given = given[:, columns]
        boundaries = BoundaryMap.from_labels(given) if given.dtype != bool else given
        mask = given if given.dtype == bool else _label_edges(given)
    else:
        binned = isotope_fraction(i6, i7)
        boundaries = BoundaryMap.from_steps(binned.fraction, binned.sigma)
        mask = _label_edges(boundaries.labels)
    exchange = long_range.exchange if long_range is not None else None
    history = timeline.diffusion_history(
        image.end_s, origin, sample_length_m=settings.sample_length_m, natural_fraction=settings.natural_fraction,
        surface_fraction=exchange.erfc.c_s if exchange is not None else 0.95,
        reference_temperature_k=settings.reference_temperature_k,
    )
    gb_line = long_range.gb_arrhenius if long_range is not None else None
    notes = [f"the first {i6.shape[1] * factor} columns (nearest the edge)"] if settings.whole_map_columns else []
    if factor > 1:
        notes.append(f"binned {factor}x{factor}, boundaries found on the binned map")
    notes.append(f"square pixels of {px * factor * 1e6:.3f} um (the x pitch; y pitch {py * 1e6:.3f} um)")
    note = "; ".join(notes)
    try:
        fit = fit_gb_map(
            i6, i7, boundaries, px * factor, history, d_bulk=settings.d_bulk_m2_per_s, d_eff=d_eff[0],
            d_bulk_err=settings.d_bulk_rel_err, psf_sigma_m=settings.psf_sigma_m,
            bulk_activation_ev=settings.bulk_activation_ev,
            gb_activation_ev=gb_line.activation_energy_ev if gb_line is not None else settings.gb_activation_ev,
            gb_width_m=settings.gb_width_m,
        )
    except SimslabError as err:
        log.warning("whole-map fit of %s refused: %s", image.uid[:8], err)
        return None, f"refused: {err}", (i6, i7, mask, px * factor)
    return fit, note, (i6, i7, mask, px * factor)


def _label_edges(labels: np.ndarray) -> np.ndarray:
    mask = labels == 0
    mask[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    mask[1:, :] |= labels[1:, :] != labels[:-1, :]
    return mask


def _quench(image: CryoImage, long_range: LongRangeAnalysis | None, settings: DiffusionSettings):
    """Return the quench check during the image (D_eff's upper bound, the (l/delta) D_gb line) and the
    bulk's smearing inside the grains (D_bulk: informative, the whole-map fit evolves it)."""
    if image.stage_time_s.size < 2 or image.stage_time_s[-1] <= image.stage_time_s[0]:
        return None, None
    line = long_range.gb_arrhenius if long_range is not None else None
    prefactor, activation = ((line.prefactor, line.activation_energy_ev) if line is not None
                             else (PUBLISHED_GB_PREFACTOR_M2_PER_S, PUBLISHED_GB_ACTIVATION_EV))
    pixel = min(image.pixel_size_m)
    gb = quench_check_from_trace(image.stage_time_s, image.stage_temperature_k, prefactor, activation, pixel)
    bulk_prefactor = settings.d_bulk_m2_per_s * math.exp(
        settings.bulk_activation_ev / (BOLTZMANN_EV_PER_K * settings.reference_temperature_k))
    bulk = quench_check_from_trace(image.stage_time_s, image.stage_temperature_k, bulk_prefactor,
                                   settings.bulk_activation_ev, pixel)
    which = "fitted" if line is not None else "published"
    gb = dataclasses.replace(gb, method=gb.method + f"; D = (l/delta) D_gb, the {which} line (bounds D_eff)")
    bulk = dataclasses.replace(bulk, method=bulk.method + "; D = D_bulk (given): smearing inside the grains")
    return gb, bulk


def _depth_check(image: CryoImage, profile) -> DepthCheck | None:
    line = image.line_scan
    if line is None:
        return None
    counts = line.i6 + line.i7
    good = counts > 0
    x = profile.x_m[0] - 0.5 * image.pixel_size_m[0] + (np.arange(counts.size) + 0.5) * line.pixel_size_m
    c = np.where(good, line.i6 / np.where(good, counts, 1.0), np.nan)
    sigma = np.sqrt(np.clip(c * (1 - c), 1e-6, None) / np.where(good, counts, 1.0))
    inside = good & (x >= profile.x_m[0]) & (x <= profile.x_m[-1])
    if inside.sum() < 3:
        return None
    map_c = np.interp(x[inside], profile.x_m, profile.c)
    map_err = np.interp(x[inside], profile.x_m, profile.c_err)
    difference = c[inside] - map_c
    weight = 1.0 / (sigma[inside] ** 2 + map_err**2)
    mean = float(np.sum(weight * difference) / np.sum(weight))
    chi2 = float(np.sum(weight * (difference - mean) ** 2) / max(inside.sum() - 1, 1))
    err = float(np.sqrt(max(chi2, 1.0) / np.sum(weight)))
    return DepthCheck(mean, err, chi2, int(inside.sum()),
                      f"line scan after {line.sputter_time_s:g} s of sputtering minus the map's profile, weighted mean")
