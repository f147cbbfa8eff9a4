"""Operando analysis on a synthetic CC-CV-CC trace and synthetic image series with known answers."""

import numpy as np
import pytest

from simslab.analysis import (
    COULOMB_PER_UAH,
    CyclingStep,
    ImagedArea,
    charge_over_windows,
    cycling_capacities,
    dose_map,
    heterogeneity_index,
    image_state_of_charge,
    pixel_reversibility,
    roi_trajectories,
)
from simslab.errors import ValidationError

CURRENT_A = 6e-6  # 0.03 mA/cm^2 on 0.2 cm^2
CV_TAU_S = 1200.0
SAMPLE_S = 30.0  # the potentiostat stream period of profiles/sim.yaml


def _cc_cv_cc_trace():
    """Two cycles: CC charge, 1 h CV hold (current decays), CC discharge, rest; exact charge counter."""
    segments = [  # (kind, cycle, duration_s)
        ("cc_charge", 1, 4.0 * 3600),
        ("cv_hold", 1, 3600.0),
        ("cc_discharge", 1, 3.7 * 3600),
        ("rest", 1, 600.0),
        ("cc_charge", 2, 3.5 * 3600),
        ("cv_hold", 2, 3600.0),
        ("cc_discharge", 2, 3.3 * 3600),
        ("rest", 2, 600.0),
    ]
    steps, start = [], 0.0
    for kind, cycle, duration in segments:
        steps.append(CyclingStep(kind, cycle, start, start + duration))
        start += duration
    time_s = np.arange(0.0, start + SAMPLE_S / 2, SAMPLE_S)
    current = np.zeros_like(time_s)
    charge = np.zeros_like(time_s)
    q_at_start = 0.0
    for step in steps:
        inside = (time_s >= step.start_s) & (time_s <= step.end_s)
        local = time_s[inside] - step.start_s
        if step.kind == "cc_charge":
            i, q = np.full_like(local, CURRENT_A), CURRENT_A * local
        elif step.kind == "cv_hold":
            i, q = CURRENT_A * np.exp(-local / CV_TAU_S), CURRENT_A * CV_TAU_S * (1 - np.exp(-local / CV_TAU_S))
        elif step.kind == "cc_discharge":
            i, q = np.full_like(local, -CURRENT_A), -CURRENT_A * local
        else:
            i, q = np.zeros_like(local), np.zeros_like(local)
        current[inside], charge[inside] = i, q_at_start + q
        q_at_start = charge[inside][-1]
    voltage = 2.0 + 0.7 * (charge - charge.min()) / np.ptp(charge)
    return time_s, voltage, current, charge, steps


def _expected_capacities():
    cv = CURRENT_A * CV_TAU_S * (1 - np.exp(-3.0))
    charged = np.array([CURRENT_A * 4.0 * 3600 + cv, CURRENT_A * 3.5 * 3600 + cv])
    discharged = np.array([CURRENT_A * 3.7 * 3600, CURRENT_A * 3.3 * 3600])
    return charged, discharged


def test_capacities_and_coulombic_efficiency_from_the_charge_counter():
    time_s, _, _, charge, steps = _cc_cv_cc_trace()
    result = cycling_capacities(time_s, steps, charge_c=charge)
    charged, discharged = _expected_capacities()
    assert result.charge_capacity_c == pytest.approx(charged, rel=1e-12)
    assert result.discharge_capacity_c == pytest.approx(discharged, rel=1e-12)
    assert result.coulombic_efficiency == pytest.approx(discharged / charged, rel=1e-12)
    assert result.irreversible_capacity_c == pytest.approx(charged - discharged, rel=1e-9)
    # the synthetic cell is close to the published one: ~26 uAh in, ~22 uAh out, ~14 % lost
    assert result.charge_capacity_c[0] / COULOMB_PER_UAH == pytest.approx(25.9, abs=0.1)
    assert result.irreversible_fraction[0] == pytest.approx(0.143, abs=0.005)
    assert result.step_kind[1] == "cv_hold"
    assert result.step_charge_c[1] == pytest.approx(CURRENT_A * CV_TAU_S * (1 - np.exp(-3.0)), rel=1e-12)


