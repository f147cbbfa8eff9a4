"""D_eff from the time evolution of a profile in a closed sample (storage or anneal, no source).

Between two measured profiles the 6Li redistributes by 1D diffusion with zero flux at both
sample ends (the total 6Li is conserved). The earlier profile is evolved numerically and the
later one fitted (shared/physics.md: more accurate than the erfc fit during exchange).

What a pair of profiles can tell (identifiability): with D_eff uniform in space and varying
only with temperature in time, dC/dt = D(t) d2C/dx2 becomes dC/dtau = d2C/dx2 with the
diffusion dose tau = integral of D_eff(T(t)) dt (m^2). The two profiles therefore fix tau
and nothing else, whatever the thermal history's shape. D_eff at a reference temperature
follows as tau / t_eq, where the equivalent time t_eq = integral of exp(-Ea/kB (1/T - 1/T_ref)) dt
needs the activation energy Ea from elsewhere (Ea = 0: plain duration, isothermal step).
Ea itself needs several steps at different temperatures: fit their doses together with
``fit_arrhenius_from_doses`` (or their isothermal D_eff with ``fit_arrhenius``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import OptimizeResult, least_squares

from simslab.errors import ValidationError
from simslab.physics.diffusion_1d import Diffusion1D
from simslab.physics.diffusion_laws import BOLTZMANN_EV_PER_K

from .fit_covariance import covariance_from_jacobian, fit_covariance
from .input_checks import float_array, positive, same_shape
from .results import AnalysisResult

__all__ = [
    "ClosedSystemFit",
    "DoseArrheniusFit",
    "fit_closed_system_diffusivity",
    "equivalent_time_s",
    "fit_arrhenius_from_doses",
]

log = logging.getLogger(__name__)

_SOURCE = "fit_closed_system_diffusivity"
_DOSE_STEPS = 24  # equal steps of the forward model (see _ClosedSample)
_SUBSTEPS = 128  # per trace interval: exp(-Ea/kT) is far from linear between samples (0.01 % on a 22-200 C ramp)


@dataclasses.dataclass(frozen=True)
class ClosedSystemFit(AnalysisResult):
    """Fitted diffusion dose tau = integral of D_eff dt (m^2) and D_eff at ``reference_k`` (m^2/s).

    ``model_c``: the evolved earlier profile at the later profile's positions; ``history_*``:
    the thermal history used (kept so several steps can be fitted together for Ea).
    """

    dose_m2: float
    dose_err_m2: float
    d_eff_ref: float
    d_eff_ref_err: float
    reference_k: float
    activation_ev: float
    equivalent_time_s: float
    chi2_reduced: float
    points: int
    sample_length_m: float
    cells: int
    model_c: np.ndarray
    history_time_s: np.ndarray
    history_temperature_k: np.ndarray
    method: str


@dataclasses.dataclass(frozen=True)
class DoseArrheniusFit(AnalysisResult):
    """D_eff(T) = d_eff_ref * exp(-Ea/kB (1/T - 1/T_ref)) fitted to the doses of several steps."""

    d_eff_ref: float
    d_eff_ref_err: float
    activation_energy_ev: float
    activation_energy_err_ev: float
    correlation: float
    reference_k: float
    chi2_reduced: float
    steps: int
    method: str


def equivalent_time_s(time_s: ArrayLike, temperature_k: ArrayLike, activation_ev: float, reference_k: float) -> float:
    """Return t_eq = integral of exp(-Ea/kB (1/T - 1/T_ref)) dt over a temperature history, in s.

    time_s, temperature_k: samples of the history, linear between them (a hold at one
    temperature is its start and end; a jump is two samples at the same time).
    """
    time_s = float_array("equivalent_time_s", "time_s", time_s, ndim=1, finite=True)
    temperature_k = positive("equivalent_time_s", "temperature_k", temperature_k)
    same_shape("equivalent_time_s", time_s=time_s, temperature_k=temperature_k)
    if time_s.size < 2 or np.any(np.diff(time_s) < 0):
        raise ValidationError(
            "equivalent_time_s", "time_s", time_s.tolist()[:5], "at least 2 samples in non-decreasing time"
        )
    fractions = np.linspace(0.0, 1.0, _SUBSTEPS + 1)
    t = (time_s[:-1, None] + np.diff(time_s)[:, None] * fractions).ravel()
    temperature = (temperature_k[:-1, None] + np.diff(temperature_k)[:, None] * fractions).ravel()
    factor = np.exp(-activation_ev / BOLTZMANN_EV_PER_K * (1.0 / temperature - 1.0 / reference_k))
    return float(np.trapezoid(factor, t))


def fit_closed_system_diffusivity(
    x_initial_m: ArrayLike,
    c_initial: ArrayLike,
    x_final_m: ArrayLike,
    c_final: ArrayLike,
    *,
    time_s: ArrayLike,
    temperature_k: ArrayLike,
    activation_ev: float = 0.0,
    reference_k: float | None = None,
    sigma_final: ArrayLike | None = None,
    sigma_initial: ArrayLike | None = None,
    sample_length_m: float | None = None,
    cells: int | None = None,
) -> ClosedSystemFit:
    """Fit the diffusion dose that turns the earlier profile into the later one; return D_eff.

    x_*: positions in m from the immersed edge; c_*: 6Li fractions (sigma_*: their errors; the
    earlier profile's noise is propagated through the evolution when sigma_initial is given).
    time_s, temperature_k: the thermal history between the two profiles; activation_ev: Ea of
    D_eff to convert the dose to D_eff at ``reference_k`` (default: the history's mean
    temperature). sample_length_m: the sample from edge to edge (default: the end of the
    profiles); outside the earlier profile its end values are held. cells: grid cells.
    """
    x0 = float_array(_SOURCE, "x_initial_m", x_initial_m, ndim=1, finite=True)
    c0 = float_array(_SOURCE, "c_initial", c_initial, ndim=1, finite=True)
    x1 = float_array(_SOURCE, "x_final_m", x_final_m, ndim=1, finite=True)
    c1 = float_array(_SOURCE, "c_final", c_final, ndim=1)
    same_shape(_SOURCE, x_initial_m=x0, c_initial=c0)
    same_shape(_SOURCE, x_final_m=x1, c_final=c1)
    if x0.size < 3 or np.any(np.diff(x0) <= 0):
        raise ValidationError(_SOURCE, "x_initial_m", f"{x0.size} points", "at least 3 points in increasing x")
    history_t = float_array(_SOURCE, "time_s", time_s, ndim=1, finite=True)
    history_k = positive(_SOURCE, "temperature_k", temperature_k)
    reference_k = (
        float(np.mean(history_k)) if reference_k is None else float(positive(_SOURCE, "reference_k", reference_k))
    )
    t_eq = equivalent_time_s(history_t, history_k, activation_ev, reference_k)
    if not t_eq > 0:
        raise ValidationError(_SOURCE, "time_s", history_t.tolist()[:5], "a history of positive duration")
    length = float(
        max(x0.max(), x1.max()) if sample_length_m is None else positive(_SOURCE, "sample_length_m", sample_length_m)
    )
    if cells is None:
        cells = int(np.clip(np.ceil(length / np.median(np.diff(x0))), 50, 2000))
    sample = _ClosedSample(length, cells)
    start = np.interp(sample.centres_m, x0, c0)
    final_err = (
        np.ones_like(c1)
        if sigma_final is None
        else positive(_SOURCE, "sigma_final", np.broadcast_to(sigma_final, c1.shape)).copy()
    )
    use = np.isfinite(c1) & (x1 >= 0) & (x1 <= length)
    x1, c1, final_err = x1[use], c1[use], final_err[use]
    if x1.size < 2:
        raise ValidationError(_SOURCE, "x_final_m", f"{x1.size} usable points", "at least 2 points inside the sample")

    solution = _fit_log_dose(sample, start, x1, c1, final_err)
    covariance, chi2_reduced = fit_covariance(solution, x1.size, errors_given=sigma_final is not None)
    var_log_dose = float(covariance[0, 0]) if covariance.size else float("inf")
    if sigma_initial is not None:
        sigma0 = positive(_SOURCE, "sigma_initial", np.broadcast_to(sigma_initial, c0.shape))
        var_log_dose += _initial_noise_variance(sample, solution.jac[:, 0], final_err, x0, sigma0, solution.x[0], x1)
    dose = float(np.exp(solution.x[0]))
    dose_err = dose * float(np.sqrt(var_log_dose))
    model = np.interp(x1, sample.centres_m, sample.evolve(start, dose))
    log.debug("closed-system fit: dose %.3g m^2, t_eq %.3g s, chi2_red %.3g", dose, t_eq, chi2_reduced)
    return ClosedSystemFit(
        dose_m2=dose,
        dose_err_m2=dose_err,
        d_eff_ref=dose / t_eq,
        d_eff_ref_err=dose_err / t_eq,
        reference_k=reference_k,
        activation_ev=float(activation_ev),
        equivalent_time_s=t_eq,
        chi2_reduced=chi2_reduced,
        points=int(x1.size),
        sample_length_m=length,
        cells=cells,
        model_c=model,
        history_time_s=history_t,
        history_temperature_k=history_k,
        method=(
            "earlier profile evolved by 1D finite-volume diffusion with zero flux at both ends "
            f"({cells} cells, {_DOSE_STEPS} TR-BDF2 dose steps), dose fitted to the later profile; "
            f"D_eff = dose / t_eq with Ea = {activation_ev:g} eV"
        ),
    )


def fit_arrhenius_from_doses(fits: Sequence[ClosedSystemFit], reference_k: float) -> DoseArrheniusFit:
    """Fit D_eff at ``reference_k`` and Ea to the doses of several steps with different histories.

    Each step's dose is tau_k = D_ref * t_eq,k(Ea); the steps must span different
    temperatures for Ea to be defined.
    """
    if len(fits) < 2:
        raise ValidationError("fit_arrhenius_from_doses", "fits", len(fits), "at least two steps")
    doses = np.array([f.dose_m2 for f in fits])
    rel_err = np.array([f.dose_err_m2 / f.dose_m2 for f in fits])

    def residuals(p: np.ndarray) -> np.ndarray:
        ln_d_ref, ea = p
        t_eq = np.array([equivalent_time_s(f.history_time_s, f.history_temperature_k, ea, reference_k) for f in fits])
        return (ln_d_ref + np.log(t_eq) - np.log(doses)) / rel_err

    guess = [float(np.log(np.median([f.dose_m2 / f.equivalent_time_s for f in fits]))), 0.3]
    solution = least_squares(residuals, guess, x_scale="jac")
    covariance, chi2_reduced = covariance_from_jacobian(solution.jac, 2 * solution.cost, len(fits), errors_given=True)
    d_ref = float(np.exp(solution.x[0]))
    errors = np.sqrt(np.diag(covariance)) if covariance.shape == (2, 2) else np.full(2, np.nan)
    correlation = covariance[0, 1] / (errors[0] * errors[1]) if np.all(errors > 0) else float("nan")
    return DoseArrheniusFit(
        d_eff_ref=d_ref,
        d_eff_ref_err=d_ref * float(errors[0]),
        activation_energy_ev=float(solution.x[1]),
        activation_energy_err_ev=float(errors[1]),
        correlation=float(correlation),
        reference_k=float(reference_k),
        chi2_reduced=chi2_reduced,
        steps=len(fits),
        method="least squares of ln(dose) = ln D_ref + ln t_eq(Ea) over steps, weighted by the dose errors",
    )


class _ClosedSample:
    """The forward model: simslab.physics' finite-volume solver with zero flux at both ends.

    D_eff is uniform, so only the dose matters: the solver runs at D = 1 m^2/s for ``dose``
    seconds in equal steps. TR-BDF2 is second order: 24 steps bias a fitted dose by ~1e-4
    relative (measured against the exact cosine-mode solution), far below counting errors.
    On equal cells each step is a symmetric function of the symmetric Laplacian, so the
    whole evolution G is symmetric and ``evolve`` also applies G^T (error propagation).
    """

    def __init__(self, length_m: float, cells: int):
        self.solver = Diffusion1D(np.linspace(0.0, length_m, cells + 1))
        self.centres_m = self.solver.centres_m

    def evolve(self, c: np.ndarray, dose_m2: float) -> np.ndarray:
        for _ in range(_DOSE_STEPS):
            c = self.solver.step(c, dose_m2 / _DOSE_STEPS, 1.0)
        return c


def _residuals(sample: _ClosedSample, log_dose, start, x1, c1, err) -> np.ndarray:
    evolved = sample.evolve(start, float(np.exp(log_dose)))
    return (np.interp(x1, sample.centres_m, evolved) - c1) / err


def _fit_log_dose(sample: _ClosedSample, start, x1, c1, err) -> OptimizeResult:
    """Fit ln(dose): a coarse scan over its whole range first (chi-square is flat far from the answer)."""
    width = sample.solver.widths_m[0]
    length = sample.solver.faces_m[-1]
    trial = np.linspace(np.log((0.1 * width) ** 2), np.log(length**2), 30)
    chi2 = [np.sum(_residuals(sample, p, start, x1, c1, err) ** 2) for p in trial]
    guess = float(trial[int(np.argmin(chi2))])
    return least_squares(lambda p: _residuals(sample, p[0], start, x1, c1, err), [guess], x_scale="jac")


def _initial_noise_variance(sample: _ClosedSample, jac, final_err, x0, sigma0, log_dose, x1) -> float:
    """Return the variance of ln(dose) caused by the noise of the earlier profile.

    Smoothed by the evolution, that noise becomes errors correlated over a diffusion length
    in the prediction, so it is propagated to the fitted parameter directly (first order):
    d ln(dose)/d c0 = -(J^T J)^-1 J^T diag(1/sigma) W G P, with P the interpolation of the
    earlier points onto the cells, G the (symmetric) evolution, W the interpolation to x1.
    """
    sensitivity = (jac / final_err) / float(jac @ jac)
    on_cells = _interpolation_transpose(sample.centres_m, x1, sensitivity)
    evolved = sample.evolve(on_cells, float(np.exp(log_dose)))
    on_points = _interpolation_transpose(x0, sample.centres_m, evolved)
    return float(np.sum((on_points * sigma0) ** 2))


def _interpolation_transpose(grid: np.ndarray, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return W^T values, where W interpolates linearly from ``grid`` to ``at`` (ends held)."""
    right = np.clip(np.searchsorted(grid, at), 1, grid.size - 1)
    left = right - 1
    weight_right = np.clip((at - grid[left]) / (grid[right] - grid[left]), 0.0, 1.0)
    result = np.zeros(grid.size)
    np.add.at(result, left, values * (1.0 - weight_right))
    np.add.at(result, right, values * weight_right)
    return result
