"""Results of a campaign's analysis: what ``simslab analyze --json`` prints and the report shows.

Each result is an :class:`AnalysisResult` (SI values, their errors, a ``method``). Fields marked
report-only (the arrays behind the figures, the records read from the catalog) stay out of
``to_dict()``: the JSON holds numbers, the report holds pictures.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .dose_map import DoseMap
from .image_analysis import ImageAnalysis, ImageFigureData
from .long_range import LongRangeAnalysis
from .operando_cycling import CyclingCapacities, StateOfCharge
from .operando_imaging import HeterogeneityIndex, PixelReversibility, RoiTrajectories
from .read_campaign import CampaignRecord
from .read_operando import OperandoRecord
from .results import AnalysisResult, to_plain

__all__ = [
    "report_only",
    "GbEstimate",
    "HavenRatio",
    "DiffusionAnalysis",
    "WindowSeries",
    "OperandoAnalysis",
    "CampaignAnalysis",
]


def report_only(**kwargs: Any) -> Any:
    """A dataclass field kept for figures, left out of ``to_dict()``."""
    return dataclasses.field(repr=False, compare=False, metadata={"report_only": True}, **kwargs)


class _Public(AnalysisResult):
    """An AnalysisResult whose report-only fields stay out of ``to_dict()``."""

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        return {f.name: to_plain(getattr(self, f.name), arrays) for f in dataclasses.fields(self)
                if not f.metadata.get("report_only")}


@dataclasses.dataclass(frozen=True)
class GbEstimate(AnalysisResult):
    """The campaign's D_gb/delta (m/s) and D_gb (m^2/s) at ``temperature_k``, from the method named."""

    value_m_per_s: float
    err_m_per_s: float
    d_gb_m2_per_s: float
    d_gb_err_m2_per_s: float
    temperature_k: float
    image_uid: str
    reliable: bool
    method: str


@dataclasses.dataclass(frozen=True)
class HavenRatio(AnalysisResult):
    """H_R = D* / D_sigma at ``temperature_k``: tracer D_eff over the Nernst-Einstein D of the given conductivity."""

    temperature_k: float
    conductivity_s_per_m: float
    carrier_density_per_m3: float
    d_sigma_m2_per_s: float
    d_tracer_m2_per_s: float
    d_tracer_err_m2_per_s: float
    haven_ratio: float
    haven_ratio_err: float
    method: str


@dataclasses.dataclass(frozen=True)
class DiffusionAnalysis(_Public):
    """The tracer-diffusion part of a campaign: long-range fits, every map, D_gb/delta, Haven ratio."""

    settings: dict[str, Any]
    long_range: LongRangeAnalysis | None
    images: tuple[ImageAnalysis, ...]
    d_gb_over_width: GbEstimate | None
    series_grain_size_m: float | None
    series_grain_size_err_m: float | None
    haven: HavenRatio | None
    method: str
    figure_data: tuple[ImageFigureData, ...] = report_only(default=())


@dataclasses.dataclass(frozen=True)
class WindowSeries(AnalysisResult):
    """One electrode window over the run: intensities per region of interest and mass, at each image's time and SoC."""

    region: str
    trajectories: RoiTrajectories
    time_s: np.ndarray
    soc: np.ndarray
    roi_method: str
    method: str


@dataclasses.dataclass(frozen=True)
class OperandoAnalysis(_Public):
    """An operando run: capacities, state of charge of each image, windows, reversibility, dose."""

    uid: str
    label: str
    cell_id: str
    steps_source: str
    capacities: CyclingCapacities
    capacity_for_soc_c: float
    capacity_source: str
    image_regions: tuple[str, ...]
    image_reasons: tuple[str, ...]
    image_soc: StateOfCharge
    windows: tuple[WindowSeries, ...]
    reversibility: PixelReversibility | None
    heterogeneity: HeterogeneityIndex | None
    response_region: str
    response_mass: str
    refused_images: int
    method: str
    record: OperandoRecord | None = report_only(default=None)


@dataclasses.dataclass(frozen=True)
class CampaignAnalysis(_Public):
    """Everything the analysis says about a campaign (or one run of it)."""

    campaign_id: str
    description: str
    simulated: bool
    runs_analysed: tuple[str, ...]
    runs_skipped: tuple[str, ...]
    diffusion: DiffusionAnalysis | None
    operando: tuple[OperandoAnalysis, ...]
    dose: DoseMap | None
    quench_flags: tuple[str, ...]
    elapsed_s: float
    method: str
    record: CampaignRecord | None = report_only(default=None)
