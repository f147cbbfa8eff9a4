"""Arrhenius fit: D = D0 exp(-Ea / (kB T)) through measured diffusivities.

A straight line in ln D against 1/(kB T), weighted by the relative errors of D when given.
Ea and ln D0 are strongly correlated (the fit pivots about the middle of the 1/T range):
the result keeps their covariance so that D predicted at another temperature carries the
right error.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from simslab.errors import ValidationError
from simslab.physics.diffusion_laws import BOLTZMANN_EV_PER_K, arrhenius

from .fit_covariance import covariance_from_jacobian
from .input_checks import positive, same_shape
from .results import AnalysisResult

__all__ = ["ArrheniusFit", "fit_arrhenius"]


@dataclasses.dataclass(frozen=True)
class ArrheniusFit(AnalysisResult):
    """Ea in eV and D0 in the unit of the fitted D (m^2/s for SI input), with 1-sigma errors.

    ``ln_prefactor_err`` and ``correlation`` (of Ea with ln D0) describe the error ellipse;
    ``prefactor_err`` is D0 * ln_prefactor_err (a linearisation: D0's error is log-normal).
    """

    activation_energy_ev: float
    activation_energy_err_ev: float
    prefactor: float
    prefactor_err: float
    ln_prefactor_err: float
    correlation: float
    chi2_reduced: float
    points: int
    temperature_range_k: tuple[float, float]
    method: str

    def predict(self, temperature_k: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Return D at ``temperature_k`` and its 1-sigma error from the fit's covariance."""
        x = 1.0 / (BOLTZMANN_EV_PER_K * np.asarray(temperature_k, dtype=float))
        d = arrhenius(self.prefactor, self.activation_energy_ev, temperature_k)
        var_ln = (
            self.ln_prefactor_err**2
            + (x * self.activation_energy_err_ev) ** 2
            - 2.0 * x * self.correlation * self.ln_prefactor_err * self.activation_energy_err_ev
        )
        return d, d * np.sqrt(np.maximum(var_ln, 0.0))


def fit_arrhenius(temperature_k: ArrayLike, d: ArrayLike, d_err: ArrayLike | None = None) -> ArrheniusFit:
    """Fit ln D = ln D0 - Ea / (kB T); return Ea (eV) and D0 (unit of d) with errors.

    temperature_k: K; d: diffusivities (> 0, any one unit); d_err: their 1-sigma errors
    (weights 1/(d_err/d)^2; without them the scatter about the line sets the errors, which
    needs at least three points).
    """
    temperature_k = positive("fit_arrhenius", "temperature_k", temperature_k).ravel()
    d = positive("fit_arrhenius", "d", d).ravel()
    same_shape("fit_arrhenius", temperature_k=temperature_k, d=d)
    if temperature_k.size < 2 or np.ptp(temperature_k) == 0:
        raise ValidationError(
            "fit_arrhenius", "temperature_k", temperature_k.tolist(), "at least two different temperatures"
        )
    if d_err is None:
        weights = np.ones_like(d)
    else:
        d_err = positive("fit_arrhenius", "d_err", np.broadcast_to(d_err, d.shape)).ravel()
        weights = d / d_err
    x = 1.0 / (BOLTZMANN_EV_PER_K * temperature_k)
    y = np.log(d)
    # Centre x so the two columns are nearly orthogonal; convert back afterwards.
    x_mid = float(np.average(x, weights=weights**2))
    design = np.column_stack([np.ones_like(x), -(x - x_mid)]) * weights[:, None]
    coefficients, *_ = np.linalg.lstsq(design, y * weights, rcond=None)
    chi2 = float(np.sum((design @ coefficients - y * weights) ** 2))
    covariance, chi2_reduced = covariance_from_jacobian(design, chi2, x.size, errors_given=d_err is not None)
    ln_mid, ea = coefficients
    ln_d0 = ln_mid + ea * x_mid
    # ln D0 = ln_mid + Ea * x_mid: propagate the (ln_mid, Ea) covariance.
    var_ln_d0 = covariance[0, 0] + x_mid**2 * covariance[1, 1] + 2 * x_mid * covariance[0, 1]
    cov_ln_d0_ea = covariance[0, 1] + x_mid * covariance[1, 1]
    ea_err, ln_d0_err = float(np.sqrt(covariance[1, 1])), float(np.sqrt(var_ln_d0))
    correlation = cov_ln_d0_ea / (ea_err * ln_d0_err) if ea_err > 0 and ln_d0_err > 0 else float("nan")
    prefactor = float(np.exp(ln_d0))
    weighting = "weighted by d_err/d" if d_err is not None else "unweighted, errors from the scatter"
    return ArrheniusFit(
        activation_energy_ev=float(ea),
        activation_energy_err_ev=ea_err,
        prefactor=prefactor,
        prefactor_err=prefactor * ln_d0_err,
        ln_prefactor_err=ln_d0_err,
        correlation=float(correlation),
        chi2_reduced=chi2_reduced,
        points=int(x.size),
        temperature_range_k=(float(temperature_k.min()), float(temperature_k.max())),
        method=f"linear least squares of ln D against 1/(kB T), {weighting}",
    )
