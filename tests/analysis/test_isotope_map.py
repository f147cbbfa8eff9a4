import json

import numpy as np
import pytest

from simslab.analysis import bin_counts, isotope_fraction
from simslab.errors import ValidationError


def test_counting_uncertainty_matches_the_scatter_of_binomial_draws():
    rng = np.random.default_rng(0)
    n, c = 400, 0.3
    i6 = rng.binomial(n, c, size=(200, 200)).astype(float)
    result = isotope_fraction(i6, n - i6)
    # physics.md: sigma_C ~ sqrt(C(1-C)/N) = 0.023 at N = 400
    assert np.median(result.sigma) == pytest.approx(np.sqrt(c * (1 - c) / n), rel=0.02)
    pulls = (result.fraction - c) / result.sigma
    # 40 000 pulls: their standard deviation is 1 within ~1 %; 3 % allows the regularised sigma
    assert np.std(pulls) == pytest.approx(1.0, abs=0.03)
    # the map itself is unbiased: mean within 4 standard errors (0.023 / 200 each)
    assert abs(np.mean(result.fraction) - c) < 4 * np.sqrt(c * (1 - c) / n) / 200


def test_published_sigma_at_4e4_counts():
    result = isotope_fraction(np.array([[4000.0]]), np.array([[36000.0]]))
    assert result.fraction[0, 0] == pytest.approx(0.1)
    assert result.sigma[0, 0] == pytest.approx(0.0015, rel=0.01)  # physics.md: ~0.0015 at N = 4e4


def test_binning_sums_counts_before_the_ratio():
    i6 = np.arange(1, 4 * 6 + 1, dtype=float).reshape(4, 6)
    i7 = np.full((4, 6), 10.0)
    binned = isotope_fraction(i6, i7, bin_factor=2, pixel_size_m=(1e-6, 2e-6))
    assert binned.fraction.shape == (2, 3)
    block_i6 = i6[:2, :2].sum()
    assert binned.fraction[0, 0] == pytest.approx(block_i6 / (block_i6 + 40.0))
    assert binned.counts[0, 0] == block_i6 + 40.0
    assert binned.pixel_size_m == (2e-6, 4e-6)


def test_binning_drops_incomplete_edge_blocks():
    assert bin_counts(np.ones((5, 7)), 2).shape == (2, 3)
    assert bin_counts(np.ones((3, 5, 7)), 3).shape == (3, 1, 2)  # a stack of images bins per image


def test_low_count_pixels_are_masked_not_reported():
    i6 = np.array([[0.0, 5.0], [50.0, 0.0]])
    i7 = np.array([[0.0, 5.0], [50.0, 100.0]])
    result = isotope_fraction(i6, i7, min_counts=20)
    assert np.isnan(result.fraction[0, 0]) and np.isnan(result.fraction[0, 1])
    assert result.valid.tolist() == [[False, False], [True, True]]
    # no 6Li counts in 100 still carries an uncertainty (regularised C), not zero
    assert result.fraction[1, 1] == 0.0 and result.sigma[1, 1] > 0.0


def test_results_are_read_only_and_print_as_json():
    result = isotope_fraction(np.full((30, 30), 10.0), np.full((30, 30), 90.0))
    with pytest.raises(ValueError):
        result.fraction[0, 0] = 1.0
    as_dict = result.to_dict()
    json.dumps(as_dict)  # serialisable
    assert as_dict["fraction"]["shape"] == [30, 30]  # 900 pixels are summarised, not listed
    assert as_dict["fraction"]["mean"] == pytest.approx(0.1)
    assert "binomial" in as_dict["method"]


@pytest.mark.parametrize(
    ("i6", "i7", "field"),
    [(np.ones((2, 2)), np.ones((3, 2)), "i6/i7"), (-np.ones((2, 2)), np.ones((2, 2)), "i6")],
)
def test_bad_counts_are_refused_with_the_field_named(i6, i7, field):
    with pytest.raises(ValidationError) as error:
        isotope_fraction(i6, i7)
    assert error.value.field == field
