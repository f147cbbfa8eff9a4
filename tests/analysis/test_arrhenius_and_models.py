import numpy as np
import pytest

from simslab.analysis import (
    arrhenius,
    fit_arrhenius,
    nernst_einstein_diffusivity,
    quench_check,
    series_effective_diffusivity,
)
from simslab.errors import ValidationError

EA_EV, PREFACTOR_M2_S = 0.43, 0.048e-4  # published (l/delta) D_gb line, in SI
TEMPERATURES_K = np.array([295.15, 323.15, 373.15, 423.15, 473.15, 573.15, 673.15])


def test_exact_arrhenius_line_gives_back_its_activation_energy_and_prefactor():
    fit = fit_arrhenius(TEMPERATURES_K, arrhenius(PREFACTOR_M2_S, EA_EV, TEMPERATURES_K))
    assert fit.activation_energy_ev == pytest.approx(EA_EV, rel=1e-9)
    assert fit.prefactor == pytest.approx(PREFACTOR_M2_S, rel=1e-8)
    assert fit.activation_energy_err_ev < 1e-9  # no scatter, no error


def test_noisy_arrhenius_points_recover_ea_within_the_stated_error():
    rng = np.random.default_rng(0)
    relative_error = 0.2  # 20 % per diffusivity, typical of a D from one map
    pulls_ea, pulls_d0 = [], []
    for _ in range(40):
        d = arrhenius(PREFACTOR_M2_S, EA_EV, TEMPERATURES_K) * np.exp(
            rng.normal(0, relative_error, TEMPERATURES_K.size)
        )
        fit = fit_arrhenius(TEMPERATURES_K, d, d_err=relative_error * d)
        pulls_ea.append((fit.activation_energy_ev - EA_EV) / fit.activation_energy_err_ev)
        pulls_d0.append((np.log(fit.prefactor) - np.log(PREFACTOR_M2_S)) / fit.ln_prefactor_err)
    # 40 pulls: rms within 0.7-1.3 for honest errors (the chi2 inflation only ever widens them)
    assert 0.7 < np.sqrt(np.mean(np.square(pulls_ea))) < 1.3
    assert 0.7 < np.sqrt(np.mean(np.square(pulls_d0))) < 1.3
    # Ea and ln D0 move together: the fit pivots in the middle of the 1/T range
    assert fit.correlation > 0.9


def test_unweighted_fit_takes_its_errors_from_the_scatter():
    rng = np.random.default_rng(1)
    d = arrhenius(PREFACTOR_M2_S, EA_EV, TEMPERATURES_K) * np.exp(rng.normal(0, 0.1, TEMPERATURES_K.size))
    fit = fit_arrhenius(TEMPERATURES_K, d)
    weighted = fit_arrhenius(TEMPERATURES_K, d, d_err=0.1 * d)
    assert fit.activation_energy_ev == pytest.approx(weighted.activation_energy_ev, rel=1e-9)  # equal weights
    # the scatter estimate of 10 % errors is itself uncertain with 5 dof: within a factor ~2
    assert 0.4 < fit.activation_energy_err_ev / weighted.activation_energy_err_ev < 2.0


def test_predicted_d_carries_the_error_of_the_line():
    rng = np.random.default_rng(2)
    d = arrhenius(PREFACTOR_M2_S, EA_EV, TEMPERATURES_K) * np.exp(rng.normal(0, 0.2, TEMPERATURES_K.size))
    fit = fit_arrhenius(TEMPERATURES_K, d, d_err=0.2 * d)
    _, err_middle = fit.predict(400.0)
    value_far, err_far = fit.predict(163.15)  # -110 C, far outside the data
    mid_value, _ = fit.predict(400.0)
    # extrapolating to the imaging temperature is much less certain than interpolating
    assert err_far / value_far > 3 * err_middle / mid_value


def test_weighted_fit_follows_the_precise_points():
    d = arrhenius(PREFACTOR_M2_S, EA_EV, TEMPERATURES_K)
    d_outlier = d.copy()
    d_outlier[0] *= 3.0
    errors = 0.01 * d
    errors[0] = 10.0 * d[0]  # the outlier is declared imprecise
    fit = fit_arrhenius(TEMPERATURES_K, d_outlier, d_err=errors)
    assert fit.activation_energy_ev == pytest.approx(EA_EV, abs=0.002)


def test_arrhenius_fit_refuses_one_temperature():
    with pytest.raises(ValidationError) as error:
        fit_arrhenius([300.0, 300.0], [1e-12, 2e-12])
    assert error.value.field == "temperature_k"


def test_series_model_limits():
    # slow boundaries dominate; without boundaries D_eff is the bulk
    assert float(series_effective_diffusivity(1e-12, 1e3, 16e-6)) == pytest.approx(1e-12, rel=1e-6)
    assert float(series_effective_diffusivity(1e-6, 1e-8, 16e-6)) == pytest.approx(16e-6 * 1e-8, rel=1e-4)


def test_nernst_einstein_scales_with_temperature_over_density():
    base = nernst_einstein_diffusivity(0.1, 300.0, 5e27)
    assert nernst_einstein_diffusivity(0.1, 600.0, 1e28) == pytest.approx(base)
    with pytest.raises(ValidationError):
        nernst_einstein_diffusivity(0.1, -1.0, 5e27)


def test_quench_threshold_is_a_fraction_of_the_pixel():
    d = (0.6e-6) ** 2 / (2 * 3600.0)  # diffusion length 0.6 um in 1 h
    assert quench_check(d, 3600.0, 1e-6).flagged  # default: more than half a pixel
    assert not quench_check(d, 3600.0, 1e-6, max_fraction=1.0).flagged
    assert quench_check(d, 3600.0, 1e-6).ratio == pytest.approx(0.6)
