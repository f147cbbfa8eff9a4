"""The worked numbers of shared/physics.md, reproduced from their published inputs.

Inputs are converted to SI at the test's edge (cm -> m); the tolerances are the rounding of
the published values (two significant figures) unless a comment says otherwise.
"""

import numpy as np
import pytest
from scipy.constants import physical_constants

from simslab.analysis import (
    BOLTZMANN_EV_PER_K,
    arrhenius,
    gb_diffusivity_over_width,
    haven_ratio,
    nernst_einstein_diffusivity,
    quench_check,
    quench_check_from_trace,
    series_effective_diffusivity,
)

CM = 1e-2
CM2 = 1e-4
GRAIN_M = 16e-6
GB_WIDTH_M = 0.5e-9
EA_GB_EV, PREFACTOR_GB_CM2_S = 0.43, 0.048  # published (l/delta) D_gb line


def test_gb_diffusivity_over_width_from_published_gradient_and_step():
    # dC/dy = 1.1 cm^-1, dC_gb = 0.02, D_bulk = 2.6e-8 cm^2/s -> 1.43e-6 cm/s (published, rounded: 1.5e-6)
    value = gb_diffusivity_over_width(1.1 / CM, 0.02, 2.6e-8 * CM2)
    assert float(value) / CM == pytest.approx(1.43e-6, rel=0.01)
    assert float(value) / CM == pytest.approx(1.5e-6, rel=0.06)  # the published figure, within its rounding
    # times delta = 0.5 nm: D_gb ~7e-14 cm^2/s, published 7.6e-14 right after exchange
    assert float(value) * GB_WIDTH_M / CM2 == pytest.approx(7.6e-14, rel=0.1)


def test_arrhenius_line_gives_published_l_over_delta_d_gb_at_22_and_200_c():
    at_22 = arrhenius(PREFACTOR_GB_CM2_S, EA_GB_EV, 295.15)
    at_200 = arrhenius(PREFACTOR_GB_CM2_S, EA_GB_EV, 473.15)
    assert float(at_22) == pytest.approx(2.2e-9, rel=0.03)
    assert float(at_200) == pytest.approx(1.3e-6, rel=0.04)


def test_series_model_gives_d_eff_2_to_4e9_at_22_c():
    d_bulk = 2.6e-8 * CM2
    # (l/delta) D_gb from the Arrhenius line and from the single boundary (4.5e-9 cm^2/s)
    low = series_effective_diffusivity(d_bulk, 2.2e-9 * CM2 / GRAIN_M, GRAIN_M) / CM2
    high = series_effective_diffusivity(d_bulk, 4.5e-9 * CM2 / GRAIN_M, GRAIN_M) / CM2
    assert float(low) == pytest.approx(2.0e-9, rel=0.03)
    assert float(high) == pytest.approx(3.8e-9, rel=0.03)
    assert 2.0e-9 * 0.97 < float(low) < float(high) < 4.0e-9  # the published range, holding 3.0e-9


def test_series_model_forbids_d_eff_above_l_over_delta_d_gb_at_200_c():
    l_over_delta_d_gb = float(arrhenius(PREFACTOR_GB_CM2_S, EA_GB_EV, 473.15)) * CM2
    d_eff = series_effective_diffusivity(1.0, l_over_delta_d_gb / GRAIN_M, GRAIN_M)  # even with an infinitely fast bulk
    assert float(d_eff) <= l_over_delta_d_gb
    assert float(d_eff) / CM2 < 6.6e-6 / 5  # the printed 6.6e-6 cannot hold (physics.md)


def test_haven_ratio_of_the_grain_boundaries():
    assert float(haven_ratio(0.048, 0.20)) == pytest.approx(0.24, rel=1e-12)


def test_nernst_einstein_from_1e3_s_per_cm_at_27_c():
    sigma_s_per_m = 1e-3 / CM  # 1e-3 S/cm
    n_per_m3 = 5.0e21 / CM**3
    d_sigma = float(nernst_einstein_diffusivity(sigma_s_per_m, 300.15, n_per_m3))
    # by hand: kB T / (n e^2) with CODATA constants
    kb = physical_constants["Boltzmann constant"][0]
    e = physical_constants["elementary charge"][0]
    assert d_sigma == pytest.approx(0.1 * kb * 300.15 / (5.0e27 * e**2), rel=1e-12)
    assert d_sigma / CM2 == pytest.approx(3.23e-8, rel=0.01)
    # the tracer D_eff (3e-9 cm^2/s) is an order below it, as a Haven ratio < 1 needs
    assert 0.05 < float(haven_ratio(3.0e-9 * CM2, d_sigma)) < 0.2


def test_quench_check_at_minus_110_c_over_5_h_not_flagged():
    check = quench_check(1e-14 * CM2, 5 * 3600.0, 1e-6)
    assert check.diffusion_length_m == pytest.approx(0.19e-6, rel=0.05)  # published ~0.2 um
    assert not check.flagged


def test_quench_check_at_22_c_flagged():
    check = quench_check(3.0e-9 * CM2, 5 * 3600.0, 1e-6)
    assert check.flagged
    assert check.diffusion_length_m > 50e-6  # the map would be smeared over tens of grains


def test_quench_check_from_stage_trace_uses_the_recorded_temperature():
    # (l/delta) D_gb bounds D_eff from above; at -110 C it gives a negligible length
    t = np.linspace(0.0, 5 * 3600.0, 61)
    cold = quench_check_from_trace(t, np.full_like(t, 163.15), PREFACTOR_GB_CM2_S * CM2, EA_GB_EV, 1e-6)
    assert not cold.flagged
    expected = np.sqrt(2 * PREFACTOR_GB_CM2_S * CM2 * np.exp(-EA_GB_EV / (BOLTZMANN_EV_PER_K * 163.15)) * 5 * 3600.0)
    assert cold.diffusion_length_m == pytest.approx(expected, rel=1e-9)
    # a stage that drifted to room temperature for the last hour is flagged
    warm = np.where(t > 4 * 3600.0, 295.15, 163.15)
    assert quench_check_from_trace(t, warm, PREFACTOR_GB_CM2_S * CM2, EA_GB_EV, 1e-6).flagged
