"""Realistic inputs for the analysis benchmarks, made once by the twin (not timed).

The map: the twin's LLTO sample after a 59 h exchange at 22 C, imaged for 5 h (6Li+ and
7Li+, 512 x 206 pixels, Poisson counts), turned into C and sigma_C, with the boundary pixels
of the twin's grains as the registered optical image would give them. The profiles: the
sample's long-range profile right after the exchange and after six weeks of storage at
22 C, sampled like a line scan (400 points over the first 2 mm) with binomial counting noise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from simslab.analysis import isotope_fraction
from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel
from simslab.simulators.parameters import (
    DiffusionParameters,
    ExchangeParameters,
    PolycrystalParameters,
    SimsImagingParameters,
)
from simslab.simulators.sims_image import SimsImager, tracer_yield_maps
from simslab.simulators.tracer_sample import TracerSample

__all__ = ["TwinMap", "TwinProfiles", "twin_map", "twin_profiles"]

ROOM_K = 295.15
EXCHANGE_S = 59 * 3600.0
STORAGE_S = 42 * 86400.0
PROFILE_POINTS = 400
PROFILE_END_M = 2e-3
LINE_SCAN_COUNTS = 5000  # 6Li + 7Li counts per profile point


@dataclass(frozen=True)
class TwinMap:
    """A C map of the twin: fraction and sigma (ny, nx), boundary pixels, pixel side (m), D_bulk (m^2/s)."""

    fraction: np.ndarray
    sigma: np.ndarray
    boundaries: np.ndarray
    pixel_size_m: float
    d_bulk_m2_per_s: float


@dataclass(frozen=True)
class TwinProfiles:
    """Two measured long-range profiles of a closed sample and the history between them (SI)."""

    x_m: np.ndarray
    c_initial: np.ndarray
    sigma_initial: np.ndarray
    c_final: np.ndarray
    sigma_final: np.ndarray
    time_s: np.ndarray
    temperature_k: np.ndarray
    sample_length_m: float


@functools.cache
def twin_map() -> TwinMap:
    """Return the imaged map of the exchanged sample (made on first call, then cached)."""
    sample = _exchanged_sample()
    fraction = sample.window_fraction
    ny, nx = fraction.shape
    request = AcquisitionRequest(
        kind="image", region="window", masses=(MassChannel("6Li+", 6.015), MassChannel("7Li+", 7.016)),
        primary=Beam("Bi+", 30e3, 0.5e-12, (nx * sample.pixel_size_m, ny * sample.pixel_size_m)),
        pixels=(nx, ny), integration_s=5 * 3600.0, output_name="bench-map",
    )
    params = SimsImagingParameters()
    counts = SimsImager(params, np.random.default_rng(2)).acquire(
        request, tracer_yield_maps(fraction, params), sample.pixel_size_m, 0.0, request.integration_s
    ).counts
    measured = isotope_fraction(counts["6Li+"], counts["7Li+"])
    labels = sample.grains.labels
    boundaries = np.zeros(labels.shape, dtype=bool)
    boundaries[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    boundaries[:-1, :] |= labels[:-1, :] != labels[1:, :]
    d_bulk = sample.diffusivities(ROOM_K)[0]
    return TwinMap(measured.fraction, measured.sigma, boundaries, sample.pixel_size_m, d_bulk)


@functools.cache
def twin_profiles() -> TwinProfiles:
    """Return the line-scan profiles before and after six weeks of storage (made once, cached)."""
    sample = _exchanged_sample()
    x_model, c_exchanged = sample.profile()
    stored = _exchanged_sample(storage_s=STORAGE_S)
    c_stored = stored.profile()[1]
    x = np.linspace(5e-6, PROFILE_END_M, PROFILE_POINTS)
    rng = np.random.default_rng(3)
    c0, sigma0 = _line_scan(np.interp(x, x_model, c_exchanged), rng)
    c1, sigma1 = _line_scan(np.interp(x, x_model, c_stored), rng)
    return TwinProfiles(x, c0, sigma0, c1, sigma1, np.array([0.0, STORAGE_S]), np.array([ROOM_K, ROOM_K]),
                        sample.sample.length_m)


@functools.cache
def _exchanged_sample(storage_s: float = 0.0) -> TracerSample:
    sample = TracerSample(PolycrystalParameters(), DiffusionParameters(), ExchangeParameters(), np.random.default_rng(0))
    sample.advance(EXCHANGE_S, ROOM_K, immersed=True)
    if storage_s:
        sample.advance(storage_s, ROOM_K, immersed=False)
    return sample


def _line_scan(truth: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Binomial 6Li counts out of LINE_SCAN_COUNTS per point: (C, sigma_C)."""
    c = rng.binomial(LINE_SCAN_COUNTS, np.clip(truth, 0.0, 1.0)) / LINE_SCAN_COUNTS
    regularised = (c * LINE_SCAN_COUNTS + 0.5) / (LINE_SCAN_COUNTS + 1.0)
    return c, np.sqrt(regularised * (1.0 - regularised) / LINE_SCAN_COUNTS)
