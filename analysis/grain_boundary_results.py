"""Results of the grain-boundary analysis: per-boundary fits, their distribution, profiles.

One boundary's D_gb/delta is rarely worth much at realistic counts (its bulk gradient is
barely measurable), so the headline is the distribution over the boundaries that count
("ok": significant step, positive value) and a pooled estimate that assumes one D_gb/delta
for all boundaries with a significant step, whatever the sign of their gradient (dropping
the negative ones would bias the pooled value high, keeping them is what averaging means).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .results import AnalysisResult, to_plain

__all__ = [
    "GrainBoundaryAnalysis",
    "BoundaryDistribution",
    "BoundaryProfile",
    "summarise_boundaries",
    "boundary_profile",
]


@dataclasses.dataclass(frozen=True)
class BoundaryDistribution(AnalysisResult):
    """D_gb/delta over the boundaries of one map, in m/s (and D_gb in m^2/s when delta is known).

    median and the 16th/84th percentiles of the "ok" boundaries; pooled: one value fitted to
    all boundaries with a significant step, with its standard error.
    """

    count_ok: int
    count_total: int
    median_m_per_s: float
    p16_m_per_s: float
    p84_m_per_s: float
    pooled_m_per_s: float
    pooled_err_m_per_s: float
    pooled_count: int
    median_d_gb_m2_per_s: float | None
    pooled_d_gb_m2_per_s: float | None
    pooled_d_gb_err_m2_per_s: float | None
    method: str


_PER_BOUNDARY = (
    "grain_up",
    "grain_down",
    "centre_m",
    "normal",
    "length_m",
    "pixels_up",
    "pixels_down",
    "step",
    "step_err",
    "gradient_per_m",
    "gradient_err_per_m",
    "d_gb_over_width_m_per_s",
    "d_gb_over_width_err_m_per_s",
    "d_gb_m2_per_s",
    "chi2_reduced",
    "status",
)


@dataclasses.dataclass(frozen=True)
class GrainBoundaryAnalysis(AnalysisResult):
    """Every boundary of a map: arrays indexed by boundary, plus the distribution.

    Orientation: ``normal`` (x, y) points from grain ``grain_up`` (higher C at the boundary)
    into ``grain_down``; ``step`` = C_up - C_down >= 0 at the boundary; ``gradient_per_m`` =
    -dC/dn next to it (positive when the tracer flows down the step). The fitted bulk on each
    side is value + (-gradient) n + curvature n^2 (n in m along ``normal``, < 0 upstream).
    ``pixel_boundary`` (-1 unused), ``pixel_normal_m``, ``pixel_tangent_m``: which boundary's
    fit each pixel entered and where it sits, for profiles and figures.
    """

    labels: np.ndarray
    grain_up: np.ndarray
    grain_down: np.ndarray
    centre_m: np.ndarray
    normal: np.ndarray
    length_m: np.ndarray
    pixels_up: np.ndarray
    pixels_down: np.ndarray
    step: np.ndarray
    step_err: np.ndarray
    gradient_per_m: np.ndarray
    gradient_err_per_m: np.ndarray
    value_up: np.ndarray
    value_down: np.ndarray
    curvature_up_per_m2: np.ndarray
    curvature_down_per_m2: np.ndarray
    along_gradient_per_m: np.ndarray
    d_gb_over_width_m_per_s: np.ndarray
    d_gb_over_width_err_m_per_s: np.ndarray
    d_gb_m2_per_s: np.ndarray | None
    chi2_reduced: np.ndarray
    status: np.ndarray
    flux_normal_m_per_s: np.ndarray | None
    d_bulk_m2_per_s: float
    d_bulk_err_m2_per_s: float
    gb_width_m: float | None
    bulk_model: str
    distribution: BoundaryDistribution
    pixel_boundary: np.ndarray
    pixel_normal_m: np.ndarray
    pixel_tangent_m: np.ndarray
    method: str

    @property
    def count(self) -> int:
        """Number of boundaries fitted (of any status)."""
        return int(self.step.size)

    @property
    def ok(self) -> np.ndarray:
        """Boolean per boundary: significant step and positive D_gb/delta."""
        return self.status == "ok"

    @property
    def boundary_mask(self) -> np.ndarray:
        """Boolean map of the boundary pixels (label 0) the analysis used."""
        return self.labels == 0

    def boundary(self, index: int) -> dict[str, Any]:
        """Return one boundary's fields by name, JSON-ready (SI units)."""
        row = {}
        for name in _PER_BOUNDARY:
            column = getattr(self, name)
            if column is not None:
                row[name] = to_plain(column[index])
        return row


@dataclasses.dataclass(frozen=True)
class BoundaryProfile(AnalysisResult):
    """C across one boundary averaged along it: bins of n (m, < 0 upstream), mean C and error.

    The gradient along the boundary is taken out first; ``model_c`` is the fitted bulk on
    each side at ``n_m`` (NaN across the gap).
    """

    n_m: np.ndarray
    c: np.ndarray
    c_err: np.ndarray
    pixels: np.ndarray
    model_c: np.ndarray
    method: str


