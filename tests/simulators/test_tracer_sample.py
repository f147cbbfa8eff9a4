"""The tracer sample: exchange, conservation, window placement, cold imaging, transients, resume."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter
from scipy.special import erfc

from simslab.physics.diffusion_laws import series_effective_diffusivity
from simslab.physics.finite_volume import GrainDiffusion2D
from simslab.simulators.parameters import DiffusionParameters, ExchangeParameters, PolycrystalParameters
from simslab.simulators.tracer_sample import TracerSample

ROOM_K, COLD_K, ANNEAL_K = 295.15, 163.15, 473.15
SMALL = PolycrystalParameters(window_pixels=(96, 48), window_size_m=(96e-6, 48e-6), window_offset_m=30e-6)


def _sample(params: PolycrystalParameters = SMALL, seed: int = 5) -> TracerSample:
    return TracerSample(params, DiffusionParameters(), ExchangeParameters(), np.random.default_rng(seed))


def _cool_down(start_k: float, sink_k: float, tau_s: float, calls: int, call_s: float) -> list[tuple[float, float, bool]]:
    """Short constant-temperature calls along a first-order approach, as a thermal model hands them over."""
    temperature, out = start_k, []
    for _ in range(calls):
        temperature = sink_k + (temperature - sink_k) * np.exp(-call_s / tau_s)
        out.append((call_s, temperature, False))
    return out


def test_exchange_profile_follows_erfc_with_the_series_d_eff() -> None:
    sample = _sample()
    sample.advance(59 * 3600, ROOM_K, immersed=True)
    x, c = sample.profile()
    d_eff = sample.diffusivities(ROOM_K)[2]
    length = np.sqrt(d_eff * 59 * 3600)
    c0, cs = SMALL.natural_fraction, ExchangeParameters().surface_fraction
    exact = c0 + (cs - c0) * erfc(x / (2 * length))
    # the brief's 1 %: the 1D grid and dose clock reach ~2e-4 of the exchanged range
    assert np.max(np.abs(c - exact)[x < 6 * length]) < 0.01 * (cs - c0)
    assert 1e-13 < d_eff < 4e-13  # ~2-3e-9 cm^2/s at 22 C (shared/physics.md: 3.0e-9)


def test_closed_sample_conserves_tracer_over_an_anneal_sequence() -> None:
    sample = _sample()
    sample.advance(20 * 3600, ROOM_K, immersed=True)
    start = sample.total_tracer()
    calls = [(600.0, ROOM_K, False)] + [(30.0, ROOM_K + 3.0 * i, False) for i in range(1, 60)]
    calls += [(4 * 3600.0, ANNEAL_K, False)] + _cool_down(ANNEAL_K, ROOM_K, 3000.0, 100, 60.0)
    calls += [(42 * 86400.0, ROOM_K, False), (5 * 3600.0, COLD_K, False)]
    for call in calls:
        sample.advance(*call)
    # the 1D stages conserve sum(w C) exactly; rounding of ~1e-13 per step remains (brief: 1e-9)
    assert sample.total_tracer() == pytest.approx(start, rel=1e-9)


def test_window_edges_sit_on_the_long_range_profile() -> None:
    sample = _sample()
    sample.advance(20 * 3600, ROOM_K, immersed=True)
    window = sample.window_fraction
    x, c = sample.profile()
    h = sample.pixel_size_m
    left = np.interp(SMALL.window_offset_m + h / 2, x, c)
    right = np.interp(SMALL.window_offset_m + (window.shape[1] - 0.5) * h, x, c)
    # edge columns, averaged over rows, follow the 1D profile half a pixel in; grain-scale
    # steps (~1e-2) and the half-pixel offset of a steep profile (~3e-3) set the tolerance
    assert window[:, 0].mean() == pytest.approx(left, abs=0.02)
    assert window[:, -1].mean() == pytest.approx(right, abs=0.02)
    assert window[:, 0].mean() - window[:, -1].mean() > 0.1  # the window sees the gradient


def test_cold_imaging_barely_changes_the_window() -> None:
    sample = _sample()
    sample.advance(20 * 3600, ROOM_K, immersed=True)
    before = sample.window_fraction
    sample.advance(5 * 3600, COLD_K, immersed=False)
    # at -110 C D_eff ~ 1e-18 m^2/s: far below counting noise (sigma_C ~ 7e-3 at 5e3 counts)
    assert np.max(np.abs(sample.window_fraction - before)) < 2e-3
    sample.advance(5 * 3600, ROOM_K, immersed=False)
    assert np.max(np.abs(sample.window_fraction - before)) > 5e-3  # warm, it moves


def _slab(x: np.ndarray, width: float, d: float, t: float) -> np.ndarray:
    """Exact 1D profile in a slab held at 1 (x = 0) and 0 (x = width) from C = 0 at t = 0."""
    n = np.arange(1, 400)[:, None]
    modes = np.sin(n * np.pi * x / width) / n * np.exp(-((n * np.pi / width) ** 2) * d * t)
    return 1 - x / width - (2 / np.pi) * modes.sum(axis=0)


def test_grain_resolved_window_follows_the_series_model_when_grains_are_small() -> None:
    # the default 500 um window of 16 um grains at 200 C (bulk and boundaries share the
    # resistance), sqrt(D_eff t) = 100 um: fit the row-averaged profile with the 1D slab solution
    sample = _sample(PolycrystalParameters(), seed=1)
    grains = sample.grains
    d_bulk, gb, _ = sample.diffusivities(ANNEAL_K)
    normal_x, normal_y = grains.boundary_normals_rad
    model = GrainDiffusion2D(grains.labels, grains.pixel_size_m, normal_x_rad=normal_x, normal_y_rad=normal_y)
    d_series = float(series_effective_diffusivity(d_bulk, gb, sample.series_grain_size_m))
    duration = (100e-6) ** 2 / d_series
    c = model.evolve(np.zeros(grains.shape), duration, 16, d_bulk, gb, lambda t: {"left": 1.0, "right": 0.0})
    width = grains.shape[1] * grains.pixel_size_m
    x = (np.arange(grains.shape[1]) + 0.5) * grains.pixel_size_m
    trial = np.geomspace(0.3, 3.0, 400) * d_series
    misfit = [np.sum((c.mean(axis=0) - _slab(x, width, d, duration)) ** 2) for d in trial]
    d_fit = trial[int(np.argmin(misfit))]
    # series model with the microstructure's own boundary spacing (calibrated where boundaries
    # limit, tested here where they share the resistance with the bulk): 10 %; three seeds
    # gave +2.6 %, -2.6 %, +9 %: one window of random grains is a finite sample
    assert d_fit == pytest.approx(d_series, rel=0.10)
    # the brick model with the mean intercept as l underestimates a random 2D tessellation
    d_brick = float(series_effective_diffusivity(d_bulk, gb, grains.statistics.mean_intercept_x_m))
    assert d_fit > 1.1 * d_brick


def test_lumped_thermal_transient_matches_call_by_call_evolution() -> None:
    calls = _cool_down(ANNEAL_K, ROOM_K, 3000.0, 120, 60.0) + [(600.0, ROOM_K, False)]
    calls += _cool_down(ROOM_K, COLD_K, 900.0, 60, 60.0) + [(5 * 3600.0, COLD_K, False)]
    lumped, exact = _sample(), _sample()
    for sample in (lumped, exact):
        sample.advance(20 * 3600, ROOM_K, immersed=True)
        sample.window_fraction
    for call in calls:
        lumped.advance(*call)
        exact.advance(*call)
        exact.window_fraction  # reading flushes: every call evolved with its own coefficients
    a, b = lumped.window_fraction, exact.window_fraction
    # measured: 3.7 % of the window's range (3e-4 absolute), 9 % of the grain-scale structure (rms),
    # far below counting noise (7e-3); a lumping that lost the transport integrals was off by ~30 %
    assert np.max(np.abs(a - b)) < 0.05 * np.ptp(b)
    structure_a, structure_b = a - uniform_filter(a, 15), b - uniform_filter(b, 15)
    assert np.std(structure_a - structure_b) < 0.15 * np.std(structure_b)


def test_snapshot_and_restore_resume_exactly() -> None:
    calls = [(3600.0, ROOM_K, True), (600.0, 350.0, False), (60.0, 320.0, False), (5 * 3600.0, COLD_K, False)]
    first = _sample()
    for call in calls[:2]:
        first.advance(*call)
    state = first.snapshot()  # with calls still pending for the window
    for call in calls[2:]:
        first.advance(*call)
    resumed = _sample(seed=99)  # other grains: restore brings the snapshot's back
    resumed.restore(state)
    for call in calls[2:]:
        resumed.advance(*call)
    assert np.array_equal(resumed.grains.labels, first.grains.labels)
    assert np.array_equal(resumed.window_fraction, first.window_fraction)
    assert np.array_equal(resumed.profile()[1], first.profile()[1])


def test_bad_calls_are_refused_with_the_field_named() -> None:
    sample = _sample()
    with pytest.raises(ValueError, match="duration_s"):
        sample.advance(-1.0, ROOM_K, False)
    with pytest.raises(ValueError, match="temperature_k"):
        sample.advance(1.0, 0.0, False)
