"""The binomial counting likelihood of a map given the forward model, and its parameters.

Given N = I6 + I7 counts in a pixel, I6 is binomial with the pixel's expected fraction p
(shared/physics.md, counting statistics; exact for Poisson counts of both masses). The fit
minimises the deviance -2 ln(L / L_saturated) = sum 2 [I6 ln(I6 / N p) + I7 ln(I7 / N (1-p))],
written as signed square roots per pixel so that a least-squares solver finds the maximum
likelihood. Gaussian constraints on given values (D_bulk, D_eff with their stated relative
errors) add (ln x - ln x_given)^2 / err^2 terms.

Nonlinear parameters are packed as ln(k / k_start) per fitted group of classes, then
ln(D_bulk / given) and ln(D_eff / given) when fitted. Linear ones (the window's edge values,
smooth corrections of its macroscopic profile: ``WholeMapModel.corrections``, and a mix of
the image towards another boundary geometry, a fixed response) are solved for
at every evaluation by weighted least squares (one Newton step of the deviance, which is
quadratic to ~1e-4 at these counts), so the solver and the profile likelihood never see them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import xlogy

from .whole_map_model import MapDiffusivities, WholeMapModel

__all__ = ["MapLikelihood", "ParameterLayout"]

_P_FLOOR = 1e-9
_NEWTON_STEPS = 1


@dataclasses.dataclass(frozen=True)
class ParameterLayout:
    """Which parameters are free, their starting values, and the constraints on them.

    class_groups: for each conductance parameter, the classes it sets (one shared parameter
    covers every class); d_bulk_err / d_eff_err: relative errors constraining the given
    values when fitted (None: free without constraint); fit_edges: the window's two edge
    values free; macro_modes: number of free smooth corrections of the macroscopic profile;
    geometry: a free mix towards the likelihood's ``geometry_response`` (the last linear one).
    """

    class_groups: tuple[tuple[int, ...], ...]
    k_start_m_per_s: tuple[float, ...]
    d_bulk_m2_per_s: float
    d_eff_m2_per_s: float
    fit_d_bulk: bool = False
    fit_d_eff: bool = False
    fit_edges: bool = False
    macro_modes: int = 0
    geometry: bool = False
    d_bulk_err: float | None = None
    d_eff_err: float | None = None

    @property
    def names(self) -> list[str]:
        """Nonlinear parameter names in packing order."""
        if len(self.class_groups) == 1:
            names = ["ln_k"]
        else:
            names = [f"ln_k_class_{'_'.join(map(str, g))}" for g in self.class_groups]
        if self.fit_d_bulk:
            names.append("ln_d_bulk")
        if self.fit_d_eff:
            names.append("ln_d_eff")
        return names

    @property
    def size(self) -> int:
        return len(self.names)

    @property
    def linear_size(self) -> int:
        return (2 if self.fit_edges else 0) + int(self.macro_modes) + (1 if self.geometry else 0)

    def unpack(self, theta: np.ndarray, classes: int) -> MapDiffusivities:
        """Return the model's values for the packed nonlinear parameters."""
        k = np.empty(classes)
        for i, group in enumerate(self.class_groups):
            k[list(group)] = self.k_start_m_per_s[i] * np.exp(theta[i])
        index = len(self.class_groups)
        d_bulk = self.d_bulk_m2_per_s
        if self.fit_d_bulk:
            d_bulk *= np.exp(theta[index])
            index += 1
        d_eff = self.d_eff_m2_per_s
        if self.fit_d_eff:
            d_eff *= np.exp(theta[index])
        return MapDiffusivities(tuple(k.tolist()), float(d_bulk), float(d_eff))

    def constraints(self, theta: np.ndarray) -> np.ndarray:
        """Return the Gaussian constraint residuals of the given values."""
        out = []
        index = len(self.class_groups)
        for fitted, err in ((self.fit_d_bulk, self.d_bulk_err), (self.fit_d_eff, self.d_eff_err)):
            if fitted:
                if err is not None:
                    out.append(theta[index] / err)
                index += 1
        return np.asarray(out)


