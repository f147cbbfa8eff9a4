"""The tracer-diffusion analysis of a campaign: long-range profiles, every map, D_gb/delta, Haven ratio.

Order matters: the long-range chain comes first (it gives D_eff(T), the (l/delta) D_gb line
and the macroscopic flux at each map), then every map (quench check with the fitted line,
grain boundaries with that flux, the whole-map fit through the recorded history).

The campaign's D_gb/delta (``GbEstimate``) is the whole-map fit of the first map when the
boundaries are known (a registered etched image: measured within a few % on twin maps), else
the per-boundary pooled value in flux mode on the boundaries found in C (measured +13-17 %
on a 5 h twin map). With boundaries found in C the whole-map fit is reported, not used: it
needs the whole network, and C cannot show it. Measured on quarter twin maps at the 5 h
statistics (issue 10): with the true grains but only the pairs the detection finds, the fit
is 2.3-2.4x too high, as on the found lines themselves, so positions (a pixel off costs
< 15 %) and spurious lines (< 1 % of line pixels) are not the cause; with the true grains
and only the faces whose step exceeds 2 sigma_C kept as boundaries it is still 1.3-2.6x off:
boundaries along the flux carry no visible step yet block it. A lower detection threshold
closes more of the network (``BoundaryMap.from_steps``: 0.45-2.0x over 15 maps of 1 um
pixels, median 1.36, against 0.65-3.0x, median 2.24, with the per-boundary detection; 3.9x
against 5.1x on the closed-loop campaign's 2 um-pixel map); over-segmenting further adds
lines through grains and biases it low (0.3-0.7x). The spread is systematic (statistical
errors are 1-3 %), so the fit's method names it and the pooled value stays the estimate.
With both (l/delta) D_gb and D_gb/delta at the reference temperature, the series model's
boundary spacing l follows.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .campaign_results import DiffusionAnalysis, GbEstimate, HavenRatio
from .diffusion_models import haven_ratio, nernst_einstein_diffusivity
from .diffusion_settings import DiffusionSettings
from .image_analysis import ImageAnalysis, analyze_image
from .long_range import LongRangeAnalysis, analyze_long_range
from .read_campaign import CampaignRecord

__all__ = ["analyze_diffusion"]

log = logging.getLogger(__name__)


def analyze_diffusion(record: CampaignRecord, settings: DiffusionSettings) -> DiffusionAnalysis | None:
    """Analyse the cryo-SIMS maps and diffusion steps of a campaign (None without maps)."""
    if not record.images or record.timeline is None:
        return None
    long_range = analyze_long_range(record, settings)
    images, figures = [], []
    for index, image in enumerate(record.images):
        fit = settings.whole_map == "all" or (settings.whole_map == "first" and index == 0)
        analysis, data = analyze_image(index, image, long_range, record.timeline, settings, whole_map=fit)
        images.append(analysis)
        figures.append(data)
    estimate = _gb_estimate(images, settings)
    spacing, spacing_err = _series_spacing(long_range, estimate, settings)
    return DiffusionAnalysis(
        settings=settings.described(),
        long_range=long_range,
        images=tuple(images),
        d_gb_over_width=estimate,
        series_grain_size_m=spacing,
        series_grain_size_err_m=spacing_err,
        haven=_haven(long_range, settings),
        method=(
            "long-range chain (erfc, closed-system fits over the recorded history, Arrhenius), then per map: quench "
            "check, per-boundary and whole-map D_gb/delta; D_gb/delta of the campaign from the whole-map fit with "
            "registered boundaries, else the per-boundary pooled flux-mode value"
        ),
        figure_data=tuple(figures),
    )


def _gb_estimate(images: list[ImageAnalysis], settings: DiffusionSettings) -> GbEstimate | None:
    """Return the campaign's D_gb/delta from its first usable map (see the module docstring)."""
    registered = settings.boundary_map is not None
    for image in images:
        fit = image.whole_map
        if registered and fit is not None:
            return GbEstimate(
                fit.d_gb_over_width, fit.d_gb_over_width_err, fit.d_gb_over_width * settings.gb_width_m,
                fit.d_gb_over_width_err * settings.gb_width_m, fit.reference_temperature_k, image.uid, True,
                "whole-map maximum likelihood on the registered boundary map (" + image.label + ")",
            )
        pooled = image.boundaries
        if pooled.pooled_count >= 3 and np.isfinite(pooled.pooled_m_per_s):
            return GbEstimate(
                pooled.pooled_m_per_s, pooled.pooled_err_m_per_s, pooled.pooled_m_per_s * settings.gb_width_m,
                pooled.pooled_err_m_per_s * settings.gb_width_m, image.reference_temperature_k, image.uid, registered,
                f"per-boundary pooled value over {pooled.pooled_count} boundaries ({image.boundaries_method}) on "
                f"{image.boundary_source} ({image.label})",
            )
    return None


def _series_spacing(long_range: LongRangeAnalysis | None, estimate: GbEstimate | None,
                    settings: DiffusionSettings) -> tuple[float | None, float | None]:
    """Return l = (l/delta) D_gb / (D_gb/delta) at the estimate's temperature (m), with its error."""
    if long_range is None or long_range.gb_arrhenius is None or estimate is None:
        return None, None
    line, line_err = long_range.gb_arrhenius.predict(estimate.temperature_k)
    spacing = float(line) / estimate.value_m_per_s
    relative = math.hypot(float(line_err) / float(line), estimate.err_m_per_s / estimate.value_m_per_s)
    return spacing, spacing * relative


def _haven(long_range: LongRangeAnalysis | None, settings: DiffusionSettings) -> HavenRatio | None:
    if settings.conductivity_s_per_m is None or long_range is None:
        return None
    temperature = settings.conductivity_temperature_k
    tracer = long_range.d_eff_at(temperature)
    if tracer is None:
        return None
    d_sigma = float(nernst_einstein_diffusivity(settings.conductivity_s_per_m, temperature,
                                                settings.carrier_density_per_m3))
    ratio = float(haven_ratio(tracer[0], d_sigma))
    return HavenRatio(
        temperature_k=temperature, conductivity_s_per_m=settings.conductivity_s_per_m,
        carrier_density_per_m3=settings.carrier_density_per_m3, d_sigma_m2_per_s=d_sigma,
        d_tracer_m2_per_s=tracer[0], d_tracer_err_m2_per_s=tracer[1], haven_ratio=ratio,
        haven_ratio_err=ratio * tracer[1] / tracer[0],
        method=f"H_R = D_eff / D_sigma; D_eff from the {tracer[2]}; D_sigma = sigma kB T / (n e^2) (given sigma, n)",
    )
