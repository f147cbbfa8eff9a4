"""Timings of the twin's physics kernels, as plain functions returning wall seconds.

The benchmark harness calls each function in ``KERNELS`` and compares the seconds with the
budget beside it (what a simulated campaign can afford per call). Setup (drawing the grains,
exchanging the sample) is done before the clock starts; the first LU factorisation of a new
temperature is part of what is timed, since a campaign pays it once per anneal.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel
from simslab.simulators.parameters import DiffusionParameters, ExchangeParameters, PolycrystalParameters, SimsImagingParameters
from simslab.simulators.sims_image import SimsImager, tracer_yield_maps
from simslab.simulators.tracer_sample import TracerSample

__all__ = ["KERNELS", "image_four_masses_s", "window_anneal_4h_200c_s", "profile_six_weeks_storage_s"]

_ROOM_K = 295.15


def image_four_masses_s() -> float:
    """Return the seconds to form a 512 x 206 image of four masses with Poisson noise (budget 0.2 s)."""
    params = SimsImagingParameters()
    fraction = np.random.default_rng(0).uniform(0.07, 0.9, (206, 512))
    maps = tracer_yield_maps(fraction, params)
    maps["58Ni+"] = np.full((206, 512), 2e-3)
    maps["48Ti+"] = np.full((206, 512), 3e-3)
    request = AcquisitionRequest(
        kind="image",
        region="window",
        masses=(MassChannel("6Li+", 6.015), MassChannel("7Li+", 7.016), MassChannel("58Ni+", 57.935), MassChannel("48Ti+", 47.948)),
        primary=Beam("Bi+", 30e3, 0.5e-12, (500e-6, 200e-6)),
        pixels=(512, 206),
        integration_s=5 * 3600.0,
        output_name="bench",
    )
    imager = SimsImager(params, np.random.default_rng(1))
    start = time.perf_counter()
    imager.acquire(request, maps, 500e-6 / 512, 0.0, 18000.0)
    return time.perf_counter() - start


def window_anneal_4h_200c_s() -> float:
    """Return the seconds to advance the exchanged 512 x 206 window through 4 h at 200 C (budget 2 s)."""
    sample = _exchanged_sample()
    start = time.perf_counter()
    sample.advance(4 * 3600.0, 473.15, immersed=False)
    sample.window_fraction  # the window evolves when read
    return time.perf_counter() - start


def profile_six_weeks_storage_s() -> float:
    """Return the seconds to advance the long-range profile through six weeks of storage (budget 0.5 s)."""
    sample = _exchanged_sample()
    start = time.perf_counter()
    sample.advance(42 * 86400.0, _ROOM_K, immersed=False)
    return time.perf_counter() - start


def _exchanged_sample() -> TracerSample:
    sample = TracerSample(PolycrystalParameters(), DiffusionParameters(), ExchangeParameters(), np.random.default_rng(0))
    sample.advance(59 * 3600.0, _ROOM_K, immersed=True)
    sample.window_fraction
    return sample


KERNELS: dict[str, tuple[Callable[[], float], float]] = {
    "twin.image_512x206_four_masses": (image_four_masses_s, 0.2),
    "twin.window_anneal_4h_200c": (window_anneal_4h_200c_s, 2.0),
    "twin.profile_six_weeks_storage": (profile_six_weeks_storage_s, 0.5),
}
"""Benchmark name -> (function returning seconds, budget in seconds)."""
