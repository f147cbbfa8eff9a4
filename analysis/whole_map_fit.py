"""D_gb/delta from every pixel of a map: maximum likelihood of a 2D forward model against the counts.

The published analysis takes D_gb/delta from one line profile across one boundary; at
realistic counts the bulk gradient next to one boundary is far below a pixel's noise, so
single-boundary values scatter by large factors. Here the forward model
(:mod:`.whole_map_model`: thin-interface finite volumes on the map's own boundaries, driven
by the long-range profile through the run's recorded history) predicts C in every pixel, and
the binomial likelihood of all I6/I7 counts (:mod:`.whole_map_likelihood`) is maximised.

What the map tells (identifiability): the grain-scale pattern (steps at the boundaries
against the gradients inside the grains, and how grains lag as they fill) depends on
k h / D_bulk, so with D_bulk given the map fixes k = D_gb/delta, and a given D_bulk's error
carries over in proportion. The window's macroscopic profile also depends on k (through the
window's own conductance) but that link leans on the long-range model (D_eff, the window's
place, its edges held as lines); by default it is cut: the window's edge values and smooth
corrections of its profile down to ``free_profile_wavelength_m`` are free linear parameters,
so D_eff only sets the starting profile and errors in it do not move k. With
``free_profile_wavelength_m=None`` the long-range model is trusted and the fit is tighter.
Every value refers to the history's reference temperature (:mod:`.whole_map_history`).

Errors: the 68 % profile-likelihood interval (deviance + 1) with every nuisance refitted,
among them a mix of the image towards short boundaries (whose orientation a pixel map hardly
tells) turned to their faces' axes, plus D_bulk's error in proportion. The
fit refuses (:class:`MapFitRefused`) when the map has no boundary, too few counted pixels,
or a profile that does not rise by 1 within ``max_factor`` of the best value.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits

from simslab.errors import ValidationError

from .grain_boundary import grain_boundary_diffusivities
from .input_checks import float_array, positive, same_shape
from .isotope_map import isotope_fraction
from .whole_map_geometry import BoundaryMap
from .whole_map_history import DiffusionHistory
from .whole_map_likelihood import MapLikelihood, ParameterLayout
from .whole_map_model import MapDiffusivities, WholeMapModel
from .whole_map_profile_likelihood import maximise, nuisance_errors, profile_interval
from .whole_map_results import ClassEstimate, MapFitRefused, WholeMapFit, describe_methods

__all__ = ["fit_gb_map", "WholeMapFit", "MapFitRefused"]

log = logging.getLogger(__name__)

_SOURCE = "fit_gb_map"
_MIN_PIXELS = 100


def fit_gb_map(
    i6: ArrayLike,
    i7: ArrayLike,
    boundary_mask: ArrayLike | BoundaryMap,
    pixel_size: float | tuple[float, float],
    history: DiffusionHistory,
    *,
    d_bulk: float,
    d_eff: float,
    d_bulk_err: float | None = None,
    d_eff_err: float | None = None,
    fit_d_bulk: bool = False,
    fit_d_eff: bool = False,
    fit_edges: bool = True,
    free_profile_wavelength_m: float | None = 60e-6,
    psf_sigma_m: float = 0.0,
    bulk_activation_ev: float = 0.30,
    gb_activation_ev: float = 0.43,
    gb_width_m: float | None = None,
    min_counts: float = 1.0,
    max_factor: float = 10.0,
    geometry_check: bool = True,
    compare_per_boundary: bool = True,
) -> WholeMapFit:
    """Fit D_gb/delta (m/s, at the history's reference temperature) to every pixel of a map.

    i6, i7: counts of 6Li+ and 7Li+ (ny, nx); boundary_mask: boolean mask of boundary pixels
    (e.g. the registered etched optical image) or a :class:`BoundaryMap` (labels, classes);
    pixel_size: square pixel side in m (or (x, y), equal); history: the run's history and the
    window's place. d_bulk, d_eff: D_bulk (NMR) and the long-range D_eff at the reference
    temperature, m^2/s; *_err: their relative errors (D_bulk's carries over to the result;
    both constrain the value when it is fitted: fit_d_bulk, fit_d_eff). fit_edges: the
    window's two edge values free; free_profile_wavelength_m: shortest wavelength of free
    corrections to the window's macroscopic profile (None: none). psf_sigma_m: the primary
    beam's Gaussian spot; activation energies (eV) scale values to other temperatures of the
    history (they drop out of an isothermal one); gb_width_m: delta, to report D_gb too.
    Pixels with fewer than ``min_counts`` are left out. A boundary map with several classes
    also gets one value per class. Takes ~5-20 s for a 512 x 206 map.
    """
    # one BLAS thread: the fit's vectors are too small to gain from threads, and on a busy
    # machine OpenBLAS's spinning threads made it 3-4x slower (measured)
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(
            i6, i7, boundary_mask, pixel_size, history, d_bulk=d_bulk, d_eff=d_eff, d_bulk_err=d_bulk_err,
            d_eff_err=d_eff_err, fit_d_bulk=fit_d_bulk, fit_d_eff=fit_d_eff, fit_edges=fit_edges,
            free_profile_wavelength_m=free_profile_wavelength_m, psf_sigma_m=psf_sigma_m,
            bulk_activation_ev=bulk_activation_ev, gb_activation_ev=gb_activation_ev, gb_width_m=gb_width_m,
            min_counts=min_counts, max_factor=max_factor, geometry_check=geometry_check,
            compare_per_boundary=compare_per_boundary,
        )


def _fit(
    i6, i7, boundary_mask, pixel_size, history, *, d_bulk, d_eff, d_bulk_err, d_eff_err, fit_d_bulk, fit_d_eff,
    fit_edges, free_profile_wavelength_m, psf_sigma_m, bulk_activation_ev, gb_activation_ev, gb_width_m,
    min_counts, max_factor, geometry_check, compare_per_boundary,
) -> WholeMapFit:
    started = time.perf_counter()
    i6, i7, h, boundaries = _check_map(i6, i7, boundary_mask, pixel_size)
    d_bulk, d_eff = _check_values(history, d_bulk, d_eff, d_bulk_err, d_eff_err, max_factor, free_profile_wavelength_m)
    if boundaries.classes == 0:
        raise MapFitRefused("the boundary map has no boundary: without steps there is nothing to fit")
    counts = i6 + i7
    used = np.isfinite(counts) & (counts >= max(min_counts, 1.0))
    if used.sum() < _MIN_PIXELS:
        raise MapFitRefused(f"only {int(used.sum())} pixels have >= {min_counts:g} counts (need {_MIN_PIXELS})")

    k_start = 1.0 / (boundaries.mean_spacing_m(h) * (1.0 / d_eff - 1.0 / d_bulk))  # the series model
    settings = dict(
        d_bulk_guess_m2_per_s=d_bulk, k_guess_m_per_s=k_start, bulk_activation_ev=bulk_activation_ev,
        gb_activation_ev=gb_activation_ev, psf_sigma_m=psf_sigma_m,
    )
    model = WholeMapModel(boundaries, h, history, **settings)
    i6, i7 = np.nan_to_num(i6), np.nan_to_num(i7)
    geometry = None
    if geometry_check and boundaries.normals_estimated:
        turned = WholeMapModel(boundaries.with_short_boundaries_unrotated(), h, history, **settings)
        geometry = _geometry_response(model, turned, k_start, d_bulk, d_eff)
    width = boundaries.shape[1] * h
    modes = 0 if free_profile_wavelength_m is None else int(2.0 * width / free_profile_wavelength_m)
    layout = ParameterLayout(
        (tuple(range(boundaries.classes)),), (k_start,), d_bulk, d_eff, fit_d_bulk=fit_d_bulk, fit_d_eff=fit_d_eff,
        fit_edges=fit_edges, macro_modes=modes, geometry=geometry is not None, d_bulk_err=d_bulk_err, d_eff_err=d_eff_err,
    )
    likelihood = MapLikelihood(model, i6, i7, used, layout, geometry)
    max_log = math.log(max_factor)
    best = maximise(likelihood, np.zeros(layout.size))
    deviance = likelihood.deviance(best)
    value = k_start * math.exp(best[0])
    lower, upper = profile_interval(likelihood, best, 0, deviance, max_log, lambda t: k_start * math.exp(t))
    lower, upper = k_start * math.exp(lower), k_start * math.exp(upper)
    statistical = 0.5 * (upper - lower)
    scale = None if (d_bulk_err is None or fit_d_bulk) else value * d_bulk_err
    total = math.hypot(statistical, scale or 0.0)
    mix = mix_err = None
    if geometry is not None:
        mix, mix_err = float(likelihood.linear(best)[-1]), float(likelihood.linear_errors(best)[-1])

    classes, class_test = (), None
    final, final_likelihood = best, likelihood
    if boundaries.classes > 1:
        classes, class_test, final, final_likelihood = _fit_classes(likelihood, best, deviance, max_log)
    values = final_likelihood.layout.unpack(final, model.classes)
    state = model.frozen_state(values)
    linear = final_likelihood.linear(final)
    pearson = final_likelihood.pearson(final)
    dof = final_likelihood.pixels - final_likelihood.layout.size - final_likelihood.layout.linear_size
    per_boundary = _per_boundary(i6, i7, boundaries, h, values.d_bulk_m2_per_s, gb_width_m) if compare_per_boundary else None
    relative = nuisance_errors(likelihood, best)
    result = WholeMapFit(
        d_gb_over_width=value,
        d_gb_over_width_err=total,
        statistical_err=statistical,
        d_bulk_scale_err=scale,
        geometry_mix=mix,
        geometry_mix_err=mix_err,
        lower=lower,
        upper=upper,
        d_gb=None if gb_width_m is None else value * gb_width_m,
        d_gb_err=None if gb_width_m is None else total * gb_width_m,
        classes=classes,
        class_test_chi2=class_test,
        d_bulk=values.d_bulk_m2_per_s,
        d_bulk_err=_absolute(values.d_bulk_m2_per_s, relative.get("ln_d_bulk", d_bulk_err)),
        d_eff=values.d_eff_m2_per_s,
        d_eff_err=_absolute(values.d_eff_m2_per_s, relative.get("ln_d_eff", d_eff_err)),
        edge_offsets=(float(linear[0]), float(linear[1])) if fit_edges else None,
        profile_modes=modes,
        reference_temperature_k=history.reference_temperature_k,
        bulk_activation_ev=float(bulk_activation_ev),
        gb_activation_ev=float(gb_activation_ev),
        frozen_ratio=state.ratio,
        window_conductance=state.conductance,
        grain_scale_activity=state.activity,
        reduced_chi2=float(pearson @ pearson / dof),
        deviance=float(final_likelihood.deviance(final)),
        degrees_of_freedom=int(dof),
        pixels=final_likelihood.pixels,
        mean_counts=float(counts[used].mean()),
        evaluations=likelihood.evaluations + (final_likelihood.evaluations if final_likelihood is not likelihood else 0),
        elapsed_s=time.perf_counter() - started,
        per_boundary=per_boundary,
        per_boundary_median=None if per_boundary is None else per_boundary.median_m_per_s,
        expected_fraction=final_likelihood.expected(final),
        used=used,
        methods=describe_methods(layout, history.isothermal, boundaries.classes, per_boundary is not None),
        method=(
            f"whole-map maximum likelihood (binomial counts, {final_likelihood.pixels} pixels) of a quasi-static "
            f"thin-interface finite-volume model on {boundaries.source}, driven by the long-range profile through "
            f"{len(history.segments)} history segments; 68 % profile-likelihood interval"
        ),
    )
    log.info(
        "whole-map fit: D_gb/delta = %.3g +- %.2g m/s (statistical %.2g), reduced chi2 %.3f, %d evaluations, %.1f s",
        value, total, statistical, result.reduced_chi2, result.evaluations, result.elapsed_s,
    )
    return result


def _fit_classes(shared_likelihood: MapLikelihood, shared_best: np.ndarray, shared_deviance: float, max_log: float):
    """Refit with one D_gb/delta per class; return (estimates, deviance gain, parameters, likelihood)."""
    shared = shared_likelihood.layout
    model = shared_likelihood.model
    classes = model.classes
    k_shared = shared.k_start_m_per_s[0] * math.exp(shared_best[0])
    layout = ParameterLayout(
        tuple((c,) for c in range(classes)), (k_shared,) * classes, shared.d_bulk_m2_per_s, shared.d_eff_m2_per_s,
        fit_d_bulk=shared.fit_d_bulk, fit_d_eff=shared.fit_d_eff, fit_edges=shared.fit_edges,
        macro_modes=shared.macro_modes, geometry=shared.geometry, d_bulk_err=shared.d_bulk_err,
        d_eff_err=shared.d_eff_err,
    )
    likelihood = shared_likelihood.with_layout(layout)
    best = maximise(likelihood, np.concatenate([np.zeros(classes), shared_best[1:]]))
    deviance = likelihood.deviance(best)
    faces = model.boundaries.face_counts
    estimates = []
    for c in range(classes):
        lower, upper = profile_interval(likelihood, best, c, deviance, max_log, lambda t: k_shared * math.exp(t))
        low, high = k_shared * math.exp(lower), k_shared * math.exp(upper)
        estimates.append(ClassEstimate(
            c, int(faces[c]), k_shared * math.exp(best[c]), 0.5 * (high - low), low, high,
            "maximum likelihood per class, the other classes refitted; 68 % profile-likelihood interval",
        ))
    return tuple(estimates), float(shared_deviance - deviance), best, likelihood


def _geometry_response(model: WholeMapModel, other: WholeMapModel, k: float, d_bulk: float, d_eff: float) -> np.ndarray:
    """Return how the image changes when short boundaries turn from their chords to their faces' axes."""
    values = MapDiffusivities((k,) * model.classes, d_bulk, d_eff)
    base = model.expected(values)
    other.window.adopt_factorisations(model.window)
    return other.expected(values) - base


def _per_boundary(i6, i7, boundaries: BoundaryMap, h: float, d_bulk: float, gb_width_m):
    """The per-boundary method on the same map and boundaries (gradient mode, as published)."""
    fraction = isotope_fraction(i6, i7)
    analysis = grain_boundary_diffusivities(
        fraction.fraction, fraction.sigma, (h, h), d_bulk, boundaries=boundaries.labels, gb_width_m=gb_width_m
    )
    return analysis.distribution


def _check_map(i6, i7, boundary_mask, pixel_size):
    i6 = float_array(_SOURCE, "i6", i6, ndim=2)
    i7 = float_array(_SOURCE, "i7", i7, ndim=2)
    same_shape(_SOURCE, i6=i6, i7=i7)
    for name, counts in (("i6", i6), ("i7", i7)):
        if np.any(counts[np.isfinite(counts)] < 0):
            raise ValidationError(_SOURCE, name, "negative counts", "counts >= 0")
    sizes = np.atleast_1d(positive(_SOURCE, "pixel_size", pixel_size)).ravel()
    if sizes.size not in (1, 2) or (sizes.size == 2 and not math.isclose(sizes[0], sizes[1], rel_tol=1e-6)):
        raise ValidationError(_SOURCE, "pixel_size", pixel_size, "one side in m, or (x, y) equal: square pixels")
    if isinstance(boundary_mask, BoundaryMap):
        boundaries = boundary_mask
    else:
        mask = np.asarray(boundary_mask)
        if mask.shape != i6.shape:
            raise ValidationError(_SOURCE, "boundary_mask", f"shape {mask.shape}", f"the map's shape {i6.shape}")
        with np.errstate(invalid="ignore", divide="ignore"):
            boundaries = BoundaryMap.from_mask(mask, fraction=i6 / (i6 + i7))
    if boundaries.shape != i6.shape:
        raise ValidationError(_SOURCE, "boundary_mask", f"shape {boundaries.shape}", f"the map's shape {i6.shape}")
    return i6, i7, float(sizes[0]), boundaries


def _check_values(history, d_bulk, d_eff, d_bulk_err, d_eff_err, max_factor, wavelength) -> tuple[float, float]:
    if not isinstance(history, DiffusionHistory):
        raise ValidationError(_SOURCE, "history", type(history).__name__, "a DiffusionHistory")
    d_bulk = float(positive(_SOURCE, "d_bulk", d_bulk))
    d_eff = float(positive(_SOURCE, "d_eff", d_eff))
    if not d_eff < d_bulk:
        raise ValidationError(_SOURCE, "d_eff", d_eff, f"below d_bulk ({d_bulk:.3g} m^2/s): boundaries only slow the tracer")
    for name, err in (("d_bulk_err", d_bulk_err), ("d_eff_err", d_eff_err)):
        if err is not None and not 0 < err <= 10:
            raise ValidationError(_SOURCE, name, err, "a relative error in (0, 10]")
    if not max_factor > 1:
        raise ValidationError(_SOURCE, "max_factor", max_factor, "> 1")
    if wavelength is not None and not wavelength > 0:
        raise ValidationError(_SOURCE, "free_profile_wavelength_m", wavelength, "> 0 m, or None")
    return d_bulk, d_eff


def _absolute(value: float, relative: float | None) -> float | None:
    return None if relative is None else value * relative
