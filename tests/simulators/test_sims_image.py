"""SIMS image formation: counts from the physical estimate, Poisson noise, seeds, kinds, imaging temperature."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.constants import elementary_charge

from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel
from simslab.simulators.parameters import DiffusionParameters, ExchangeParameters, PolycrystalParameters, SimsImagingParameters
from simslab.simulators.sims_image import SimsImager, tracer_yield_maps
from simslab.simulators.tracer_sample import TracerSample

PARAMS = SimsImagingParameters()
NATIVE_M = 500e-6 / 512
LI6, LI7 = MassChannel("6Li+", 6.015), MassChannel("7Li+", 7.016)
NI, TI = MassChannel("58Ni+", 57.935), MassChannel("48Ti+", 47.948)
BI = Beam("Bi+", 30e3, 0.5e-12, (500e-6, 200e-6))


def _request(kind: str = "image", masses=(LI6, LI7), pixels=(512, 206), integration_s: float = 5 * 3600, **extra) -> AcquisitionRequest:
    return AcquisitionRequest(kind=kind, region="window", masses=masses, primary=BI, pixels=pixels, integration_s=integration_s, output_name="t", **extra)


def _maps(fraction: float = 0.3) -> dict[str, np.ndarray]:
    return tracer_yield_maps(np.full((206, 512), fraction), PARAMS)


def test_default_image_gives_the_physical_count_estimate() -> None:
    result = SimsImager(PARAMS, np.random.default_rng(0)).acquire(_request(), _maps(), NATIVE_M, 0.0, 18000.0)
    primary_per_pixel = 0.5e-12 * 18000 / (elementary_charge * 512 * 206)  # ~5.3e5 (brief: ~5e5)
    assert result.primary_ions == pytest.approx(0.5e-12 * 18000 / elementary_charge)
    li = result.counts["6Li+"].astype(float) + result.counts["7Li+"]
    # N = primary per pixel x Li useful yield 1e-2 = 5.3e3 counts per pixel; the mean of
    # 1e5 Poisson pixels is within 0.1 % of it
    assert li.mean() == pytest.approx(primary_per_pixel * 1e-2, rel=1e-3)
    assert result.counts["6Li+"].mean() / li.mean() == pytest.approx(0.3, rel=1e-3)
    assert result.counts["6Li+"].dtype == np.uint32 and result.counts["6Li+"].shape == (206, 512)


def test_counts_are_poisson_and_isotope_fraction_has_counting_error() -> None:
    result = SimsImager(PARAMS, np.random.default_rng(1)).acquire(_request(), _maps(0.3), NATIVE_M, 0.0, 1.0)
    six, seven = (result.counts[k].astype(float) for k in ("6Li+", "7Li+"))
    # variance / mean = 1 for Poisson; over 1e5 pixels the ratio scatters by sqrt(2/N) ~ 0.5 %
    assert six.var() / six.mean() == pytest.approx(1.0, abs=0.03)
    c = six / (six + seven)
    n = (six + seven).mean()
    # sigma_C = sqrt(C (1 - C) / N) (shared/physics.md): ~6e-3 at 5e3 counts
    assert c.std() == pytest.approx(np.sqrt(0.3 * 0.7 / n), rel=0.03)


def test_same_seed_same_image_other_seed_other_noise() -> None:
    a = SimsImager(PARAMS, np.random.default_rng(3)).acquire(_request(), _maps(), NATIVE_M, 0.0, 1.0)
    b = SimsImager(PARAMS, np.random.default_rng(3)).acquire(_request(), _maps(), NATIVE_M, 0.0, 1.0)
    c = SimsImager(PARAMS, np.random.default_rng(4)).acquire(_request(), _maps(), NATIVE_M, 0.0, 1.0)
    assert np.array_equal(a.counts["6Li+"], b.counts["6Li+"])
    assert not np.array_equal(a.counts["6Li+"], c.counts["6Li+"])


def test_mass_missing_from_the_maps_gives_background_only() -> None:
    params = SimsImagingParameters(background_counts_per_pixel=2.0)
    result = SimsImager(params, np.random.default_rng(0)).acquire(_request(masses=(LI6, NI)), _maps(), NATIVE_M, 0.0, 1.0)
    assert result.counts["58Ni+"].mean() == pytest.approx(2.0, rel=0.02)


def test_coarser_pixels_collect_more_counts_each_and_blur_is_the_beam_spot() -> None:
    fraction = np.full((206, 512), 0.1)
    fraction[:, 256:] = 0.9  # a step at x = 250 um
    maps = tracer_yield_maps(fraction, PARAMS)
    imager = SimsImager(PARAMS, np.random.default_rng(0))
    fine = imager.acquire(_request(), maps, NATIVE_M, 0.0, 1.0)
    coarse = imager.acquire(_request(pixels=(128, 103)), maps, NATIVE_M, 0.0, 1.0)
    total_fine = sum(fine.counts[k].astype(float).sum() for k in ("6Li+", "7Li+"))
    total_coarse = sum(coarse.counts[k].astype(float).sum() for k in ("6Li+", "7Li+"))
    assert total_coarse == pytest.approx(total_fine, rel=1e-3)  # same dose, same secondary ions
    assert coarse.counts["6Li+"].mean() == pytest.approx(8 * fine.counts["6Li+"].mean(), rel=1e-3)
    row = fine.counts["6Li+"].astype(float).mean(axis=0)
    # the 0.4 um spot spreads the step over ~one 0.98 um pixel on each side, not more
    assert row[250] == pytest.approx(row[:200].mean(), rel=0.02)
    assert row[262] == pytest.approx(row[312:].mean(), rel=0.02)


def test_line_scan_depth_profile_and_spectrum() -> None:
    imager = SimsImager(PARAMS, np.random.default_rng(0))
    line = imager.acquire(_request("line_scan", pixels=(100, 1)), _maps(), NATIVE_M, 0.0, 1.0)
    assert line.counts["6Li+"].shape == (100,)
    depth = imager.acquire(
        _request("depth_profile", pixels=(64, 64), integration_s=600.0, sputter=Beam("Cs+", 2e3, 40e-9, (100e-6, 100e-6)),
                 sputter_cycles=10, sputter_time_s=50.0),
        _maps(), NATIVE_M, 0.0, 1.0,
    )
    assert depth.counts["6Li+"].shape == (10,)
    assert depth.depth_m == pytest.approx(1e-9 * 50.0 * np.arange(1, 11))  # 500 nm after 10 cycles
    per_frame = 0.5e-12 * 60 / elementary_charge * 1e-2 * 0.3  # Ip t / e x Y x C per 60 s frame
    assert depth.counts["6Li+"].mean() == pytest.approx(per_frame, rel=0.01)
    spectrum = imager.acquire(_request("spectrum", masses=(LI6, LI7), pixels=(64, 64)), _maps(), NATIVE_M, 0.0, 1.0)
    axis, counts = spectrum.mass_axis_u, spectrum.counts["spectrum"]
    assert axis.shape == counts.shape
    assert abs(axis[np.argmax(counts)] - 7.016) < 0.01  # 7Li+ is the larger peak at C = 0.3
    near_six = np.abs(axis - 6.015) < 0.05
    assert counts[near_six].sum() / counts.sum() == pytest.approx(0.3, rel=0.01)


def test_bad_request_is_refused_naming_the_field() -> None:
    imager = SimsImager(PARAMS, np.random.default_rng(0))
    with pytest.raises(Exception, match="integration_s"):
        imager.acquire(_request(integration_s=0.0), _maps(), NATIVE_M, 0.0, 1.0)
    with pytest.raises(Exception, match="pixels"):
        imager.acquire(_request(pixels=(0, 10)), _maps(), NATIVE_M, 0.0, 1.0)


def _grain_contrast_after(temperature_k: float) -> tuple[float, float]:
    """Image a window whose grains alternate 0.6 / 0.2 after 5 h at a temperature: (contrast, noise)."""
    params = PolycrystalParameters(window_pixels=(96, 48), window_size_m=(96e-6, 48e-6))
    sample = TracerSample(params, DiffusionParameters(), ExchangeParameters(), np.random.default_rng(2))
    state = sample.snapshot()
    odd = sample.grains.labels % 2 == 1
    state["window"] = np.where(odd, 0.6, 0.2)
    state["line"] = np.full_like(state["line"], 0.4)
    sample.restore(state)
    sample.advance(5 * 3600, temperature_k, immersed=False)
    request = _request(pixels=(96, 48), masses=(LI6, LI7))
    request = AcquisitionRequest(**{**request.__dict__, "primary": Beam("Bi+", 30e3, 0.5e-12, (96e-6, 48e-6))})
    maps = tracer_yield_maps(sample.window_fraction, PARAMS)
    counts = SimsImager(PARAMS, np.random.default_rng(0)).acquire(request, maps, sample.pixel_size_m, 0.0, 1.0).counts
    six, seven = counts["6Li+"].astype(float), counts["7Li+"].astype(float)
    c = six / (six + seven)
    inner = np.zeros_like(odd)
    inner[:, 10:-10] = True
    interior = inner & ~sample.grains.boundary_mask
    contrast = c[interior & odd].mean() - c[interior & ~odd].mean()
    return contrast, float(np.sqrt(0.24 / (six + seven).mean() / (interior.sum() / 2)))


def test_cold_imaging_keeps_grain_contrast_and_warm_imaging_smears_it() -> None:
    cold, noise = _grain_contrast_after(163.15)
    # at -110 C boundaries pass ~nothing in 5 h: the 0.4 contrast stays within a few x the
    # counting error of the mean (~1e-4) plus the ~1 um beam and pixel blur at the boundaries
    assert cold == pytest.approx(0.4, abs=0.01)
    warm, _ = _grain_contrast_after(295.15)
    assert warm < 0.3  # at 22 C the boundaries exchange over 5 h: contrast decays visibly
