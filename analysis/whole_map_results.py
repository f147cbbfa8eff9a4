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
from .whole_map_likelihood import ParameterLayout

__all__ = ["ClassEstimate", "WholeMapFit", "MapFitRefused", "describe_methods"]


class MapFitRefused(SimslabError):
    """The map cannot constrain D_gb/delta (no boundaries, too few counts, an open likelihood).

    ``reason`` says which; ``open_side`` ("above"/"below") when the profile likelihood did not
    rise by 1 on that side of the best value.
    """

    def __init__(self, reason: str, open_side: str | None = None):
        self.reason = reason
        self.open_side = open_side
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

    d_gb_over_width (m/s): one value for every boundary, maximum likelihood of all counts.
    d_gb_over_width_err: its total error, the quadrature sum of ``statistical_err`` (half the
    68 % profile-likelihood interval ``lower``..``upper``, every nuisance refitted, among
    them ``geometry_mix``: how far the image leans towards short boundaries turned to their
    faces' axes, the orientation a pixel map tells least) and ``d_bulk_scale_err`` (the map
    fixes D_gb/delta over D_bulk, so a given D_bulk's relative error carries over).
    classes: per-class values when the boundary map has several classes (empty otherwise);
    class_test_chi2: deviance gained by separate classes (chi-square with classes - 1 degrees
    of freedom if they shared one value). d_bulk, d_eff (m^2/s), edge_offsets, profile_modes:
    as given or fitted (see ``methods``).
    reduced_chi2: Pearson chi-square of the counts per degree of freedom (1 when the model
    explains the map down to counting noise). per_boundary_median: the per-boundary method
    on the same map, for comparison. expected_fraction: the model's C (ny, nx).
    """

    d_gb_over_width: float
    d_gb_over_width_err: float
    statistical_err: float
    d_bulk_scale_err: float | None
    geometry_mix: float | None
    geometry_mix_err: float | None
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
    profile_modes: int
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


def describe_methods(layout: ParameterLayout, isothermal: bool, classes: int, compared: bool) -> dict[str, str]:
    """Return the method of each number of a :class:`WholeMapFit`, by field name."""
    def nuisance(fitted: bool, err) -> str:
        if not fitted:
            return "given (held fixed)"
        constraint = "unconstrained" if err is None else f"Gaussian constraint {err:.0%} on the given value"
        return "maximum likelihood, " + constraint

    methods = {
        "d_gb_over_width": "maximum likelihood of all pixels' binomial counts (one value for every boundary)",
        "d_gb_over_width_err": "quadrature sum of statistical_err and d_bulk_scale_err",
        "statistical_err": (
            "half-width of the 68 % profile-likelihood interval (deviance + 1; edges, profile corrections, "
            "geometry mix and fitted values refitted at every point)"
        ),
        "geometry_mix": (
            "linear parameter: the image mixed towards boundaries shorter than 10 faces lying along their faces' "
            "axes instead of their chords (0: chords), response taken at the starting values"
            if layout.geometry else "not fitted (normals given, or geometry_check off)"
        ),
        "geometry_mix_err": "from the Fisher matrix of the linear parameters",
        "d_bulk_scale_err": "the given D_bulk's relative error times the value (the map fixes D_gb/delta / D_bulk)",
        "lower": "profile likelihood, deviance + 1", "upper": "profile likelihood, deviance + 1",
        "d_bulk": nuisance(layout.fit_d_bulk, layout.d_bulk_err),
        "d_eff": nuisance(layout.fit_d_eff, layout.d_eff_err),
        "edge_offsets": "linear parameters solved at every evaluation" if layout.fit_edges else "not fitted",
        "profile_modes": "free sine corrections of the window's macroscopic profile, solved at every evaluation",
        "reduced_chi2": "Pearson chi-square of the I6 counts given N, per degree of freedom",
        "frozen_ratio": "k h / D_bulk where the grain-scale structure froze (survival-weighted over the history)",
        "window_conductance": "D_w / D_bulk of the window's own grains (steady 2D solve)",
        "temperature": (
            "isothermal history" if isothermal else "values at the reference temperature via the activation energies"
        ),
    }
    if classes > 1:
        methods["classes"] = "maximum likelihood per boundary class, 68 % profile-likelihood intervals"
        methods["class_test_chi2"] = "deviance of one shared value minus that of one value per class"
    if compared:
        methods["per_boundary_median"] = (
            "median over 'ok' boundaries of grain_boundary_diffusivities (gradient mode, the same boundaries)"
        )
    return methods
