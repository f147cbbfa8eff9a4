"""The microstructure: published grain-size distribution, exact boundary normals, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from simslab.physics.pixel_boundaries import estimate_boundary_normals
from simslab.simulators.parameters import PolycrystalParameters
from simslab.simulators.polycrystal import Polycrystal, generate_polycrystal


@pytest.fixture(scope="module")
def default_grains() -> Polycrystal:
    return generate_polycrystal(PolycrystalParameters(), np.random.default_rng(0))


def test_grain_sizes_follow_the_published_broad_distribution(default_grains: Polycrystal) -> None:
    stats = default_grains.statistics
    diameters = stats.equivalent_diameters_m
    assert len(diameters) > 200  # ~300 whole grains in the 500 x 200 um window
    # 16 +/- 11 um, log-normal (shared/physics.md): over seeds the mean lands within 6 %
    # (15.1-16.8 um measured), the log-width within 0.05 of 0.62
    assert stats.mean_equivalent_diameter_m == pytest.approx(16e-6, rel=0.10)
    assert np.std(np.log(diameters)) == pytest.approx(0.62, abs=0.1)
    assert 7e-6 < stats.std_equivalent_diameter_m < 13e-6
    # equiaxed grains: the same boundary spacing along x and y
    assert stats.mean_intercept_x_m == pytest.approx(stats.mean_intercept_y_m, rel=0.08)


def test_window_grid_matches_the_sims_field_of_view(default_grains: Polycrystal) -> None:
    assert default_grains.shape == (206, 512)
    assert default_grains.pixel_size_m == pytest.approx(500e-6 / 512)
    assert default_grains.labels.min() == 0 and default_grains.labels.max() == default_grains.grains - 1


def test_exact_normals_agree_with_normals_measured_on_the_label_map(default_grains: Polycrystal) -> None:
    exact_x, exact_y = default_grains.boundary_normals_rad
    measured_x, measured_y = estimate_boundary_normals(default_grains.labels, neighbours=15)
    exact = np.concatenate([exact_x[~np.isnan(exact_x)], exact_y[~np.isnan(exact_y)]])
    measured = np.concatenate([measured_x[~np.isnan(measured_x)], measured_y[~np.isnan(measured_y)]])
    error = np.rad2deg(np.abs((measured - exact + np.pi / 2) % np.pi - np.pi / 2))
    # power-diagram boundaries are straight and perpendicular to seed_b - seed_a: pixel
    # chords of 15 faces find that direction to a few degrees except near triple junctions
    assert np.median(error) < 4.0


def test_boundary_mask_marks_pixels_beside_a_label_change(default_grains: Polycrystal) -> None:
    labels = default_grains.labels
    mask = default_grains.boundary_mask
    padded = np.pad(labels, 1, mode="edge")
    neighbour_differs = (
        (padded[1:-1, :-2] != labels) | (padded[1:-1, 2:] != labels) | (padded[:-2, 1:-1] != labels) | (padded[2:, 1:-1] != labels)
    )
    assert np.array_equal(mask, neighbour_differs)
    assert 0.1 < mask.mean() < 0.4


def test_same_seed_same_grains_and_rebuild_from_seeds() -> None:
    params = PolycrystalParameters(window_pixels=(64, 32), window_size_m=(64e-6, 32e-6))
    a = generate_polycrystal(params, np.random.default_rng(7))
    b = generate_polycrystal(params, np.random.default_rng(7))
    c = generate_polycrystal(params, np.random.default_rng(8))
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels)
    rebuilt = Polycrystal.from_seeds(a.seeds_m, a.weights_m2, a.shape, a.pixel_size_m)
    assert np.array_equal(rebuilt.labels, a.labels)


def test_too_small_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window_pixels"):
        generate_polycrystal(PolycrystalParameters(window_pixels=(1, 10)), np.random.default_rng(0))
