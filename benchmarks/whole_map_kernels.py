"""Timings of the whole-map fit (analysis/whole_map_fit.py), as plain functions returning wall seconds.

``benchmarks.analysis_kernels`` times each function in ``KERNELS`` against the budget beside
it (``make bench``). The map is a twin image with the published defaults (512 x 206 pixels,
59 h exchange at 22 C, 10 min transfer, 5 h cryo image, 0.5 pA Bi+), made before the clock
starts; the benchmark imports the twin, the analysis never does.

- one forward solve: the window's quasi-static field for a new macroscopic profile with the
  factorisation of its operator reused (what every change of D_eff, the edges or the
  history costs); budget 0.1 s;
- one forward model at a new D_gb/delta (2 % away): every 2D solve warm-started by CG
  preconditioned with the previous factorisation, the 1D profiles, the lag correction, the
  cold tail and the blur; budget 1 s;
- the whole fit, errors and per-boundary comparison included; budget 30 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from threadpoolctl import threadpool_limits

from simslab.analysis import BoundaryMap, DiffusionHistory, MapDiffusivities, WholeMapModel, fit_gb_map
from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel
from simslab.physics.window_profile import WindowProfile
from simslab.simulators.parameters import (
    DiffusionParameters,
    ExchangeParameters,
    PolycrystalParameters,
    SimsImagingParameters,
)
from simslab.simulators.sims_image import SimsImager, tracer_yield_maps
from simslab.simulators.tracer_sample import TracerSample

__all__ = ["KERNELS", "forward_solve_512x206_s", "forward_model_new_k_512x206_s", "whole_fit_512x206_s"]

_ROOM_K = 295.15
_STEPS = ((59 * 3600.0, _ROOM_K, True), (600.0, _ROOM_K, False), (5 * 3600.0, 163.15, False))


def forward_solve_512x206_s() -> float:
    """Return the seconds of one quasi-static solve of the 512 x 206 window, factorisation reused (budget 0.1 s)."""
    case = _twin_map()
    model = _model(case)
    values = MapDiffusivities((case["k"],), case["d_bulk"], case["d_eff"])
    with threadpool_limits(limits=1, user_api="blas"):
        model.expected(values)  # factorises at this D_gb/delta
        ratio = np.asarray(model.frozen_state(values).ratio)
        columns = np.linspace(0.8, 0.4, model.shape[1])
        profile = WindowProfile(columns, 0.82, 0.39)
        start = time.perf_counter()
        model.window.field(ratio, profile)
        return time.perf_counter() - start


def forward_model_new_k_512x206_s() -> float:
    """Return the seconds of the whole forward model at a D_gb/delta 2 % from the last one (budget 1 s)."""
    case = _twin_map()
    model = _model(case)
    with threadpool_limits(limits=1, user_api="blas"):
        model.expected(MapDiffusivities((case["k"],), case["d_bulk"], case["d_eff"]))
        start = time.perf_counter()
        model.expected(MapDiffusivities((1.02 * case["k"],), case["d_bulk"], case["d_eff"]))
        return time.perf_counter() - start


def whole_fit_512x206_s() -> float:
    """Return the seconds of ``fit_gb_map`` on a 512 x 206 twin image (budget 30 s)."""
    case = _twin_map()
    start = time.perf_counter()
    fit_gb_map(
        case["i6"], case["i7"], case["boundaries"], case["pixel_m"], case["history"],
        d_bulk=case["d_bulk"], d_eff=case["d_eff"], psf_sigma_m=case["psf_m"],
    )
    return time.perf_counter() - start


@lru_cache(maxsize=1)
def _twin_map() -> dict:
    sample = TracerSample(PolycrystalParameters(), DiffusionParameters(), ExchangeParameters(), np.random.default_rng(0))
    for duration, temperature, immersed in _STEPS:
        sample.advance(duration, temperature, immersed)
    imaging = SimsImagingParameters()
    ny, nx = sample.grains.shape
    h = sample.pixel_size_m
    request = AcquisitionRequest(
        kind="image", region="window", masses=(MassChannel("6Li+", 6.015), MassChannel("7Li+", 7.016)),
        primary=Beam("Bi+", 30e3, 0.5e-12, (nx * h, ny * h)), pixels=(nx, ny), integration_s=5 * 3600.0,
        output_name="bench",
    )
    counts = SimsImager(imaging, np.random.default_rng(1)).acquire(
        request, tracer_yield_maps(sample.window_fraction, imaging), h, 0.0, 1.0
    ).counts
    d_bulk, k, d_eff = sample.diffusivities(_ROOM_K)
    return {
        "i6": counts["6Li+"].astype(float), "i7": counts["7Li+"].astype(float),
        "boundaries": BoundaryMap.from_labels(sample.grains.labels + 1), "pixel_m": h,
        "history": DiffusionHistory.from_steps(_STEPS, sample.window_origin_m),
        "d_bulk": d_bulk, "k": k, "d_eff": d_eff, "psf_m": imaging.psf_sigma_m,
    }


def _model(case: dict) -> WholeMapModel:
    return WholeMapModel(
        case["boundaries"], case["pixel_m"], case["history"], d_bulk_guess_m2_per_s=case["d_bulk"],
        k_guess_m_per_s=case["k"], bulk_activation_ev=0.30, gb_activation_ev=0.43, psf_sigma_m=case["psf_m"],
    )


KERNELS: dict[str, tuple[Callable[[], float], float]] = {
    "analysis.whole_map_forward_solve": (forward_solve_512x206_s, 0.1),
    "analysis.whole_map_forward_model_new_k": (forward_model_new_k_512x206_s, 1.0),
    "analysis.whole_map_fit": (whole_fit_512x206_s, 30.0),
}
"""Benchmark name -> (function returning seconds, budget in seconds); the names are those
``benchmarks.analysis_kernels`` reports (as unmeasured) while this module is missing."""
