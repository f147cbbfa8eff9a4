"""Parameter uncertainties of a least-squares fit, one rule for every fit here.

With measurement errors given (counting errors), they are taken as absolute and the
covariance is (J^T J)^-1 of the weighted residuals, inflated by the reduced chi-square only
when the data scatter more than the errors allow (a model that misses real structure must
not report counting-limited errors). Without given errors, the residual scatter sets the scale.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult

__all__ = ["fit_covariance", "covariance_from_jacobian"]


def fit_covariance(solution: OptimizeResult, points: int, errors_given: bool) -> tuple[np.ndarray, float]:
    """Return (covariance of the fitted parameters, reduced chi-square) of a least_squares result."""
    return covariance_from_jacobian(solution.jac, 2.0 * solution.cost, points, errors_given)


def covariance_from_jacobian(jac: np.ndarray, chi2: float, points: int, errors_given: bool) -> tuple[np.ndarray, float]:
    """Return (covariance, reduced chi-square) from the Jacobian of the weighted residuals.

    Parameters the data do not constrain (singular directions) get no variance rather than
    an infinite one; the caller sees that as a zero error only if it fixed them itself.
    """
    jac = np.atleast_2d(np.asarray(jac, dtype=float))
    dof = points - jac.shape[1]
    chi2_reduced = float(chi2 / dof) if dof > 0 else float("nan")
    _, s, vt = np.linalg.svd(jac, full_matrices=False)
    keep = s > s[0] * 1e-12 if s.size and s[0] > 0 else np.zeros(s.shape, dtype=bool)
    covariance = (vt[keep].T / s[keep] ** 2) @ vt[keep]
    if errors_given:
        scale = max(chi2_reduced, 1.0) if np.isfinite(chi2_reduced) else 1.0
    else:
        scale = chi2_reduced
    return covariance * scale, chi2_reduced