def test_capacities_from_the_current_when_no_counter_was_recorded():
    time_s, _, current, _, steps = _cc_cv_cc_trace()
    result = cycling_capacities(time_s, steps, current_a=current)
    charged, discharged = _expected_capacities()
    # trapezoids over 30 s samples: each current jump costs <= 0.5 * 6 uA * 30 s = 9e-5 C
    assert result.charge_capacity_c == pytest.approx(charged, abs=2e-4)
    assert result.discharge_capacity_c == pytest.approx(discharged, abs=2e-4)


def test_an_initial_rest_numbered_0_is_a_step_not_a_cycle():
    """The plan numbers the rest before the first charge as cycle 0 (as in the demo's operando run)."""
    time_s, _, _, charge, steps = _cc_cv_cc_trace()
    rest_s = 600.0
    shifted = [CyclingStep(s.kind, s.cycle, s.start_s + rest_s, s.end_s + rest_s) for s in steps]
    with_rest = [CyclingStep("rest", 0, 0.0, rest_s), *shifted]
    time_with_rest = np.concatenate([np.arange(0.0, rest_s, SAMPLE_S), time_s + rest_s])
    charge_with_rest = np.concatenate([np.zeros(int(rest_s / SAMPLE_S)), charge])
    result = cycling_capacities(time_with_rest, with_rest, charge_c=charge_with_rest)
    charged, discharged = _expected_capacities()
    assert result.cycle.tolist() == [1, 2]  # the plan's numbers, real charge/discharge cycles only
    assert result.charge_capacity_c == pytest.approx(charged, rel=1e-12)
    assert result.discharge_capacity_c == pytest.approx(discharged, rel=1e-12)
    assert result.step_kind[0] == "rest" and result.step_cycle[0] == 0  # the rest stays among the steps


def test_state_of_charge_of_images_from_their_charge_windows():
    time_s, _, _, charge, _ = _cc_cv_cc_trace()
    starts = np.array([0.0, 3600.0, 4.0 * 3600 + 600.0, 6.0 * 3600])
    ends = starts + 1600.0  # 1600 s per image set (physics.md)
    windows = charge_over_windows(time_s, starts, ends, charge_c=charge)
    # CC: the charge grows linearly, its window mean is the midpoint
    assert windows.mean_c[1] == pytest.approx(CURRENT_A * (3600.0 + 800.0), rel=1e-9)
    # CV: the current decays, the mean is the exact average of q(t) over the window
    t0, t1 = 600.0, 2200.0
    q_cc = CURRENT_A * 4.0 * 3600
    exact = q_cc + CURRENT_A * CV_TAU_S * (1 - CV_TAU_S / (t1 - t0) * (np.exp(-t0 / CV_TAU_S) - np.exp(-t1 / CV_TAU_S)))
    assert windows.mean_c[2] == pytest.approx(exact, rel=2e-4)  # trapezoids on 30 s samples
    capacity = _expected_capacities()[0][0]
    soc = image_state_of_charge(windows.start_c, windows.end_c, capacity_c=capacity, charge_mean_c=windows.mean_c)
    assert soc.soc[0] == pytest.approx(CURRENT_A * 800.0 / capacity)
    charging, discharging = slice(0, 3), 3  # the last image is taken during discharge
    assert np.all(soc.soc_start[charging] <= soc.soc[charging]) and np.all(soc.soc[charging] <= soc.soc_end[charging])
    assert soc.soc_start[discharging] > soc.soc[discharging] > soc.soc_end[discharging]


def test_step_outside_the_trace_is_refused():
    time_s, _, _, charge, _ = _cc_cv_cc_trace()
    with pytest.raises(ValidationError) as error:
        cycling_capacities(time_s, [CyclingStep("cc_charge", 1, 0.0, time_s[-1] + 10)], charge_c=charge)
    assert error.value.field == "steps"


