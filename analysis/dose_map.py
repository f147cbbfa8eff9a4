"""Primary-ion dose accumulated on the sample, per area, against the static-SIMS limit.

Each acquisition spreads its primary ions over its raster; rasters that overlap add up.
The static limit (~1e13 ions/cm^2 = 1e17 ions/m^2) is where the surface is no longer the
one being measured; operando series reach ~1.2e14 ions/cm^2, so dose is budgeted per region.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from simslab.errors import ValidationError

from .input_checks import positive
from .results import AnalysisResult

__all__ = ["ImagedArea", "DoseMap", "dose_map", "STATIC_LIMIT_IONS_PER_M2"]

STATIC_LIMIT_IONS_PER_M2 = 1.0e17


@dataclasses.dataclass(frozen=True)
class ImagedArea:
    """One acquisition's raster on the sample: lower-left corner and size in m, ions delivered."""

    x_m: float
    y_m: float
    width_m: float
    height_m: float
    primary_ions: float

    @property
    def dose_ions_per_m2(self) -> float:
        """Primary-ion dose of this acquisition over its raster."""
        return self.primary_ions / (self.width_m * self.height_m)


@dataclasses.dataclass(frozen=True)
class DoseMap(AnalysisResult):
    """Accumulated dose (ions/m^2) on a grid: ``dose_ions_per_m2[iy, ix]`` at (x_m[ix], y_m[iy])."""

    dose_ions_per_m2: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    max_dose_ions_per_m2: float
    static_limit_ions_per_m2: float
    fraction_over_limit: float
    method: str


def dose_map(
    areas: Sequence[ImagedArea],
    extent_m: tuple[float, float, float, float],
    pixel_m: float,
    *,
    static_limit_ions_per_m2: float = STATIC_LIMIT_IONS_PER_M2,
) -> DoseMap:
    """Return the dose map over ``extent_m`` = (x0, x1, y0, y1) on a grid of ``pixel_m``.

    Each grid cell receives the dose of every area by the fraction of the cell it covers,
    so the map conserves the delivered ions. ``fraction_over_limit``: share of the dosed
    cells above the static limit.
    """
    x0, x1, y0, y1 = extent_m
    pixel_m = float(positive("dose_map", "pixel_m", pixel_m))
    if not (x1 > x0 and y1 > y0):
        raise ValidationError("dose_map", "extent_m", extent_m, "(x0, x1, y0, y1) with x1 > x0 and y1 > y0")
    x_edges = x0 + pixel_m * np.arange(int(round((x1 - x0) / pixel_m)) + 1)
    y_edges = y0 + pixel_m * np.arange(int(round((y1 - y0) / pixel_m)) + 1)
    dose = np.zeros((y_edges.size - 1, x_edges.size - 1))
    for area in areas:
        if area.width_m <= 0 or area.height_m <= 0 or area.primary_ions < 0:
            raise ValidationError("dose_map", "areas", area, "positive width and height, primary_ions >= 0")
        cover_x = _overlap(x_edges, area.x_m, area.x_m + area.width_m) / pixel_m
        cover_y = _overlap(y_edges, area.y_m, area.y_m + area.height_m) / pixel_m
        dose += area.dose_ions_per_m2 * np.outer(cover_y, cover_x)
    dosed = dose > 0
    over = float(np.mean(dose[dosed] > static_limit_ions_per_m2)) if dosed.any() else 0.0
    return DoseMap(
        dose_ions_per_m2=dose,
        x_m=0.5 * (x_edges[1:] + x_edges[:-1]),
        y_m=0.5 * (y_edges[1:] + y_edges[:-1]),
        max_dose_ions_per_m2=float(dose.max()) if dose.size else 0.0,
        static_limit_ions_per_m2=static_limit_ions_per_m2,
        fraction_over_limit=over,
        method="primary ions / raster area, summed over acquisitions with fractional cell coverage",
    )


def _overlap(edges: np.ndarray, low: float, high: float) -> np.ndarray:
    """Return the length of [low, high] inside each interval between consecutive edges.

    Slivers below 1e-9 of a cell (rounding where a raster edge meets a cell edge) count as none.
    """
    overlap = np.minimum(edges[1:], high) - np.maximum(edges[:-1], low)
    return np.where(overlap > 1e-9 * np.diff(edges), overlap, 0.0)
