"""The furnace model: rate-limited ramps, overshoot, output off, sensor break, heater fail."""

from __future__ import annotations

import numpy as np
import pytest

from simslab.simulators.furnace import Furnace
from simslab.simulators.parameters import FurnaceParameters

ANNEAL_K = 473.15  # 200 C
HOUR = 3600.0


@pytest.fixture
def params() -> FurnaceParameters:
    return FurnaceParameters()


def ramped_furnace(params: FurnaceParameters, rate: float = 0.1) -> Furnace:
    furnace = Furnace(params, 0.0)
    furnace.set_ramp_k_per_s(0.0, rate)
    furnace.set_setpoint_k(0.0, ANNEAL_K)
    return furnace


def test_furnace_ramps_at_the_rate_limit(params):
    furnace = ramped_furnace(params, rate=0.1)
    times = np.arange(600.0, 1500.0, 30.0)
    states = [furnace.state_at(t) for t in times]
    working = [state.working_setpoint_k for state in states]
    temperature = [state.temperature_k for state in states]
    assert np.polyfit(times, working, 1)[0] == pytest.approx(0.1, rel=1e-9)
    # mid-ramp the PV tracks the working setpoint at its rate, a constant lag behind (1 %)
    assert np.polyfit(times, temperature, 1)[0] == pytest.approx(0.1, rel=0.01)
    assert not furnace.status(states[-1]).ramp_complete
    assert furnace.status(furnace.state_at(1800.0)).ramp_complete


def test_furnace_overshoots_a_little_then_holds_the_setpoint(params):
    furnace = ramped_furnace(params, rate=0.1)
    temperature = np.array([furnace.state_at(t).temperature_k for t in np.arange(0.0, 2 * HOUR, 10.0)])
    overshoot = temperature.max() - ANNEAL_K
    # a rate-limited ramp overshoots less than a step would (3 % of the 178 K rise = 5.3 K)
    assert 0.05 < overshoot < params.overshoot_fraction * (ANNEAL_K - params.ambient_temperature_k)
    assert furnace.state_at(3 * HOUR).temperature_k == pytest.approx(ANNEAL_K, abs=1e-3)


def test_small_step_overshoots_by_about_the_design_fraction(params):
    furnace = Furnace(params, 0.0)
    furnace.set_setpoint_k(0.0, ANNEAL_K)
    furnace.state_at(5 * HOUR)
    furnace.set_setpoint_k(5 * HOUR, ANNEAL_K + 5.0)
    peak = max(furnace.state_at(5 * HOUR + t).temperature_k for t in np.arange(0.0, 1800.0, 5.0))
    # 3 % by design; holding the output over 5 s steps adds ~0.7 points
    assert (peak - ANNEAL_K - 5.0) / 5.0 == pytest.approx(params.overshoot_fraction, abs=0.01)


def test_output_off_cools_the_furnace_to_ambient(params):
    furnace = ramped_furnace(params)
    furnace.state_at(2 * HOUR)
    furnace.switch_output_off(2 * HOUR)
    state = furnace.state_at(2 * HOUR + 12 * params.time_constant_s)
    # 12 time constants: 178 K * e^-12 = 1 mK
    assert state.temperature_k == pytest.approx(params.ambient_temperature_k, abs=0.01)
    assert state.output == 0.0 and furnace.status(state).manual


def test_return_to_automatic_is_bumpless_and_ramps_from_the_pv(params):
    furnace = ramped_furnace(params)
    furnace.state_at(2 * HOUR)
    furnace.switch_output_off(2 * HOUR)
    furnace.state_at(3 * HOUR)
    furnace.switch_to_automatic(3 * HOUR)
    state = furnace.state_at(3 * HOUR)
    assert state.working_setpoint_k == pytest.approx(state.temperature_k)
    assert furnace.state_at(3 * HOUR + 10.0).output < 0.2  # no jump of the output


def test_thermocouple_break_cuts_the_output_and_raises_the_alarm(params):
    furnace = ramped_furnace(params)
    furnace.state_at(2 * HOUR)
    furnace.set_sensor_break(2 * HOUR, True)
    state = furnace.state_at(2 * HOUR + 600.0)
    status = furnace.status(state)
    assert status.sensor_break and status.alarm
    assert state.output == 0.0 and state.temperature_k < ANNEAL_K - 5.0
    furnace.set_sensor_break(2 * HOUR + 600.0, False)
    # repaired: control resumes, but the alarm stays latched until acknowledged
    assert furnace.status(furnace.state_at(2 * HOUR + 700.0)).alarm
    furnace.acknowledge_alarms(2 * HOUR + 700.0)
    assert not furnace.status(furnace.state_at(2 * HOUR + 710.0)).alarm


def test_heater_fail_delivers_no_heat(params):
    furnace = Furnace(params, 0.0)
    furnace.set_heater_fail(0.0, True)
    furnace.set_setpoint_k(0.0, ANNEAL_K)
    state = furnace.state_at(HOUR)
    assert state.temperature_k == pytest.approx(params.ambient_temperature_k)
    assert state.output == 1.0  # the loop asks for everything and gets nothing
    assert furnace.status(state).heater_fail