def test_roi_trajectories_follow_the_ni_rise_on_charge():
    rng = np.random.default_rng(0)
    images, shape = 5, (15, 40)
    cathode = np.zeros(shape, bool)
    cathode[:, 20:] = True
    anode = ~cathode
    ni_rate = np.array([20.0, 40.0, 80.0, 40.0, 20.0])  # counts per pixel per image: rises on charge
    ti_rate = np.array([50.0, 30.0, 20.0, 30.0, 50.0])
    ni = rng.poisson(ni_rate[:, None, None] * cathode, (images, *shape)).astype(float)
    ti = rng.poisson(ti_rate[:, None, None] * anode, (images, *shape)).astype(float)
    trajectories = roi_trajectories({"58Ni+": ni, "48Ti+": ti}, {"cathode": cathode, "anode": anode})
    value, error = trajectories.series("cathode", "58Ni+")
    # 300 pixels per region: the mean rate is known to sqrt(rate / 300), pulls within 4
    assert np.all(np.abs(value - ni_rate) < 4 * error)
    assert error[2] == pytest.approx(np.sqrt(80.0 / 300), rel=0.05)
    relative = roi_trajectories({"48Ti+": ti}, {"anode": anode}, exposure=np.full(images, 1600.0), relative=True)
    ratio, _ = relative.series("anode", "48Ti+")
    assert ratio[0] == 1.0 and ratio[2] == pytest.approx(0.4, abs=0.03)


def test_pixel_reversibility_tells_reversible_from_isolated_particles():
    rng = np.random.default_rng(1)
    shape = (40, 40)
    isolated = np.zeros(shape, bool)
    isolated[:, :20] = True  # these keep high Ni+ after discharge
    pristine = rng.poisson(100.0, shape)
    charged = rng.poisson(300.0, shape)
    discharged = rng.poisson(np.where(isolated, 300.0, 100.0))
    result = pixel_reversibility(pristine, charged, discharged, bin_factor=2)
    half = result.reversibility.shape[1] // 2
    # binned counts ~400 -> 1200: r is known to ~0.05 per binned pixel
    assert np.nanmedian(result.reversibility[:, half:]) == pytest.approx(1.0, abs=0.05)
    assert np.nanmedian(result.reversibility[:, :half]) == pytest.approx(0.0, abs=0.05)
    assert result.fraction_reversible == pytest.approx(0.5, abs=0.02)
    assert np.all(result.valid)
    assert np.nanmedian(result.charge_ratio) == pytest.approx(3.0, rel=0.05)


def test_heterogeneity_index_takes_the_counting_noise_out():
    rng = np.random.default_rng(2)
    shape = (30, 80)
    pristine_rate = 200.0
    uniform = heterogeneity_index(rng.poisson(pristine_rate, shape), rng.poisson(3 * pristine_rate, shape))
    # a uniform response: raw spread ~0.08 from counts alone, corrected index near 0
    assert uniform.observed_std > 0.06
    assert uniform.index < 0.03
    response = np.exp(rng.normal(np.log(3.0), 0.3, shape))  # fractured vs intact particles
    mixed = heterogeneity_index(rng.poisson(pristine_rate, shape), rng.poisson(pristine_rate * response))
    assert mixed.index == pytest.approx(0.3, abs=0.03)


def test_dose_map_conserves_ions_and_flags_the_static_limit():
    pixel = 2e-6
    area = 80e-6 * 30e-6
    ions_per_image = 1.2e18 * area / 10  # ten images reach the published 1.2e14 ions/cm^2
    images = [ImagedArea(0.0, 0.0, 80e-6, 30e-6, ions_per_image) for _ in range(10)]
    images.append(ImagedArea(100e-6, 0.0, 80e-6, 30e-6, ions_per_image / 2))  # the anode, one short image
    dose = dose_map(images, (0.0, 200e-6, 0.0, 40e-6), pixel)
    assert dose.dose_ions_per_m2.sum() * pixel**2 == pytest.approx(10.5 * ions_per_image, rel=1e-9)
    assert dose.max_dose_ions_per_m2 == pytest.approx(1.2e18, rel=1e-9)
    assert dose.fraction_over_limit == pytest.approx(0.5, abs=0.01)  # the cathode window over 1e17, the anode not
