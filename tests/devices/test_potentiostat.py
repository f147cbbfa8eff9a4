"""The potentiostat: CC/CV/rest steps end at their cut-offs, the safety window, limits, streaming."""

from __future__ import annotations

import asyncio
import math

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import pytest
from bluesky.utils import FailedStatus
from ophyd_async.core import init_devices

from simslab.devices import (
    CellOff,
    ConstantCurrent,
    ConstantVoltage,
    Potentiostat,
    PotentiostatMode,
    Rest,
    StepEnd,
)
from simslab.devices.settings import PotentiostatSettings
from simslab.errors import InstrumentError, InterlockError, LimitError
from tests.devices.fakes import FakeCell

PERIOD_S = 10.0
SETTINGS = PotentiostatSettings(stream_period_s=PERIOD_S)  # window 1-3 V, |I| <= 1 mA


def make_potentiostat(clock, run, settings: PotentiostatSettings = SETTINGS, **cell):
    driver = FakeCell(clock, **cell)
    potentiostat = Potentiostat(driver, settings, clock, name="potentiostat")
    run(potentiostat.connect())
    return potentiostat, driver


def test_constant_current_ends_at_the_cutoff_voltage(clock, run):
    # fake cell: V = 2.0 V + q / 1 F + 1 kOhm * I; at 0.1 mA V = 2.1 V + 1e-4 V/s * t -> 2.5 V at t = 4000 s
    potentiostat, driver = make_potentiostat(clock, run, capacitance_f=1.0)
    step = ConstantCurrent(current_a=1e-4, cutoff_voltage_v=2.5, max_duration_s=5 * 3600.0)
    start_s = clock.now()
    reason = run(lambda: potentiostat.set(step))
    assert reason == StepEnd.CUTOFF_VOLTAGE
    assert run(potentiostat.end_reason.get_value()) == StepEnd.CUTOFF_VOLTAGE
    # detected at the first poll past 4000 s: within one stream period (10 s, i.e. 1 mV)
    assert 4000.0 <= clock.now() - start_s <= 4000.0 + PERIOD_S
    # at open circuit after the step the 0.1 V IR drop is gone: 2.0 V + 0.4 C / 1 F (within one poll's 1 mC)
    assert run(potentiostat.voltage.get_value()) == pytest.approx(2.4, abs=1e-3)
    assert run(potentiostat.step_charge.get_value()) == pytest.approx(1e-4 * 4000.0, rel=PERIOD_S / 4000.0)
    assert driver.writes[0] == ("apply_current", 1e-4, 3.0)  # compliance at the window's top
    assert driver.writes[-1] == ("set_open_circuit",)  # no current flows after the step
    assert run(potentiostat.mode.get_value()) == PotentiostatMode.OPEN_CIRCUIT


def test_constant_voltage_ends_at_the_cutoff_current(clock, run):
    # hold 2.2 V on a 2.0 V cell: I = 0.2 mA * exp(-t / (1 kOhm * 1 F)), 20 uA after 1000 s * ln 10
    potentiostat, _ = make_potentiostat(clock, run, capacitance_f=1.0)
    start_s = clock.now()
    reason = run(lambda: potentiostat.set(ConstantVoltage(2.2, max_duration_s=3 * 3600.0, cutoff_current_a=2e-5)))
    assert reason == StepEnd.CUTOFF_CURRENT
    assert clock.now() - start_s == pytest.approx(1000.0 * math.log(10), abs=PERIOD_S)  # within one poll


def test_rest_ends_after_its_duration(clock, run):
    potentiostat, driver = make_potentiostat(clock, run)
    start_s = clock.now()
    assert run(lambda: potentiostat.set(Rest(3600.0))) == StepEnd.TIME
    assert clock.now() - start_s == pytest.approx(3600.0, abs=1e-6)  # the last wait is cut to the duration
    assert driver.mode == "ocv"


@pytest.mark.parametrize(
    ("step", "limit"),
    [
        (ConstantCurrent(2e-3, 2.7, 3600.0), "current_a = 0.002 A refused, allowed -0.001 to 0.001 A"),
        (ConstantCurrent(6e-6, 3.5, 3600.0), "cutoff_voltage_v = 3.5 V refused, allowed 1 to 3 V"),
        (ConstantVoltage(0.5, 3600.0), "voltage_v = 0.5 V refused, allowed 1 to 3 V"),
    ],
)
def test_steps_outside_the_limits_are_refused_before_any_write(RE, clock, run, step, limit):
    potentiostat, driver = make_potentiostat(clock, run)
    with pytest.raises(FailedStatus) as failure:
        RE(bps.mv(potentiostat, step))
    assert isinstance(failure.value.__cause__, LimitError)
    assert limit in str(failure.value.__cause__)
    assert driver.writes == []


def test_step_values_are_checked_when_made():
    with pytest.raises(ValueError, match="max_duration_s"):
        ConstantCurrent(6e-6, 2.7, 0.0)
    with pytest.raises(ValueError, match="Rest.duration_s"):
        Rest(-1.0)


