"""D_gb/delta from every pixel of a map: maximum likelihood of a 2D forward model against the counts.

The published analysis takes D_gb/delta from one line profile across one boundary; at
realistic counts the bulk gradient next to one boundary is far below a pixel's noise, so
single-boundary values scatter by large factors. Here the forward model
(:mod:`.whole_map_model`: thin-interface finite volumes on the map's own boundaries, driven
by the long-range profile through the run's recorded history) predicts C in every pixel, and
the binomial likelihood of all I6/I7 counts (:mod:`.whole_map_likelihood`) is maximised.

What the map tells (identifiability): the window's macroscopic profile evolves with the
window's own conductance D_w (its grains and boundaries) between edges that follow the
long-range profile (D_eff); the pattern of steps and in-grain gradients depends on
k h / D_bulk. With D_bulk given, both fix k = D_gb/delta; D_eff and D_bulk may be fitted as
nuisance parameters, constrained by their stated errors. Every value refers to the history's
reference temperature (:mod:`.whole_map_history`).

Errors: the 68 % interval where the profile deviance (nuisance parameters refitted) rises by
1 over its minimum. The fit refuses (:class:`MapFitRefused`) when the map has no boundary,
too few counted pixels, or a profile that does not rise by 1 within ``max_factor`` of the best
value on either side (the counts cannot constrain D_gb/delta).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import least_squares

from simslab.errors import ValidationError

from .grain_boundary import grain_boundary_diffusivities
from .input_checks import float_array, positive, same_shape
from .isotope_map import isotope_fraction
from .whole_map_geometry import BoundaryMap
from .whole_map_history import DiffusionHistory
from .whole_map_likelihood import MapLikelihood, ParameterLayout
from .whole_map_model import WholeMapModel
from .whole_map_results import ClassEstimate, MapFitRefused, WholeMapFit

__all__ = ["fit_gb_map", "WholeMapFit", "MapFitRefused"]

log = logging.getLogger(__name__)

_SOURCE = "fit_gb_map"
_MIN_PIXELS = 100
_DIFF_STEP = 1e-3  # finite-difference step of the log parameters (0.1 %)
_PROFILE_TOLERANCE = 0.05  # accept |delta deviance - 1| below this


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
    fit_d_eff: bool = True,
    fit_edges: bool = False,
    macro_modes: int = 0,
    psf_sigma_m: float = 0.0,
    bulk_activation_ev: float = 0.30,
    gb_activation_ev: float = 0.43,
    gb_width_m: float | None = None,
    min_counts: float = 1.0,
    max_factor: float = 10.0,
    compare_per_boundary: bool = True,
) -> WholeMapFit:
    """Fit D_gb/delta (m/s, at the history's reference temperature) to every pixel of a map.

    i6, i7: counts of 6Li+ and 7Li+ (ny, nx); boundary_mask: boolean mask of boundary pixels
    (e.g. the registered etched optical image) or a :class:`BoundaryMap` (labels, classes);
    pixel_size: square pixel side in m (or (x, y), equal); history: the run's history and the
    window's place. d_bulk, d_eff: D_bulk (NMR) and the long-range D_eff at the reference
    temperature, m^2/s; *_err: their relative errors, constraining them when fitted
    (fit_d_bulk, fit_d_eff); fit_edges: also fit offsets of the window's edge values.
    psf_sigma_m: the primary beam's Gaussian spot; activation energies (eV) scale values to
    other temperatures of the history (irrelevant when it is isothermal); gb_width_m: delta, to
    report D_gb too. Pixels with fewer than ``min_counts`` are left out. A boundary map with
    several classes also gets one value per class. Takes ~5-30 s for a 512 x 206 map.
    """
    started = time.perf_counter()
    i6 = float_array(_SOURCE, "i6", i6, ndim=2)
    i7 = float_array(_SOURCE, "i7", i7, ndim=2)
    same_shape(_SOURCE, i6=i6, i7=i7)
    for name, counts in (("i6", i6), ("i7", i7)):
        if np.any(counts[np.isfinite(counts)] < 0):
            raise ValidationError(_SOURCE, name, "negative counts", "counts >= 0")
    h = _square_pixel(pixel_size)
    boundaries = boundary_mask if isinstance(boundary_mask, BoundaryMap) else BoundaryMap.from_mask(boundary_mask)
    if boundaries.shape != i6.shape:
        raise ValidationError(_SOURCE, "boundary_mask", f"shape {boundaries.shape}", f"the map's shape {i6.shape}")
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
    if boundaries.classes == 0:
        raise MapFitRefused("the boundary map has no boundary: without steps there is nothing to fit")

    counts = i6 + i7
    used = np.isfinite(counts) & (counts >= max(min_counts, 1.0))
    if used.sum() < _MIN_PIXELS:
        raise MapFitRefused(f"only {int(used.sum())} pixels have >= {min_counts:g} counts (need {_MIN_PIXELS})")
    model = WholeMapModel(
        boundaries, h, history, d_bulk_guess_m2_per_s=d_bulk, bulk_activation_ev=bulk_activation_ev,
        gb_activation_ev=gb_activation_ev, psf_sigma_m=psf_sigma_m,
    )
    k_start = 1.0 / (boundaries.mean_spacing_m(h) * (1.0 / d_eff - 1.0 / d_bulk))  # series model
    shared = ParameterLayout(
        (tuple(range(boundaries.classes)),), (k_start,), d_bulk, d_eff,
        fit_d_bulk=fit_d_bulk, fit_d_eff=fit_d_eff, fit_edges=fit_edges, macro_modes=macro_modes,
        d_bulk_err=d_bulk_err, d_eff_err=d_eff_err,
    )
    likelihood = MapLikelihood(model, np.nan_to_num(i6), np.nan_to_num(i7), used, shared)
    best = _maximise(likelihood, np.zeros(shared.size))
    deviance = likelihood.deviance(best)
    lower, upper = _profile_interval(likelihood, best, 0, deviance, math.log(max_factor))
    value = k_start * math.exp(best[0])
    interval = (k_start * math.exp(lower), k_start * math.exp(upper))

    classes, class_test = (), None
    final, final_likelihood = best, likelihood
    if boundaries.classes > 1:
        classes, class_test, final, final_likelihood = _fit_classes(model, likelihood, shared, best, deviance, max_factor)
    values = final_likelihood.layout.unpack(final, model.classes)
    _, state = model.field(values)
    linear = final_likelihood.linear(final)
    edges = (float(linear[0]), float(linear[1])) if fit_edges else None
    expected = final_likelihood.expected(final)
    pearson = final_likelihood.pearson(final)
    dof = final_likelihood.pixels - final_likelihood.layout.size - final_likelihood.layout.linear_size
    per_boundary = None
    if compare_per_boundary:
        per_boundary = _per_boundary(i6, i7, boundaries, h, values.d_bulk_m2_per_s, gb_width_m)
    nuisance = _nuisance_errors(likelihood, best)
    result = WholeMapFit(
        d_gb_over_width=value,
        d_gb_over_width_err=0.5 * (interval[1] - interval[0]),
        lower=interval[0],
        upper=interval[1],
        d_gb=None if gb_width_m is None else value * gb_width_m,
        d_gb_err=None if gb_width_m is None else 0.5 * (interval[1] - interval[0]) * gb_width_m,
        classes=classes,
        class_test_chi2=class_test,
        d_bulk=values.d_bulk_m2_per_s,
        d_bulk_err=nuisance.get("ln_d_bulk", d_bulk_err) and values.d_bulk_m2_per_s * nuisance.get("ln_d_bulk", d_bulk_err),
        d_eff=values.d_eff_m2_per_s,
        d_eff_err=nuisance.get("ln_d_eff", d_eff_err) and values.d_eff_m2_per_s * nuisance.get("ln_d_eff", d_eff_err),
        edge_offsets=edges,
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
        expected_fraction=expected,
        used=used,
        methods=_methods(shared, history, boundaries, per_boundary is not None),
        method=(
            f"whole-map maximum likelihood (binomial counts, {final_likelihood.pixels} pixels) of a quasi-static "
            f"thin-interface finite-volume model on {boundaries.source}, driven by the long-range profile through "
            f"{len(history.segments)} history segments; 68 % profile-likelihood interval"
        ),
    )
    log.info(
        "whole-map fit: D_gb/delta = %.3g (%.3g..%.3g) m/s, reduced chi2 %.3f, %d evaluations, %.1f s",
        value, interval[0], interval[1], result.reduced_chi2, result.evaluations, result.elapsed_s,
    )
    return result


# --- the fit ----------------------------------------------------------------------------------


def _maximise(likelihood: MapLikelihood, start: np.ndarray, fixed: dict[int, float] | None = None) -> np.ndarray:
    """Return the packed parameters of maximum likelihood (``fixed``: index -> held value)."""
    fixed = fixed or {}
    free = [i for i in range(start.size) if i not in fixed]
    theta = start.copy()
    for i, v in fixed.items():
        theta[i] = v
    if not free:
        return theta

    def residuals(sub: np.ndarray) -> np.ndarray:
        full = theta.copy()
        full[free] = sub
        return likelihood.residuals(full)

    def jacobian(sub: np.ndarray) -> np.ndarray:
        # forward differences with a fixed step in the log parameters (least_squares' own
        # relative step degenerates at 0, where every parameter starts)
        base = residuals(sub)
        columns = []
        for i in range(sub.size):
            probe = sub.copy()
            probe[i] += _DIFF_STEP
            columns.append((residuals(probe) - base) / _DIFF_STEP)
        return np.column_stack(columns)

    solution = least_squares(
        residuals, theta[free], jac=jacobian, method="trf", x_scale=np.full(len(free), 0.1),
        xtol=1e-6, ftol=1e-10, gtol=1e-10, max_nfev=60,
    )
    theta[free] = solution.x
    return theta


def _profile_interval(likelihood: MapLikelihood, best: np.ndarray, index: int, deviance: float, max_log: float) -> tuple[float, float]:
    """Return (lower, upper) of parameter ``index`` where the profile deviance rises by 1."""
    sigma = _curvature_sigma(likelihood, best, index, deviance)
    bounds = []
    for sign in (1.0, -1.0):
        step = sign * min(sigma, 0.5 * max_log)
        start = best
        rise = 0.0
        for _ in range(8):
            start = _maximise(likelihood, start, {index: best[index] + step})
            rise = likelihood.deviance(start) - deviance
            if abs(rise - 1.0) < _PROFILE_TOLERANCE:
                break
            if rise <= 0.0:
                new = 2.0 * step  # flat or better: the best point was not the minimum; widen
            else:
                new = step / math.sqrt(rise)  # exact for a parabola
                new = float(np.clip(new, step / 3.0, 3.0 * step) if sign > 0 else np.clip(new, 3.0 * step, step / 3.0))
            if abs(new) > max_log:
                if abs(step) >= max_log:
                    break
                new = sign * max_log
            step = new
        if rise < 1.0 - _PROFILE_TOLERANCE:
            side = "upper" if sign > 0 else "lower"
            raise MapFitRefused(
                f"the map cannot constrain D_gb/delta: the profile likelihood stays within 1 of its best up to a "
                f"factor {math.exp(max_log):g} on the {side} side (too few counts or steps)",
            )
        bounds.append(best[index] + step)
    return bounds[1], bounds[0]


def _curvature_sigma(likelihood: MapLikelihood, best: np.ndarray, index: int, deviance: float) -> float:
    """Return a first guess of the parameter's error from the deviance at +-0.05 (others held)."""
    h = 0.05
    probe = best.copy()
    probe[index] += h
    up = likelihood.deviance(probe) - deviance
    probe[index] -= 2 * h
    down = likelihood.deviance(probe) - deviance
    curvature = (up + down) / h**2
    return float(math.sqrt(2.0 / curvature)) if curvature > 0 else 0.5


def _nuisance_errors(likelihood: MapLikelihood, best: np.ndarray) -> dict[str, float]:
    """Return the Gauss-Newton relative errors of the fitted nuisance parameters (ln D_bulk, ln D_eff)."""
    names = likelihood.layout.names
    wanted = [i for i, n in enumerate(names) if n in ("ln_d_bulk", "ln_d_eff")]
    if not wanted:
        return {}
    r0 = likelihood.residuals(best)
    jac = np.empty((r0.size, best.size))
    for i in range(best.size):
        probe = best.copy()
        probe[i] += _DIFF_STEP
        jac[:, i] = (likelihood.residuals(probe) - r0) / _DIFF_STEP
    covariance = np.linalg.pinv(jac.T @ jac)
    return {names[i]: float(math.sqrt(max(covariance[i, i], 0.0))) for i in wanted}


def _fit_classes(model, shared_likelihood, shared: ParameterLayout, shared_best, shared_deviance, max_factor):
    """Refit with one D_gb/delta per class; return (estimates, deviance gain, parameters, likelihood)."""
    classes = model.classes
    k_shared = shared.k_start_m_per_s[0] * math.exp(shared_best[0])
    layout = ParameterLayout(
        tuple((c,) for c in range(classes)), (k_shared,) * classes, shared.d_bulk_m2_per_s, shared.d_eff_m2_per_s,
        fit_d_bulk=shared.fit_d_bulk, fit_d_eff=shared.fit_d_eff, fit_edges=shared.fit_edges,
        macro_modes=shared.macro_modes, d_bulk_err=shared.d_bulk_err, d_eff_err=shared.d_eff_err,
    )
    likelihood = shared_likelihood.with_layout(layout)
    start = np.concatenate([np.zeros(classes), shared_best[1:]])
    best = _maximise(likelihood, start)
    deviance = likelihood.deviance(best)
    faces = model.boundaries.face_counts
    estimates = []
    for c in range(classes):
        lower, upper = _profile_interval(likelihood, best, c, deviance, math.log(max_factor))
        value = k_shared * math.exp(best[c])
        low, high = k_shared * math.exp(lower), k_shared * math.exp(upper)
        estimates.append(ClassEstimate(c, int(faces[c]), value, 0.5 * (high - low), low, high,
                                       "maximum likelihood per class; 68 % profile-likelihood interval"))
    return tuple(estimates), float(shared_deviance - deviance), best, likelihood


def _per_boundary(i6, i7, boundaries: BoundaryMap, h: float, d_bulk: float, gb_width_m):
    """The per-boundary method on the same map and boundaries (gradient mode, as published)."""
    fraction = isotope_fraction(np.nan_to_num(i6), np.nan_to_num(i7))
    analysis = grain_boundary_diffusivities(
        fraction.fraction, fraction.sigma, (h, h), d_bulk, boundaries=boundaries.labels, gb_width_m=gb_width_m
    )
    return analysis.distribution


def _methods(layout: ParameterLayout, history: DiffusionHistory, boundaries: BoundaryMap, compared: bool) -> dict[str, str]:
    def nuisance(fitted: bool, err) -> str:
        if not fitted:
            return "given (held fixed)"
        return "maximum likelihood, " + ("unconstrained" if err is None else f"Gaussian constraint {err:.0%} on the given value")

    methods = {
        "d_gb_over_width": "maximum likelihood of all pixels' binomial counts (one value for every boundary)",
        "d_gb_over_width_err": "half-width of the 68 % profile-likelihood interval (deviance + 1, nuisance refitted)",
        "lower": "profile likelihood, deviance + 1", "upper": "profile likelihood, deviance + 1",
        "d_bulk": nuisance(layout.fit_d_bulk, layout.d_bulk_err),
        "d_eff": nuisance(layout.fit_d_eff, layout.d_eff_err),
        "edge_offsets": "maximum likelihood" if layout.fit_edges else "not fitted",
        "reduced_chi2": "Pearson chi-square of the I6 counts given N per degree of freedom",
        "frozen_ratio": "k h / D_bulk where the grain-scale structure froze (survival-weighted over the history)",
        "window_conductance": "D_w / D_bulk of the window's own grains (steady 2D solve)",
        "temperature": "isothermal history" if history.isothermal else "values at the reference temperature via the activation energies",
    }
    if boundaries.classes > 1:
        methods["classes"] = "maximum likelihood per boundary class, 68 % profile-likelihood intervals"
        methods["class_test_chi2"] = "deviance of one shared value minus that of one value per class"
    if compared:
        methods["per_boundary_median"] = "median over 'ok' boundaries of grain_boundary_diffusivities (gradient mode)"
    return methods


def _square_pixel(pixel_size) -> float:
    sizes = np.atleast_1d(positive(_SOURCE, "pixel_size", pixel_size)).ravel()
    if sizes.size not in (1, 2) or (sizes.size == 2 and not math.isclose(sizes[0], sizes[1], rel_tol=1e-6)):
        raise ValidationError(_SOURCE, "pixel_size", pixel_size, "one side in m, or (x, y) equal: square pixels")
    return float(sizes[0])
