"""Results of the whole-map fit: D_gb/delta with profile-likelihood errors, per class, and how.

Every number carries the name of its method in ``methods`` (what ``to_dict()`` prints beside
it): maximum likelihood against the counts, a profile-likelihood interval, a value given by
the caller, or the per-boundary comparison.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from simslab.errors import SimslabError

from .grain_boundary_results import BoundaryDistribution
from .results import AnalysisResult

__all__ = ["ClassEstimate", "WholeMapFit", "MapFitRefused"]


class MapFitRefused(SimslabError):
    """The map cannot constrain D_gb/delta (no boundaries, too few counts, an open likelihood).

    ``reason`` says which; ``bound_m_per_s`` holds a one-sided limit when the likelihood
    closed on one side only.
    """

    def __init__(self, reason: str, bound_m_per_s: float | None = None):
        self.reason = reason
        self.bound_m_per_s = bound_m_per_s
        super().__init__(f"whole-map fit refused: {reason}")


@dataclasses.dataclass(frozen=True)
class ClassEstimate(AnalysisResult):
    """D_gb/delta of one boundary class at the reference temperature (m/s) with its 68 % interval."""

    boundary_class: int
    faces: int
    d_gb_over_width: float
    d_gb_over_width_err: float
    lower: float
    upper: float
    method: str


@dataclasses.dataclass(frozen=True)
class WholeMapFit(AnalysisResult):
    """The whole-map fit of one image (SI units; values at ``reference_temperature_k``).

    d_gb_over_width (m/s): one value for every boundary, maximum likelihood; its error is the
    half-width of the 68 % profile-likelihood interval (lower, upper), nuisance parameters
    refitted at every point. classes: per-class values when the boundary map has several
    classes (empty otherwise); class_test_chi2: the deviance gained by separate classes
    (chi-square with classes - 1 degrees of freedom if they shared one value).
    d_bulk, d_eff (m^2/s), edge offsets: as given or fitted (see ``methods``).
    reduced_chi2: Pearson chi-square of the counts per degree of freedom (1 when the model
    explains the map down to counting noise). per_boundary: the distribution of the
    per-boundary method on the same map, for comparison. expected_fraction: the model's C.
    """

    d_gb_over_width: float
    d_gb_over_width_err: float
    lower: float
    upper: float
    d_gb: float | None
    d_gb_err: float | None
    classes: tuple[ClassEstimate, ...]
    class_test_chi2: float | None
    d_bulk: float
    d_bulk_err: float | None
    d_eff: float
    d_eff_err: float | None
    edge_offsets: tuple[float, float] | None
    reference_temperature_k: float
    bulk_activation_ev: float
    gb_activation_ev: float
    frozen_ratio: tuple[float, ...]
    window_conductance: float
    grain_scale_activity: float
    reduced_chi2: float
    deviance: float
    degrees_of_freedom: int
    pixels: int
    mean_counts: float
    evaluations: int
    elapsed_s: float
    per_boundary: BoundaryDistribution | None
    per_boundary_median: float | None
    expected_fraction: np.ndarray
    used: np.ndarray
    methods: dict[str, str]
    method: str

    @property
    def per_boundary_ratio(self) -> float | None:
        """Per-boundary median over the whole-map value (1 when they agree)."""
        if self.per_boundary_median is None or not np.isfinite(self.per_boundary_median):
            return None
        return self.per_boundary_median / self.d_gb_over_width