def test_voltage_outside_the_window_switches_the_cell_off(clock, run):
    # charging 1 mA with the cut-off at the window's top; the fake's 1 kOhm adds 1 V at once: 3.0 V + q/C
    potentiostat, driver = make_potentiostat(clock, run, ocv_v=2.05)
    with pytest.raises(InterlockError, match="outside the safety window 1-3 V"):
        run(lambda: potentiostat.set(ConstantCurrent(1e-3, 3.0, 3600.0)))
    assert driver.writes[-1] == ("cell_off",) and driver.mode == "off"
    assert run(potentiostat.mode.get_value()) == PotentiostatMode.OFF


def test_garbled_reply_mid_step_fails_clearly_and_switches_the_cell_off(clock, run):
    potentiostat, driver = make_potentiostat(clock, run)

    async def garble_after_an_hour():
        status = potentiostat.set(ConstantCurrent(1e-5, 2.9, 10 * 3600.0))
        await asyncio.sleep(3600.0)
        driver.inject(InstrumentError("potentiostat", ":READ?", "+2.1E+0,+1.0E-", "garbled reply"),
                      {"read_measurement"}, times=1)
        await asyncio.wait([status.task])
        return status.exception(), clock.now()

    start_s = clock.now()
    error, ended_s = run(garble_after_an_hour())
    assert isinstance(error, InstrumentError) and "garbled reply" in str(error)
    assert ended_s - start_s <= 3600.0 + PERIOD_S  # at the next poll
    assert driver.writes[-1] == ("cell_off",)


def test_stop_ends_the_step_with_the_cell_off(clock, run):
    potentiostat, driver = make_potentiostat(clock, run)

    async def stop_after_a_minute():
        status = potentiostat.set(ConstantCurrent(1e-5, 2.9, 10 * 3600.0))
        await asyncio.sleep(60.0)
        await potentiostat.stop(success=True)
        return await status

    assert run(stop_after_a_minute()) is None  # stopped, not at a cut-off
    assert driver.writes[-1] == ("cell_off",)
    assert run(lambda: potentiostat.set(CellOff())) == StepEnd.CELL_OFF


def test_a_week_of_monitoring_at_rest_gives_few_events(RE, clock, run):
    """Streams poll at the stream period but pass a value on only when it moves past the deadband."""
    settings = PotentiostatSettings(stream_period_s=600.0)
    potentiostat, driver = make_potentiostat(clock, run, settings)
    run(lambda: potentiostat.set(Rest(1.0)))
    events: dict[str, int] = {}

    def count(name, doc):
        if name == "event":
            events[doc["descriptor"]] = events.get(doc["descriptor"], 0) + 1

    week_s = 7 * 86400.0
    plan = bpp.monitor_during_wrapper(bpp.run_wrapper(bps.sleep(week_s)), [potentiostat.voltage, potentiostat.charge])
    RE(plan, count)
    reads = driver.calls.count("read_measurement")
    # polled all week; the two signals poll together and share one driver read per period
    assert week_s / 600.0 <= reads <= 2 * week_s / 600.0 + 10
    assert sum(events.values()) <= 4  # the first value of each, nothing more: the cell rests


def test_cc_step_on_the_twin_ends_at_the_cutoff_voltage(RE, clock, run, twin, sim_profile):
    drivers = twin()
    settings = sim_profile().devices.potentiostat
    with init_devices():
        potentiostat = Potentiostat(drivers["potentiostat"], settings, clock)
    RE(bps.mv(potentiostat, Rest(600.0)))
    rest_v = run(potentiostat.voltage.get_value())
    # the published cycling: 6 uA (0.03 mA/cm^2 on 0.2 cm^2), charge to 2.7 V
    RE(bps.mv(potentiostat, ConstantCurrent(6e-6, 2.7, 40 * 3600.0)))
    assert run(potentiostat.end_reason.get_value()) == StepEnd.CUTOFF_VOLTAGE
    charge_c = run(potentiostat.step_charge.get_value())
    step_s = run(potentiostat.step_time.get_value())
    assert charge_c == pytest.approx(6e-6 * step_s, rel=0.01)  # constant current: q = I t
    assert rest_v < 2.7
    # the anode-limited cell takes at most its design capacity, 0.13 mAh/cm^2 x 0.2 cm^2 = 26 uAh = 94 mC
    assert 0 < charge_c <= 0.13e-3 * 3600 * 0.2 * 1.05  # 5 %: the charge counted to the first poll past 2.7 V


def test_mock_potentiostat_runs_steps_to_their_time(RE, clock, run):
    with init_devices(mock=True):
        potentiostat = Potentiostat(None, SETTINGS, clock)
    start_s = clock.now()
    RE(bps.mv(potentiostat, ConstantCurrent(6e-6, 2.7, 1800.0)))
    assert clock.now() - start_s == pytest.approx(1800.0, abs=1e-6)  # the mock cell stays at 2 V
    assert run(potentiostat.end_reason.get_value()) == StepEnd.TIME
    docs = []
    RE(bp.count([potentiostat]), lambda name, doc: docs.append((name, doc)))
    descriptor = next(doc for name, doc in docs if name == "descriptor")
    units = {key: value["units"] for key, value in descriptor["data_keys"].items()}
    assert units["potentiostat-voltage"] == "V" and units["potentiostat-step_charge"] == "C"
    event = next(doc for name, doc in docs if name == "event")
    assert event["data"]["potentiostat-end_reason"] == "time"
