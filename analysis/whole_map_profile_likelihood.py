"""Maximum likelihood and profile-likelihood intervals of the whole-map fit's parameters.

The deviance of a map is smooth in the log parameters but each evaluation costs a 2D solve,
so the search uses few evaluations: trust-region least squares on the deviance residuals
with forward differences of a fixed step (scipy's relative step degenerates at 0, where
every packed parameter starts), and for an interval, the parabola through the profile
deviance, refined until it rises by 1 within 0.05.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import least_squares

from .whole_map_likelihood import MapLikelihood
from .whole_map_results import MapFitRefused

__all__ = ["maximise", "profile_interval", "nuisance_errors"]

DIFF_STEP = 1e-3
"""Forward-difference step of the log parameters (0.1 %)."""
_PROFILE_TOLERANCE = 0.05  # accept |deviance rise - 1| below this
_PROBE = 0.05  # step of the curvature probes (5 % in a log parameter)


def maximise(likelihood: MapLikelihood, start: np.ndarray, fixed: dict[int, float] | None = None) -> np.ndarray:
    """Return the packed parameters of maximum likelihood (``fixed``: index -> held value)."""
    fixed = fixed or {}
    free = [i for i in range(start.size) if i not in fixed]
    theta = np.array(start, dtype=float)
    for i, v in fixed.items():
        theta[i] = v
    if not free:
        return theta

    def residuals(sub: np.ndarray) -> np.ndarray:
        full = theta.copy()
        full[free] = sub
        return likelihood.residuals(full)

    def jacobian(sub: np.ndarray) -> np.ndarray:
        base = residuals(sub)
        columns = []
        for i in range(sub.size):
            probe = sub.copy()
            probe[i] += DIFF_STEP
            columns.append((residuals(probe) - base) / DIFF_STEP)
        return np.column_stack(columns)

    solution = least_squares(
        residuals, theta[free], jac=jacobian, method="trf", x_scale=np.full(len(free), 0.1),
        xtol=1e-6, ftol=1e-10, gtol=1e-10, max_nfev=60,
    )
    theta[free] = solution.x
    return theta


def profile_interval(
    likelihood: MapLikelihood, best: np.ndarray, index: int, deviance: float, max_log: float,
    value_of: Callable[[float], float],
) -> tuple[float, float]:
    """Return (lower, upper) of parameter ``index`` where the profile deviance rises by 1.

    The other parameters are refitted at every point. Raises :class:`MapFitRefused` when the
    deviance stays within 1 of its minimum up to ``max_log`` (a factor e^max_log) on a side;
    ``value_of`` turns the parameter into the value named in the refusal (m/s).
    """
    sigma = _curvature_sigma(likelihood, best, index, deviance)
    bounds = []
    for sign in (1.0, -1.0):
        step = sign * min(sigma, 0.5 * max_log)
        point = best
        rise = 0.0
        for _ in range(8):
            point = maximise(likelihood, point, {index: best[index] + step})
            rise = likelihood.deviance(point) - deviance
            if abs(rise - 1.0) < _PROFILE_TOLERANCE:
                break
            if rise <= 0.0:
                new = 2.0 * step  # flat, or the best point was not quite the minimum: widen
            else:
                new = step / math.sqrt(rise)  # exact for a parabola
                low, high = sorted((step / 3.0, 3.0 * step))
                new = float(np.clip(new, low, high))
            if abs(new) > max_log:
                if abs(step) >= max_log:
                    break
                new = sign * max_log
            step = new
        if rise < 1.0 - _PROFILE_TOLERANCE:
            side = "above" if sign > 0 else "below"
            raise MapFitRefused(
                f"the map cannot constrain D_gb/delta: the profile likelihood stays within 1 of its best "
                f"({value_of(float(best[index])):.3g} m/s) up to a factor {math.exp(max_log):g} {side} it "
                f"(too few counts, or steps too small to tell)",
                open_side=side,
            )
        bounds.append(best[index] + step)
    return bounds[1], bounds[0]


def nuisance_errors(likelihood: MapLikelihood, best: np.ndarray) -> dict[str, float]:
    """Return the Gauss-Newton errors of the fitted ln D_bulk and ln D_eff (relative errors)."""
    names = likelihood.layout.names
    wanted = [i for i, n in enumerate(names) if n in ("ln_d_bulk", "ln_d_eff")]
    if not wanted:
        return {}
    base = likelihood.residuals(best)
    jac = np.empty((base.size, best.size))
    for i in range(best.size):
        probe = np.array(best, dtype=float)
        probe[i] += DIFF_STEP
        jac[:, i] = (likelihood.residuals(probe) - base) / DIFF_STEP
    covariance = np.linalg.pinv(jac.T @ jac)
    return {names[i]: float(math.sqrt(max(covariance[i, i], 0.0))) for i in wanted}


def _curvature_sigma(likelihood: MapLikelihood, best: np.ndarray, index: int, deviance: float) -> float:
    """Return a first guess of the parameter's error from the deviance at +-5 % (others held)."""
    probe = np.array(best, dtype=float)
    probe[index] += _PROBE
    up = likelihood.deviance(probe) - deviance
    probe[index] -= 2 * _PROBE
    down = likelihood.deviance(probe) - deviance
    curvature = (up + down) / _PROBE**2
    return float(math.sqrt(2.0 / curvature)) if curvature > 0 else 0.5
