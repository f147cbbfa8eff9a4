"""The binomial counting likelihood of a map given the forward model, and its parameters.

Given N = I6 + I7 counts in a pixel, I6 is binomial with the pixel's expected fraction p
(shared/physics.md, counting statistics; exact for Poisson counts of both masses). The fit
minimises the deviance -2 ln(L / L_saturated) = sum 2 [I6 ln(I6 / N p) + I7 ln(I7 / N (1-p))],
written as signed square roots per pixel so that a least-squares solver finds the maximum
likelihood. Gaussian constraints on given values (D_bulk, D_eff with their stated relative
errors) add (ln x - ln x_given)^2 / err^2 terms.

Parameters are packed as: ln(k_c / k_start) per fitted class (or one shared), then
ln(D_bulk / given), ln(D_eff / given) when fitted, then the two edge offsets when fitted.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import xlogy

from .whole_map_model import MapDiffusivities, WholeMapModel

__all__ = ["MapLikelihood", "ParameterLayout"]

_P_FLOOR = 1e-12


@dataclasses.dataclass(frozen=True)
class ParameterLayout:
    """Which parameters are free, their starting values, and the constraints on them.

    class_groups: for each free conductance parameter, the classes it sets (one shared
    parameter covers every class); d_bulk_err / d_eff_err: relative errors of the given
    values (None: the value is free without constraint); fit_*: whether it is free at all.
    """

    class_groups: tuple[tuple[int, ...], ...]
    k_start_m_per_s: tuple[float, ...]
    d_bulk_m2_per_s: float
    d_eff_m2_per_s: float
    fit_d_bulk: bool = False
    fit_d_eff: bool = False
    fit_edges: bool = False
    d_bulk_err: float | None = None
    d_eff_err: float | None = None

    @property
    def names(self) -> list[str]:
        """Parameter names in packing order."""
        names = [f"ln_k_{'_'.join(map(str, g))}" if len(self.class_groups) > 1 else "ln_k" for g in self.class_groups]
        if self.fit_d_bulk:
            names.append("ln_d_bulk")
        if self.fit_d_eff:
            names.append("ln_d_eff")
        if self.fit_edges:
            names += ["edge_left", "edge_right"]
        return names

    @property
    def size(self) -> int:
        return len(self.names)

    def unpack(self, theta: np.ndarray, classes: int) -> tuple[MapDiffusivities, tuple[float, float]]:
        """Return the model's values and edge offsets for the packed parameters."""
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
            index += 1
        edges = (float(theta[index]), float(theta[index + 1])) if self.fit_edges else (0.0, 0.0)
        return MapDiffusivities(tuple(k.tolist()), float(d_bulk), float(d_eff)), edges

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

    def __init__(self, model: WholeMapModel, i6: np.ndarray, i7: np.ndarray, used: np.ndarray, layout: ParameterLayout):
        self.model = model
        self.layout = layout
        self.used = used
        self._i6 = i6[used]
        self._i7 = i7[used]
        self._n = self._i6 + self._i7
        self.evaluations = 0
        self._last: tuple[bytes, np.ndarray] | None = None

    def with_layout(self, layout: ParameterLayout) -> MapLikelihood:
        """Return the same counts and model with another parameter layout."""
        other = MapLikelihood.__new__(MapLikelihood)
        other.__dict__.update(self.__dict__)
        other.layout, other.evaluations, other._last = layout, 0, None
        return other

    @property
    def pixels(self) -> int:
        return int(self._n.size)

    def expected(self, theta: np.ndarray) -> np.ndarray:
        """Return the model's expected C on the whole grid for packed parameters."""
        key = np.asarray(theta, dtype=float).tobytes()
        if self._last is None or self._last[0] != key:
            values, edges = self.layout.unpack(np.asarray(theta, dtype=float), self.model.classes)
            self._last = (key, self.model.expected(values, edges))
            self.evaluations += 1
        return self._last[1]

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