def summarise_boundaries(**fields: Any) -> GrainBoundaryAnalysis:
    """Build the analysis result and its distribution from per-boundary arrays."""
    width = fields["gb_width_m"]
    values = fields["d_gb_over_width_m_per_s"]
    fields["d_gb_m2_per_s"] = None if width is None else values * width
    fields["distribution"] = _distribution(fields)
    return GrainBoundaryAnalysis(**fields)


def boundary_profile(
    analysis: GrainBoundaryAnalysis, fraction: np.ndarray, sigma: np.ndarray, index: int, bin_m: float
) -> BoundaryProfile:
    """Return C across boundary ``index`` in bins of ``bin_m``, averaged along the boundary."""
    chosen = analysis.pixel_boundary == index
    n = analysis.pixel_normal_m[chosen]
    c = fraction[chosen] - analysis.along_gradient_per_m[index] * analysis.pixel_tangent_m[chosen]
    w = 1.0 / sigma[chosen] ** 2
    bins = np.floor(n / bin_m).astype(int)
    if bins.size == 0:
        empty = np.zeros(0)
        return BoundaryProfile(empty, empty, empty, empty.astype(int), empty, "no pixels")
    offset = bins.min()
    slot = bins - offset
    weight = np.bincount(slot, w)
    used = weight > 0
    mean = np.bincount(slot, w * c)[used] / weight[used]
    centres = (np.nonzero(used)[0] + offset + 0.5) * bin_m
    pixels = np.bincount(slot)[used]
    model = np.where(
        centres < 0,
        analysis.value_up[index]
        - analysis.gradient_per_m[index] * centres
        + analysis.curvature_up_per_m2[index] * centres**2,
        analysis.value_down[index]
        - analysis.gradient_per_m[index] * centres
        + analysis.curvature_down_per_m2[index] * centres**2,
    )
    method = f"weighted mean over {bin_m * 1e6:g} um bins along the boundary, along-boundary trend removed"
    return BoundaryProfile(centres, mean, 1.0 / np.sqrt(weight[used]), pixels, model, method)


def _distribution(fields: dict[str, Any]) -> BoundaryDistribution:
    status = fields["status"]
    values = fields["d_gb_over_width_m_per_s"]
    ok = status == "ok"
    if ok.any():
        median, p16, p84 = np.percentile(values[ok], [50, 16, 84])
    else:
        median = p16 = p84 = np.nan
    pooled, pooled_err, pooled_count = _pooled(fields, np.isin(status, ("ok", "flux against the step")))
    width = fields["gb_width_m"]
    scaled = (lambda v: None) if width is None else (lambda v: float(v * width))
    flux_mode = fields["flux_normal_m_per_s"] is not None
    method = (
        "percentiles over 'ok' boundaries; pooled: weighted regression through the origin of "
        + ("step on flux" if flux_mode else "gradient on step")
        + " over boundaries with a significant step"
    )
    return BoundaryDistribution(
        count_ok=int(ok.sum()),
        count_total=int(status.size),
        median_m_per_s=float(median),
        p16_m_per_s=float(p16),
        p84_m_per_s=float(p84),
        pooled_m_per_s=pooled,
        pooled_err_m_per_s=pooled_err,
        pooled_count=pooled_count,
        median_d_gb_m2_per_s=scaled(median),
        pooled_d_gb_m2_per_s=scaled(pooled),
        pooled_d_gb_err_m2_per_s=scaled(pooled_err),
        method=method,
    )


def _pooled(fields: dict[str, Any], chosen: np.ndarray) -> tuple[float, float, int]:
    """Fit one D_gb/delta to every chosen boundary (regression through the origin)."""
    step, step_err = fields["step"][chosen], fields["step_err"][chosen]
    flux = fields["flux_normal_m_per_s"]
    if flux is not None:
        # step = j_n / (D_gb/delta): regress step on flux, weights from the step errors.
        x, y, y_err = flux[chosen], step, step_err
    else:
        # gradient = (D_gb/delta / D_bulk) * step: regress gradient on step.
        x, y, y_err = step, fields["gradient_per_m"][chosen], fields["gradient_err_per_m"][chosen]
    good = np.isfinite(x) & np.isfinite(y) & (y_err > 0)
    x, y, w = x[good], y[good], 1.0 / y_err[good] ** 2
    if x.size == 0 or not np.sum(w * x * x) > 0:
        return float("nan"), float("nan"), 0
    slope = np.sum(w * x * y) / np.sum(w * x * x)
    slope_var = 1.0 / np.sum(w * x * x)
    if x.size > 1:
        # Real scatter between boundaries beyond counting noise widens the error.
        chi2_reduced = np.sum(w * (y - slope * x) ** 2) / (x.size - 1)
        slope_var *= max(chi2_reduced, 1.0)
    if flux is not None:
        value, value_err = 1.0 / slope, np.sqrt(slope_var) / slope**2
    else:
        d_bulk, d_bulk_err = fields["d_bulk_m2_per_s"], fields["d_bulk_err_m2_per_s"]
        value = d_bulk * slope
        value_err = np.hypot(d_bulk * np.sqrt(slope_var), slope * d_bulk_err)
    return float(value), float(abs(value_err)), int(x.size)