class MapLikelihood:
    """Deviance residuals of the counts (I6, I7) on the pixels ``used`` for packed parameters."""

    def __init__(
        self, model: WholeMapModel, i6: np.ndarray, i7: np.ndarray, used: np.ndarray, layout: ParameterLayout,
        geometry_response: np.ndarray | None = None,
    ):
        if layout.geometry and geometry_response is None:
            raise ValueError("layout.geometry needs a geometry_response")
        self.model = model
        self.layout = layout
        self.geometry_response = geometry_response
        self.used = used
        self._i6 = i6[used]
        self._i7 = i7[used]
        self._n = self._i6 + self._i7
        self.evaluations = 0
        self._last: tuple[bytes, np.ndarray, np.ndarray] | None = None

    def with_layout(self, layout: ParameterLayout) -> MapLikelihood:
        """Return the same counts and model with another parameter layout."""
        other = MapLikelihood.__new__(MapLikelihood)
        other.__dict__.update(self.__dict__)
        other.layout, other.evaluations, other._last = layout, 0, None
        if layout.geometry and other.geometry_response is None:
            raise ValueError("layout.geometry needs a geometry_response")
        return other

    @property
    def pixels(self) -> int:
        return int(self._n.size)

    def expected(self, theta: np.ndarray) -> np.ndarray:
        """Return the expected C (ny, nx) with the linear parameters at their best, for packed parameters."""
        return self._evaluate(theta)[1]

    def linear(self, theta: np.ndarray) -> np.ndarray:
        """Return the best linear parameters (edge offsets, macroscopic modes, geometry mix) at ``theta``."""
        return self._evaluate(theta)[2]

    def linear_errors(self, theta: np.ndarray) -> np.ndarray:
        """Return the standard errors of the linear parameters at ``theta`` (nonlinear ones held)."""
        expected = self.expected(theta)
        design = self._responses(self.layout.unpack(np.asarray(theta, dtype=float), self.model.classes))[self.used]
        p = np.clip(expected[self.used], _P_FLOOR, 1.0 - _P_FLOOR)
        fisher = (design * (self._n / (p * (1.0 - p)))[:, None]).T @ design
        return np.sqrt(np.clip(np.diag(np.linalg.pinv(fisher)), 0.0, None))

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """Return signed deviance residuals of every used pixel, then the constraint residuals."""
        p = np.clip(self.expected(theta)[self.used], _P_FLOOR, 1.0 - _P_FLOOR)
        terms = xlogy(self._i6, self._i6 / (self._n * p)) + xlogy(self._i7, self._i7 / (self._n * (1.0 - p)))
        signed = np.sign(self._i6 - self._n * p) * np.sqrt(2.0 * np.maximum(terms, 0.0))
        return np.concatenate([signed, self.layout.constraints(np.asarray(theta, dtype=float))])

    def deviance(self, theta: np.ndarray) -> float:
        """Return -2 ln L (up to a constant), constraints included."""
        r = self.residuals(theta)
        return float(r @ r)

    def pearson(self, theta: np.ndarray) -> np.ndarray:
        """Return (I6 - N p) / sqrt(N p (1 - p)) per used pixel: counting-normalised residuals."""
        p = np.clip(self.expected(theta)[self.used], _P_FLOOR, 1.0 - _P_FLOOR)
        return (self._i6 - self._n * p) / np.sqrt(self._n * p * (1.0 - p))

    def _evaluate(self, theta: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        if self._last is None or self._last[0] != key:
            values = self.layout.unpack(theta, self.model.classes)
            expected = self.model.expected(values)
            amplitudes = np.zeros(self.layout.linear_size)
            if self.layout.linear_size:
                responses = self._responses(values)
                amplitudes = self._solve_linear(expected, responses)
                expected = expected + responses @ amplitudes
            self._last = (key, expected, amplitudes)
            self.evaluations += 1
        return self._last

    def _responses(self, values: MapDiffusivities) -> np.ndarray:
        columns = []
        if self.layout.fit_edges or self.layout.macro_modes:
            responses = self.model.corrections(values, self.layout.macro_modes)
            columns.append(responses if self.layout.fit_edges else responses[..., 2:])
        if self.layout.geometry:
            columns.append(self.geometry_response[..., None])
        return np.concatenate(columns, axis=-1)

    def _solve_linear(self, expected: np.ndarray, responses: np.ndarray) -> np.ndarray:
        """Return the amplitudes minimising the deviance (Newton steps from zero)."""
        base = expected[self.used]
        design = responses[self.used]
        amplitudes = np.zeros(design.shape[1])
        for _ in range(_NEWTON_STEPS):
            p = np.clip(base + design @ amplitudes, _P_FLOOR, 1.0 - _P_FLOOR)
            weight = self._n / (p * (1.0 - p))
            gradient = design.T @ ((self._i6 - self._n * p) / (p * (1.0 - p)))
            hessian = (design * weight[:, None]).T @ design
            amplitudes = amplitudes + np.linalg.lstsq(hessian, gradient, rcond=1e-12)[0]
        return amplitudes
