"""Analysis and twin kernels: seconds per call against their budgets, beside a reference solve.

Analysis (``analysis_*``): D_gb/delta of every boundary of the twin's 512 x 206 map (budget
1 s) and the closed-system D_eff fit of two profiles six weeks apart (2 s), on inputs the twin
made beforehand (:mod:`.analysis_inputs`); and the whole-map fit's kernels (one forward solve
0.1 s, the whole fit 30 s) from ``benchmarks/whole_map_kernels.py`` when that module exists.
Twin (``twin_*``): the kernels of :mod:`benchmarks.twin_kernels` with their budgets (image
0.2 s, 4 h anneal of the 2D window 2 s, six weeks of the 1D profile 0.5 s).

Every figure's reference is :func:`~.machine_reference.reference_solve_s` timed in the same
rounds, so ratio = the kernel's cost in implicit diffusion steps on the map grid. The targets
are the absolute budgets (value < budget).
"""

from __future__ import annotations

import functools
import importlib
import logging
import time
from collections.abc import Callable, Mapping

from simslab.analysis import fit_closed_system_diffusivity, grain_boundary_diffusivities

from .analysis_inputs import twin_map, twin_profiles
from .harness import BenchConfig, Figure, FigureSpec, Target
from .machine_reference import reference_solve_s
from .timing import interleaved_medians
from .twin_kernels import KERNELS as TWIN_KERNELS

__all__ = [
    "ANALYSIS_KERNELS", "ANALYSIS_SPECS", "TWIN_SPECS", "measure_analysis", "measure_twin", "kernel_specs",
    "gb_every_boundary_s", "closed_system_fit_s",
]

logger = logging.getLogger(__name__)

Kernels = Mapping[str, tuple[Callable[[], float], float]]
"""Kernel name -> (function returning the seconds of one call, budget in s)."""

WHOLE_MAP_MODULE = "benchmarks.whole_map_kernels"
WHOLE_MAP_EXPECTED = {"analysis.whole_map_forward_solve": 0.1, "analysis.whole_map_fit": 30.0}
"""The whole-map figures the issue asks for, reported unmeasured while their module is missing."""


def gb_every_boundary_s() -> float:
    """Return the seconds to fit D_gb/delta at every boundary of the twin's map (budget 1 s)."""
    data = twin_map()
    started = time.perf_counter()
    grain_boundary_diffusivities(data.fraction, data.sigma, (data.pixel_size_m, data.pixel_size_m),
                                 data.d_bulk_m2_per_s, boundaries=data.boundaries)
    return time.perf_counter() - started


def closed_system_fit_s() -> float:
    """Return the seconds to fit D_eff to two profiles six weeks of storage apart (budget 2 s)."""
    data = twin_profiles()
    started = time.perf_counter()
    fit_closed_system_diffusivity(
        data.x_m, data.c_initial, data.x_m, data.c_final, time_s=data.time_s, temperature_k=data.temperature_k,
        sigma_initial=data.sigma_initial, sigma_final=data.sigma_final, sample_length_m=data.sample_length_m,
    )
    return time.perf_counter() - started


ANALYSIS_KERNELS: dict[str, tuple[Callable[[], float], float]] = {
    "analysis.gb_diffusivity_every_boundary_512x206": (gb_every_boundary_s, 1.0),
    "analysis.closed_system_deff_fit": (closed_system_fit_s, 2.0),
}


def kernel_specs(kernels: Mapping[str, float], prefix: str) -> dict[str, FigureSpec]:
    """Return kernel name -> its figure spec (``<prefix>..._s``, value < budget s), for name -> budget."""
    specs = {}
    for name, budget in kernels.items():
        stem = name.replace(".", "_")
        figure = f"{stem if stem.startswith(prefix) else prefix + stem}_s"
        specs[name] = FigureSpec(figure, "s", Target("value", "<", budget, "s"),
                                 f"{name}: seconds per call vs one prefactorised implicit step on the map grid")
    return specs


def measure_analysis(config: BenchConfig) -> list[Figure]:
    """Time the analysis kernels (and the whole-map ones, if present) beside the reference."""
    whole_map = _whole_map_kernels()
    kernels = {**ANALYSIS_KERNELS, **(whole_map or {})}
    twin_map()  # the inputs are made (and cached) before any clock starts
    twin_profiles()
    for function, _ in ANALYSIS_KERNELS.values():  # first calls pay imports and caches a campaign pays once
        function()
    figures = _measure(kernels, "analysis_", config.kernel_repeats)
    if whole_map is None:
        figures += [spec.missing(f"{WHOLE_MAP_MODULE} does not exist yet")
                    for spec in kernel_specs(WHOLE_MAP_EXPECTED, "analysis_").values()]
    return figures


def measure_twin(config: BenchConfig) -> list[Figure]:
    """Time the twin's kernels beside the reference (each call sets its own sample up, untimed)."""
    return _measure(TWIN_KERNELS, "twin_", config.kernel_repeats)


def _measure(kernels: Kernels, prefix: str, repeats: int) -> list[Figure]:
    specs = kernel_specs({name: budget for name, (_, budget) in kernels.items()}, prefix)
    reference_solve_s()  # factorises the reference system once, untimed
    medians = interleaved_medians({"reference": reference_solve_s,
                                   **{name: function for name, (function, _) in kernels.items()}}, repeats)
    reference = medians.pop("reference")
    for name, seconds in medians.items():
        logger.info("%s: %.3f s (budget %g s; reference solve %.4f s)", name, seconds, kernels[name][1], reference)
    return [specs[name].measured(seconds, reference) for name, seconds in medians.items()]


@functools.cache
def _whole_map_kernels() -> Kernels | None:
    """Return the whole-map fit's kernels, or None while their module does not exist."""
    try:
        module = importlib.import_module(WHOLE_MAP_MODULE)
    except ModuleNotFoundError as err:
        if err.name != WHOLE_MAP_MODULE:
            raise
        logger.warning("%s is missing: the whole-map figures are reported unmeasured", WHOLE_MAP_MODULE)
        return None
    return module.KERNELS


def _analysis_budgets() -> dict[str, float]:
    whole_map = _whole_map_kernels()
    extra = WHOLE_MAP_EXPECTED if whole_map is None else {name: budget for name, (_, budget) in whole_map.items()}
    return {**{name: budget for name, (_, budget) in ANALYSIS_KERNELS.items()}, **extra}


ANALYSIS_SPECS = tuple(kernel_specs(_analysis_budgets(), "analysis_").values())
TWIN_SPECS = tuple(kernel_specs({name: budget for name, (_, budget) in TWIN_KERNELS.items()}, "twin_").values())
