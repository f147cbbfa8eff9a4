"""Analysis of simslab data: pure functions on arrays in SI units, with uncertainties, and figures.

Nothing here reads documents or talks to instruments: a reader (catalog, CLI, notebook)
hands arrays in, results come back as small frozen dataclasses with SI values, their
errors, a ``method`` string and ``to_dict()`` for JSON. Layering: analysis imports only
``simslab.physics`` and ``simslab.errors`` from the rest of simslab.

Tracer diffusion: ``isotope_fraction`` (maps), ``grain_boundary_diffusivities`` (every
boundary of a map), ``fit_gb_map`` (D_gb/delta from every pixel of a map at once),
``fit_erfc_profile`` (during exchange), ``fit_closed_system_diffusivity`` (storage or
anneal), ``fit_arrhenius``, the series model, Nernst-Einstein, Haven ratio and the quench
check. Operando: ``cycling_capacities``, ``image_state_of_charge``,
``roi_trajectories``, ``pixel_reversibility``, ``heterogeneity_index``, ``dose_map``.
Figures: ``plot_*`` write PNG and SVG and return the paths (matplotlib is imported on first
use of a figure name, so numerical work does not pay for it).
"""

import importlib
from typing import Any

from simslab.physics.diffusion_laws import BOLTZMANN_EV_PER_K, arrhenius

from .arrhenius_fit import ArrheniusFit, fit_arrhenius
from .closed_system import (
    ClosedSystemFit,
    DoseArrheniusFit,
    equivalent_time_s,
    fit_arrhenius_from_doses,
    fit_closed_system_diffusivity,
)
from .diffusion_models import (
    QuenchCheck,
    diffusion_length,
    haven_ratio,
    nernst_einstein_diffusivity,
    quench_check,
    quench_check_from_trace,
    series_effective_diffusivity,
)
from .dose_map import STATIC_LIMIT_IONS_PER_M2, DoseMap, ImagedArea, dose_map
from .erfc_profile import ErfcFit, MapProfile, erfc_profile, fit_erfc_profile, profile_flux, profile_from_map
from .grain_boundary import gb_diffusivity_over_width, grain_boundary_diffusivities
from .grain_boundary_results import BoundaryDistribution, BoundaryProfile, GrainBoundaryAnalysis, boundary_profile
from .grain_segmentation import detect_boundaries, label_grains, step_significance
from .isotope_map import IsotopeFraction, bin_counts, isotope_fraction
from .operando_cycling import (
    COULOMB_PER_UAH,
    ChargeWindows,
    CyclingCapacities,
    CyclingStep,
    StateOfCharge,
    charge_over_windows,
    cycling_capacities,
    image_state_of_charge,
)
from .operando_imaging import (
    HeterogeneityIndex,
    PixelReversibility,
    RoiTrajectories,
    heterogeneity_index,
    pixel_reversibility,
    roi_trajectories,
)
from .results import AnalysisResult
from .whole_map_fit import fit_gb_map
from .whole_map_geometry import BoundaryMap
from .whole_map_history import DiffusionHistory, HistorySegment
from .whole_map_model import MapDiffusivities, WholeMapModel
from .whole_map_results import ClassEstimate, MapFitRefused, WholeMapFit

__all__ = [
    # results
    "AnalysisResult",
    # isotope maps
    "IsotopeFraction",
    "isotope_fraction",
    "bin_counts",
    # grain boundaries
    "gb_diffusivity_over_width",
    "grain_boundary_diffusivities",
    "GrainBoundaryAnalysis",
    "BoundaryDistribution",
    "BoundaryProfile",
    "boundary_profile",
    "detect_boundaries",
    "label_grains",
    "step_significance",
    # whole-map fit of D_gb/delta
    "fit_gb_map",
    "WholeMapFit",
    "ClassEstimate",
    "MapFitRefused",
    "BoundaryMap",
    "DiffusionHistory",
    "HistorySegment",
    "MapDiffusivities",
    "WholeMapModel",
    # long-range diffusion
    "ErfcFit",
    "MapProfile",
    "erfc_profile",
    "fit_erfc_profile",
    "profile_flux",
    "profile_from_map",
    "ClosedSystemFit",
    "DoseArrheniusFit",
    "equivalent_time_s",
    "fit_closed_system_diffusivity",
    "fit_arrhenius_from_doses",
    # models
    "BOLTZMANN_EV_PER_K",
    "arrhenius",
    "series_effective_diffusivity",
    "diffusion_length",
    "nernst_einstein_diffusivity",
    "haven_ratio",
    "QuenchCheck",
    "quench_check",
    "quench_check_from_trace",
    "ArrheniusFit",
    "fit_arrhenius",
    # operando
    "COULOMB_PER_UAH",
    "CyclingStep",
    "CyclingCapacities",
    "ChargeWindows",
    "StateOfCharge",
    "cycling_capacities",
    "charge_over_windows",
    "image_state_of_charge",
    "RoiTrajectories",
    "roi_trajectories",
    "PixelReversibility",
    "pixel_reversibility",
    "HeterogeneityIndex",
    "heterogeneity_index",
    "STATIC_LIMIT_IONS_PER_M2",
    "ImagedArea",
    "DoseMap",
    "dose_map",
    # figures
    "PlotSeries",
    "ArrheniusSeries",
    "plot_fraction_map",
    "plot_profiles",
    "plot_boundary_profile",
    "plot_arrhenius",
    "plot_charge_discharge",
    "plot_image_grid",
    "plot_roi_trajectories",
    "plot_dose_map",
    "plot_whole_map_fit",
]

_FIGURES = {
    "PlotSeries": "figure_output",
    "ArrheniusSeries": "figures_diffusion",
    "plot_fraction_map": "figures_diffusion",
    "plot_profiles": "figures_diffusion",
    "plot_boundary_profile": "figures_diffusion",
    "plot_arrhenius": "figures_diffusion",
    "plot_charge_discharge": "figures_operando",
    "plot_image_grid": "figures_operando",
    "plot_roi_trajectories": "figures_operando",
    "plot_dose_map": "figures_operando",
    "plot_whole_map_fit": "figures_whole_map",
}


def __getattr__(name: str) -> Any:
    if name in _FIGURES:
        return getattr(importlib.import_module(f"{__name__}.{_FIGURES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
