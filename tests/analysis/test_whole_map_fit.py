"""The whole-map fit of D_gb/delta on twin images with known truth, and its forward model's geometry.

Twin images (tests may import the twin, the analysis never does): the published defaults
(59 h exchange at 22 C, 10 min transfer, 5 h cryo image; 0.5 pA Bi+ for 5 h over 512 x 206
pixels, ~5300 Li counts per pixel), the grain-boundary diffusivity's prefactor scaled to give
three D_gb/delta over a decade. Most maps are a quarter of the window (256 x 103 pixels) at
the same counts per pixel, one is full size.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest

from simslab.analysis import (
    BoundaryMap,
    DiffusionHistory,
    HistorySegment,
    MapFitRefused,
    fit_gb_map,
    plot_whole_map_fit,
)
from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel
from simslab.analysis.isotope_map import isotope_fraction
from simslab.analysis.whole_map_geometry import FOUND_IN_C
from simslab.errors import ValidationError
from simslab.physics.finite_volume import GrainDiffusion2D
from simslab.simulators.parameters import (
    ArrheniusLaw,
    DiffusionParameters,
    ExchangeParameters,
    PolycrystalParameters,
    SimsImagingParameters,
)
from simslab.simulators.sims_image import SimsImager, tracer_yield_maps
from simslab.simulators.tracer_sample import TracerSample

ROOM_K = 295.15
CRYO_K = 163.15
H = PolycrystalParameters().window_size_m[0] / PolycrystalParameters().window_pixels[0]  # 0.977 um
STEPS = ((59 * 3600.0, ROOM_K, True), (600.0, ROOM_K, False), (5 * 3600.0, CRYO_K, False))
FULL_PIXELS = 512 * 206
DEFAULT_GB = DiffusionParameters().grain_boundary


@functools.lru_cache(maxsize=8)
def twin_map(gb_scale: float = 1.0, shape: tuple[int, int] = (103, 256), seed: int = 1, dose: float = 1.0,
             steps: tuple = STEPS) -> dict:
    """A twin image with its truth: D_gb prefactor x gb_scale; counts per pixel as the full default image x dose."""
    ny, nx = shape
    sample = TracerSample(
        PolycrystalParameters(window_size_m=(nx * H, ny * H), window_pixels=(nx, ny)),
        DiffusionParameters(grain_boundary=ArrheniusLaw(
            prefactor_m2_per_s=DEFAULT_GB.prefactor_m2_per_s * gb_scale, activation_ev=DEFAULT_GB.activation_ev)),
        ExchangeParameters(),
        np.random.default_rng(seed),
    )
    for duration, temperature, immersed in steps:
        sample.advance(duration, temperature, immersed)
    imaging = SimsImagingParameters()
    request = AcquisitionRequest(
        kind="image", region="window", masses=(MassChannel("6Li+", 6.015), MassChannel("7Li+", 7.016)),
        primary=Beam("Bi+", 30e3, 0.5e-12 * dose * nx * ny / FULL_PIXELS, (nx * H, ny * H)), pixels=(nx, ny),
        integration_s=5 * 3600.0, output_name="test",
    )
    counts = SimsImager(imaging, np.random.default_rng(seed + 100)).acquire(
        request, tracer_yield_maps(sample.window_fraction, imaging), H, 0.0, 1.0
    ).counts
    d_bulk, k, d_eff = sample.diffusivities(ROOM_K)
    return {
        "i6": counts["6Li+"].astype(float), "i7": counts["7Li+"].astype(float), "labels": sample.grains.labels + 1,
        "history": DiffusionHistory.from_steps(steps, sample.window_origin_m), "d_bulk": d_bulk, "k": k,
        "d_eff": d_eff, "psf_m": imaging.psf_sigma_m,
    }


def fit_twin(case: dict, **options):
    options = {"d_bulk": case["d_bulk"], "d_eff": case["d_eff"], "psf_sigma_m": case["psf_m"], **options}
    boundaries = options.pop("boundaries", None) or BoundaryMap.from_labels(case["labels"])
    return fit_gb_map(case["i6"], case["i7"], boundaries, H, case["history"], **options)


# --- the forward model's geometry --------------------------------------------------------------


@pytest.mark.parametrize("angle_deg", [0.0, 20.0, 45.0])
def test_straight_boundary_at_any_angle_matches_the_exact_thin_interface_solution(angle_deg: float) -> None:
    # the fit's operator: faces from the label map, normals estimated by BoundaryMap (one line
    # per grain pair), conductance k per unit of true boundary length; held at the exact
    # solution on all four edges, its steady state must be that solution
    n, d_bulk = 96, 2.6e-12
    theta = np.deg2rad(angle_deg)
    length = 200.0 * H  # C falls by 1 over 200 pixels of bulk
    k = d_bulk / (length * 0.3)  # exact step 0.3, k h / D_bulk = 0.017: boundary-limited faces
    centre = (n / 2 + 0.3) * H  # off the pixel centres

    def exact(x, y):
        u = (x - centre) * np.cos(theta) + (y - centre) * np.sin(theta)
        return 0.5 - u / length - 0.15 * np.sign(u), u

    iy, jx = np.mgrid[0:n, 0:n]
    c_exact, u = exact((jx + 0.5) * H, (iy + 0.5) * H)
    boundaries = BoundaryMap.from_labels((u > 0).astype(int) + 1)
    along = (np.arange(n) + 0.5) * H
    edges = {
        "left": exact(0.0, along)[0], "right": exact(n * H, along)[0],
        "top": exact(along, 0.0)[0], "bottom": exact(along, n * H)[0],
    }
    model = GrainDiffusion2D(
        boundaries.labels, H, normal_x_rad=boundaries.normal_x_rad, normal_y_rad=boundaries.normal_y_rad,
        dirichlet_edges=("left", "right", "top", "bottom"),
    )
    c = model.steady_state(d_bulk, k, edges)
    r = np.hypot((jx + 0.5) * H - centre, (iy + 0.5) * H - centre)
    use = (r < 32 * H) & (np.abs(u) > 2 * H)  # away from the staircase's pixel-scale disturbance
    design = np.column_stack([np.ones(use.sum()), u[use], (u[use] > 0).astype(float)])
    _, slope, step = np.linalg.lstsq(design, c[use], rcond=None)[0]
    # conductance per unit true length: D_bulk * gradient / step = k within 2 % (issue 10)
    assert d_bulk * slope / step == pytest.approx(k, rel=0.02)
    # and the field itself, except within 1.5 px of the staircase
    assert np.max(np.abs(c - c_exact)[(r < 32 * H) & (np.abs(u) > 1.5 * H)]) < 0.02 * np.ptp(c_exact)


# --- recovery on twin maps ---------------------------------------------------------------------


@pytest.mark.parametrize("gb_scale", [0.3, 1.0, 3.0])
def test_whole_map_fit_recovers_d_gb_over_width_over_a_decade(gb_scale: float, record_property) -> None:
    case = twin_map(gb_scale)
    fit = fit_twin(case)
    truth = case["k"]
    pull = (fit.d_gb_over_width - truth) / fit.d_gb_over_width_err
    record_property("relative_error", fit.d_gb_over_width / truth - 1.0)
    record_property("pull", pull)
    record_property("reduced_chi2", fit.reduced_chi2)
    record_property("per_boundary_median_over_truth", fit.per_boundary_median / truth)
    # issue 10: within 15 %; measured 1-5 % on quarter maps (stated 1.4-4 %)
    assert fit.d_gb_over_width == pytest.approx(truth, rel=0.15)
    # the stated uncertainty covers the truth: inside the 95 % interval (2 sigma)
    assert abs(pull) < 2.0
    # residuals are counting noise: chi2/dof of ~26000 pixels has sigma 0.009 (issue: 0.8-1.3)
    assert 0.8 < fit.reduced_chi2 < 1.3
    # the per-boundary median on the same map (the published method) is reported and lies
    # further from the truth (measured: 3-30x too high, most at the slowest boundaries)
    assert fit.per_boundary_median is not None
    assert abs(math.log(fit.per_boundary_median / truth)) > abs(math.log(fit.d_gb_over_width / truth))


def test_full_size_map_at_default_statistics(record_property) -> None:
    case = twin_map(1.0, shape=(206, 512), seed=0)
    fit = fit_twin(case)
    truth = case["k"]
    record_property("relative_error", fit.d_gb_over_width / truth - 1.0)
    record_property("stated_relative_error", fit.d_gb_over_width_err / truth)
    record_property("per_boundary_median_over_truth", fit.per_boundary_median / truth)
    record_property("elapsed_s", fit.elapsed_s)
    assert fit.d_gb_over_width == pytest.approx(truth, rel=0.15)
    assert abs(fit.d_gb_over_width - truth) < 2.0 * fit.d_gb_over_width_err
    assert 0.8 < fit.reduced_chi2 < 1.3
    # all pixels at ~5300 counts: the fit used the whole window
    assert fit.pixels == 512 * 206 and fit.mean_counts == pytest.approx(5300, rel=0.05)
    # four times the pixels of the quarter maps: the statistical error halves (measured 1.1 %)
    assert fit.statistical_err < 0.02 * truth


@pytest.mark.parametrize("gb_scale", [0.3, 3.0])
def test_fit_on_boundaries_found_in_c_stays_within_its_measured_bias_and_says_so(gb_scale: float, record_property) -> None:
    # issue 10: without an etched image the network comes from C's steps, and C cannot show it
    # all (boundaries along the flux carry no visible step yet block it); the fit is then
    # biased by the missing boundaries, a systematic well above its 2-3 % statistical error
    case = twin_map(gb_scale)
    fraction = isotope_fraction(case["i6"], case["i7"])
    found = BoundaryMap.from_steps(fraction.fraction, fraction.sigma)
    fit = fit_twin(case, boundaries=found, compare_per_boundary=False)
    ratio = fit.d_gb_over_width / case["k"]
    record_property("found_over_truth", ratio)
    # measured on these two maps 1.56 and 1.20 (over 15 twin maps 0.45-2.0, median 1.36); with the
    # per-boundary detection's defaults (4 sigma, erosion 2 px) 1.66 and 2.11 (0.65-3.0, median 2.24)
    assert 1.0 / 1.8 < ratio < 1.8
    # the method names the source and its systematic, since the stated error does not hold it
    assert FOUND_IN_C in fit.method and "systematic" in FOUND_IN_C


def test_value_is_robust_to_d_eff_and_proportional_to_d_bulk() -> None:
    # identifiability: the grain-scale pattern fixes k h / D_bulk; D_eff only sets the
    # starting macroscopic profile, whose errors the free profile corrections absorb
    case = twin_map(1.0, shape=(64, 128))
    base = fit_twin(case, compare_per_boundary=False).d_gb_over_width
    off_d_eff = fit_twin(case, d_eff=1.3 * case["d_eff"], compare_per_boundary=False).d_gb_over_width
    off_d_bulk = fit_twin(case, d_bulk=1.1 * case["d_bulk"], compare_per_boundary=False).d_gb_over_width
    assert off_d_eff == pytest.approx(base, rel=0.02)  # measured 0.6 %
    assert off_d_bulk / base == pytest.approx(1.1, rel=0.02)  # measured 1.100


def test_given_d_bulk_error_carries_into_the_stated_error() -> None:
    case = twin_map(1.0, shape=(64, 128))
    fit = fit_twin(case, d_bulk_err=0.1, compare_per_boundary=False)
    assert fit.d_bulk_scale_err == pytest.approx(0.1 * fit.d_gb_over_width, rel=1e-9)
    expected = math.hypot(fit.statistical_err, fit.d_bulk_scale_err)
    assert fit.d_gb_over_width_err == pytest.approx(expected, rel=1e-9)


def test_boundary_classes_each_recover_the_shared_truth() -> None:
    # the twin has one D_gb/delta: split its boundaries into two arbitrary classes, each must find it
    case = twin_map(1.0, shape=(64, 128))
    labels = case["labels"]
    low_x, high_x = np.minimum(labels[:, :-1], labels[:, 1:]), np.maximum(labels[:, :-1], labels[:, 1:])
    low_y, high_y = np.minimum(labels[:-1], labels[1:]), np.maximum(labels[:-1], labels[1:])
    classes = (
        np.where(low_x != high_x, (low_x + 3 * high_x) % 2, -1),
        np.where(low_y != high_y, (low_y + 3 * high_y) % 2, -1),
    )
    boundaries = BoundaryMap.from_labels(labels, face_classes=classes)
    assert boundaries.classes == 2 and boundaries.face_counts.min() > 200
    fit = fit_twin(case, boundaries=boundaries, compare_per_boundary=False, geometry_check=False)
    for estimate in fit.classes:
        # each class within 3 of its own (statistical) errors; a class has fewer steps, so wider
        assert abs(estimate.d_gb_over_width - case["k"]) < 3.0 * estimate.d_gb_over_width_err
        assert estimate.d_gb_over_width_err > fit.statistical_err
    # one shared value explains the map: chi-square with 1 dof below 9 (3 sigma)
    assert 0.0 <= fit.class_test_chi2 < 9.0


def test_boundary_mask_of_pixels_works_as_an_etched_image_would() -> None:
    # a one-pixel-wide line mask (an etched optical image): lines are absorbed into the grains
    case = twin_map(1.0, shape=(64, 128))
    labels = case["labels"]
    mask = np.zeros(labels.shape, dtype=bool)
    mask[:, 1:] |= labels[:, 1:] != labels[:, :-1]  # the pixel right of each x-face
    mask[1:, :] |= labels[1:, :] != labels[:-1, :]  # the pixel below each y-face
    fit = fit_gb_map(case["i6"], case["i7"], mask, H, case["history"], d_bulk=case["d_bulk"], d_eff=case["d_eff"],
                     psf_sigma_m=case["psf_m"], compare_per_boundary=False)
    # each line pixel joins the grain beside it whose C it matches; where noise picks wrong the
    # step sits a pixel off, so looser than on exact labels, yet within the 15 %
    assert fit.d_gb_over_width == pytest.approx(case["k"], rel=0.15)
    assert 0.8 < fit.reduced_chi2 < 1.3


def test_values_refer_to_the_reference_temperature_after_a_warm_storage() -> None:
    # exchange at 22 C, then 24 h closed storage at 40 C: the map froze after a warmer stretch,
    # the fit scales with the activation energies (the twin's: 0.30 and 0.43 eV) back to 22 C
    steps = ((59 * 3600.0, ROOM_K, True), (24 * 3600.0, 313.15, False), (600.0, ROOM_K, False), (5 * 3600.0, CRYO_K, False))
    case = twin_map(1.0, shape=(64, 128), steps=steps)
    assert not case["history"].isothermal
    fit = fit_twin(case, compare_per_boundary=False)
    assert fit.d_gb_over_width == pytest.approx(case["k"], rel=0.15)
    assert abs(fit.d_gb_over_width - case["k"]) < 2.0 * fit.d_gb_over_width_err
    assert fit.methods["temperature"].startswith("values at the reference temperature")


# --- refusals and bad input --------------------------------------------------------------------


def test_refuses_a_map_without_boundaries() -> None:
    case = twin_map(1.0, shape=(64, 128))
    with pytest.raises(MapFitRefused, match="no boundary"):
        fit_twin(case, boundaries=BoundaryMap.from_labels(np.ones((64, 128), dtype=int)))


def test_refuses_when_counts_cannot_constrain_and_widens_honestly_before() -> None:
    # 1 % of the dose (~50 counts per pixel): a wide interval that still holds the truth
    thin = twin_map(1.0, shape=(64, 128), dose=0.01)
    fit = fit_twin(thin, compare_per_boundary=False)
    assert fit.d_gb_over_width_err > 0.15 * fit.d_gb_over_width  # measured ~35 %
    assert abs(fit.d_gb_over_width - thin["k"]) < 2.0 * fit.d_gb_over_width_err
    # 0.1 % (~5 counts per pixel): the likelihood stays flat over a decade, so no number
    with pytest.raises(MapFitRefused, match="cannot constrain"):
        fit_twin(twin_map(1.0, shape=(64, 128), dose=0.001), compare_per_boundary=False)


def test_bad_input_is_refused_by_name() -> None:
    case = twin_map(1.0, shape=(64, 128))
    boundaries, history = BoundaryMap.from_labels(case["labels"]), case["history"]
    with pytest.raises(ValidationError, match="i6"):
        fit_gb_map(-case["i6"], case["i7"], boundaries, H, history, d_bulk=1e-12, d_eff=1e-13)
    with pytest.raises(ValidationError, match="d_eff"):
        fit_twin(case, d_eff=2.0 * case["d_bulk"])
    with pytest.raises(ValidationError, match="pixel_size"):
        fit_gb_map(case["i6"], case["i7"], boundaries, (H, 2 * H), history, d_bulk=1e-12, d_eff=1e-13)
    with pytest.raises(ValidationError, match="boundary_mask"):
        fit_gb_map(case["i6"], case["i7"], np.eye(10, dtype=bool), H, history, d_bulk=1e-12, d_eff=1e-13)
    with pytest.raises(ValidationError, match="immersed"):
        DiffusionHistory((HistorySegment(3600.0, ROOM_K, False),), 50e-6)
    with pytest.raises(ValidationError, match="window_origin_m"):
        DiffusionHistory((HistorySegment(3600.0, ROOM_K, True),), 0.02, sample_length_m=0.01)


# --- reporting ---------------------------------------------------------------------------------


def test_json_report_names_the_method_of_each_number(tmp_path) -> None:
    case = twin_map(1.0, shape=(64, 128))
    fit = fit_twin(case)
    report = json.loads(json.dumps(fit.to_dict()))
    numbers = ["d_gb_over_width", "d_gb_over_width_err", "statistical_err", "geometry_mix", "d_bulk", "d_eff",
               "reduced_chi2", "per_boundary_median", "lower", "upper", "edge_offsets"]
    for name in numbers:
        assert name in report and name in report["methods"], name
    assert report["expected_fraction"]["shape"] == [64, 128]  # large arrays summarised, not listed
    paths = plot_whole_map_fit(fit, case["i6"], case["i7"], H, tmp_path / "whole_map")
    assert sorted(p.suffix for p in paths) == [".png", ".svg"] and all(p.stat().st_size > 5000 for p in paths)
