"""Long-range profile during isotope exchange: the erfc solution and its fit.

While the immersed edge is held at Cs (semi-infinite sample, constant source):
(C(x, t) - C0) / (Cs - C0) = erfc((x - x_s) / (2 sqrt(D_eff t))), x from the liquid surface.
x_s shifts the origin for the meniscus and a wandering liquid level (where x < x_s the
model holds C = Cs: that part of the sample was wetted). The fit's D_eff is biased high when
the meniscus creeps up (shared/physics.md); the closed-system fit after exchange is better.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import least_squares
from scipy.special import erfc, erfcinv

from simslab.errors import ValidationError

from .fit_covariance import fit_covariance
from .input_checks import float_array, positive, same_shape
from .results import AnalysisResult

__all__ = ["ErfcFit", "erfc_profile", "fit_erfc_profile", "profile_flux", "profile_from_map", "MapProfile"]

log = logging.getLogger(__name__)

_SOURCE = "fit_erfc_profile"


@dataclasses.dataclass(frozen=True)
class ErfcFit(AnalysisResult):
    """An erfc fit: D_eff in m^2/s, Cs and C0 (fractions), shift of the origin in m.

    A parameter held fixed has error 0. Errors are 1-sigma from the fit's covariance, scaled
    by the reduced chi-square when it exceeds 1 (scatter beyond counting noise).
    """

    d_eff: float
    d_eff_err: float
    c_s: float
    c_s_err: float
    c0: float
    c0_err: float
    shift_m: float
    shift_err_m: float
    time_s: float
    chi2_reduced: float
    points: int
    free: tuple[str, ...]
    method: str

    def model(self, x_m: ArrayLike) -> np.ndarray:
        """Return the fitted profile C at positions ``x_m`` (m from the liquid surface)."""
        return erfc_profile(x_m, self.time_s, self.d_eff, self.c_s, self.c0, self.shift_m)


@dataclasses.dataclass(frozen=True)
class MapProfile(AnalysisResult):
    """A map averaged across the diffusion direction: C and its error at each x (m)."""

    x_m: np.ndarray
    c: np.ndarray
    c_err: np.ndarray
    pixels: np.ndarray
    method: str


def erfc_profile(x_m: ArrayLike, time_s: float, d: float, c_s: float, c0: float, shift_m: float = 0.0) -> np.ndarray:
    """Return C(x) = C0 + (Cs - C0) erfc(max(x - shift, 0) / (2 sqrt(D t))); x in m, D in m^2/s."""
    x = np.asarray(x_m, dtype=float)
    argument = np.maximum(x - shift_m, 0.0) / (2.0 * np.sqrt(d * time_s))
    return c0 + (c_s - c0) * erfc(argument)


def fit_erfc_profile(
    x: ArrayLike,
    c: ArrayLike,
    t: float,
    c_s: float | None = None,
    c0: float | None = None,
    *,
    sigma: ArrayLike | None = None,
    fit_shift: bool = False,
    shift_m: float = 0.0,
) -> ErfcFit:
    """Fit D_eff (and, when not given, Cs, C0, the shift) to a profile during exchange.

    x: positions in m from the liquid surface; c: isotope fraction; t: exchange time in s;
    c_s, c0: hold these values fixed when given (fractions 0-1); sigma: uncertainty of each c
    (without it the errors come from the scatter of the residuals); fit_shift: fit the origin
    shift (meniscus), else hold it at ``shift_m``.
    """
    x = float_array(_SOURCE, "x", x, ndim=1, finite=True)
    c = float_array(_SOURCE, "c", c, ndim=1)
    same_shape(_SOURCE, x=x, c=c)
    t = float(positive(_SOURCE, "t", t))
    weights = np.ones_like(c) if sigma is None else 1.0 / positive(_SOURCE, "sigma", np.broadcast_to(sigma, c.shape))
    for name, value in (("c_s", c_s), ("c0", c0)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValidationError(_SOURCE, name, value, "a fraction 0-1")
    use = np.isfinite(c) & np.isfinite(weights)
    x, c, weights = x[use], c[use], weights[use]
    free = (
        ("d_eff",) + tuple(n for n, v in (("c_s", c_s), ("c0", c0)) if v is None) + (("shift_m",) if fit_shift else ())
    )
    if x.size <= len(free):
        raise ValidationError(_SOURCE, "c", f"{x.size} finite points", f"more than the {len(free)} free parameters")
    guess_cs = float(np.max(c)) if c_s is None else c_s
    guess_c0 = float(np.min(c)) if c0 is None else c0
    guess = {"d_eff": np.log(_guess_d(x - shift_m, c, t, guess_cs, guess_c0)), "c_s": guess_cs, "c0": guess_c0}
    guess["shift_m"] = shift_m
    fixed = {"c_s": c_s, "c0": c0, "shift_m": None if fit_shift else shift_m}
    span = float(np.ptp(x)) or 1.0
    bounds_by_name = {
        "d_eff": (np.log(1e-30), np.log(1.0)),
        "c_s": (0.0, 1.0),
        "c0": (0.0, 1.0),
        "shift_m": (-span, span),
    }

    def unpack(p: np.ndarray) -> dict[str, float]:
        values = dict(zip(free, p))
        values["d_eff"] = float(np.exp(values["d_eff"]))
        return {**{k: v for k, v in fixed.items() if v is not None}, **values}

    def residuals(p: np.ndarray) -> np.ndarray:
        v = unpack(p)
        return (erfc_profile(x, t, v["d_eff"], v["c_s"], v["c0"], v["shift_m"]) - c) * weights

    start = np.array([np.clip(guess[n], *bounds_by_name[n]) for n in free])
    lower, upper = zip(*(bounds_by_name[n] for n in free))
    solution = least_squares(residuals, start, bounds=(lower, upper), x_scale="jac")
    covariance, chi2_reduced = fit_covariance(solution, x.size, errors_given=sigma is not None)
    errors = dict(zip(free, np.sqrt(np.diag(covariance))))
    values = unpack(solution.x)
    log.debug("erfc fit: %s, chi2_red %.3g", values, chi2_reduced)
    return ErfcFit(
        d_eff=values["d_eff"],
        d_eff_err=values["d_eff"] * errors["d_eff"],
        c_s=values["c_s"],
        c_s_err=float(errors.get("c_s", 0.0)),
        c0=values["c0"],
        c0_err=float(errors.get("c0", 0.0)),
        shift_m=values["shift_m"],
        shift_err_m=float(errors.get("shift_m", 0.0)),
        time_s=t,
        chi2_reduced=chi2_reduced,
        points=int(x.size),
        free=free,
        method="least squares of C0 + (Cs-C0) erfc((x-shift)/(2 sqrt(D t))), free: " + ", ".join(free),
    )


def profile_flux(fit: ErfcFit, x_m: ArrayLike) -> np.ndarray:
    """Return the macroscopic tracer flux j = -D_eff dC/dx of a fitted erfc profile, in m/s.

    Positive along +x (into the sample). ``grain_boundary_diffusivities`` takes it as
    ``flux_m_per_s=lambda x, y: (profile_flux(fit, x + offset_m), 0 * x)`` when the map's
    horizontal axis runs along the diffusion and its first pixel edge sits ``offset_m`` from
    the liquid surface (map coordinates start at the map's edge).
    """
    x = np.maximum(np.asarray(x_m, dtype=float) - fit.shift_m, 0.0)
    root = np.sqrt(fit.d_eff * fit.time_s)
    return fit.d_eff * (fit.c_s - fit.c0) / (np.sqrt(np.pi) * root) * np.exp(-((x / (2.0 * root)) ** 2))


def profile_from_map(
    fraction: ArrayLike, sigma: ArrayLike, pixel_size_m: tuple[float, float], *, offset_m: float = 0.0, axis: int = 1
) -> MapProfile:
    """Average a C map across the diffusion direction into a profile C(x).

    ``axis`` is the map axis running along the diffusion (1: columns are x, the default);
    ``offset_m`` is the distance of the map's first pixel edge from the liquid surface.
    Each point is the counting-weighted mean of its column with its standard error.
    """
    fraction = float_array("profile_from_map", "fraction", fraction, ndim=2)
    sigma = float_array("profile_from_map", "sigma", sigma, ndim=2)
    same_shape("profile_from_map", fraction=fraction, sigma=sigma)
    if axis not in (0, 1):
        raise ValidationError("profile_from_map", "axis", axis, "0 or 1")
    usable = np.isfinite(fraction) & np.isfinite(sigma) & (sigma > 0)
    w = np.where(usable, 1.0 / np.where(usable, sigma, 1.0) ** 2, 0.0)
    across = 1 - axis
    weight = w.sum(axis=across)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (np.where(usable, fraction, 0.0) * w).sum(axis=across) / weight
        err = 1.0 / np.sqrt(weight)
    step = pixel_size_m[0] if axis == 1 else pixel_size_m[1]
    x = offset_m + (np.arange(fraction.shape[axis]) + 0.5) * step
    return MapProfile(x, mean, err, usable.sum(axis=across), "counting-weighted mean across the diffusion direction")


def _guess_d(x: np.ndarray, c: np.ndarray, t: float, c_s: float, c0: float) -> float:
    """Return D implied by the median of erfcinv over points between the plateaus."""
    if c_s == c0:
        return 1e-12
    y = (c - c0) / (c_s - c0)
    inside = (y > 0.05) & (y < 0.95) & (x > 0)
    if not inside.any():
        return (np.ptp(x) or 1e-3) ** 2 / (4.0 * t)
    u = erfcinv(y[inside])
    return float(np.median((x[inside] / (2.0 * u)) ** 2 / t))
