"""Twin drivers: the driver protocols over the simulated lab, faults included."""

from __future__ import annotations

import pytest

from simslab.clock import ManualClock
from simslab.devices.drivers import protocols
from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel
from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout, SensorFault

pytest.importorskip("simslab.simulators.tracer_sample")
pytest.importorskip("simslab.simulators.sims_image")

from simslab.simulators.lab import SimulatedLab  # noqa: E402
from simslab.simulators.twin_drivers import make_twin_drivers  # noqa: E402

START_S = 1.7e9
HOUR = 3600.0
SMALL_SAMPLE = {"sample": {"window_size_m": [64e-6, 32e-6], "window_pixels": [64, 32]}}
PROTOCOLS = {
    "stage": protocols.TemperatureControllerDriver,
    "level_meter": protocols.LevelMeterDriver,
    "furnace": protocols.FurnaceDriver,
    "potentiostat": protocols.PotentiostatDriver,
    "sims": protocols.SimsDriver,
    "sample_handler": protocols.SampleHandlerDriver,
}


@pytest.fixture
def lab_and_drivers(twin_params, request):
    faults = getattr(request, "param", [])
    clock = ManualClock(START_S)
    lab = SimulatedLab(twin_params(**SMALL_SAMPLE, faults=faults), clock)
    drivers = make_twin_drivers(lab)
    for driver in drivers.values():
        driver.connect()
    return lab, clock, drivers


def cathode_image(integration_s: float = 800.0) -> AcquisitionRequest:
    return AcquisitionRequest(
        kind="image",
        region="cathode",
        masses=(MassChannel("6Li+", 6.015), MassChannel("58Ni+", 57.935)),
        primary=Beam("Bi+", 30e3, 0.5e-12, (80e-6, 30e-6)),
        pixels=(40, 15),
        integration_s=integration_s,
        output_name="cathode",
        cleaning=Beam("Ar2000+", 10e3, 1e-9, (700e-6, 700e-6)),
        cleaning_time_s=100.0,
    )


def test_every_twin_driver_implements_its_protocol(lab_and_drivers):
    _, _, drivers = lab_and_drivers
    assert set(drivers) == set(PROTOCOLS)
    for key, driver in drivers.items():
        assert isinstance(driver, PROTOCOLS[key]), key
        assert driver.blocking is False and driver.name == key
        assert "twin" in driver.identify()


def test_a_driver_must_be_connected_first(twin_params):
    lab = SimulatedLab(twin_params(**SMALL_SAMPLE), ManualClock(START_S))
    stage = make_twin_drivers(lab)["stage"]
    with pytest.raises(ConnectionLost, match="not connected"):
        stage.read_temperature_k()
    stage.connect()
    stage.close()
    stage.close()  # twice is fine
    with pytest.raises(ConnectionLost):
        stage.read_setpoint_k()


def test_stage_driver_cools_and_refuses_out_of_range_settings(lab_and_drivers):
    _, clock, drivers = lab_and_drivers
    stage, level = drivers["stage"], drivers["level_meter"]
    stage.set_setpoint_k(163.15)
    clock.advance(2 * HOUR)
    assert stage.read_temperature_k() == pytest.approx(163.15, abs=0.05)
    assert 0.0 < stage.read_heater_fraction() < 1.0 and stage.read_heater_error() == 0
    assert level.read_level_fraction() == pytest.approx(1 - 2 / 18, abs=1e-6)
    with pytest.raises(InstrumentError, match="range 0 to 500"):
        stage.set_setpoint_k(600.0)
    with pytest.raises(InstrumentError, match="heater range"):
        stage.set_heater_range(4)
    stage.set_ramp_k_per_s(0.01)
    stage.set_setpoint_k(173.15)
    assert stage.is_ramping() and stage.read_ramp_k_per_s() == 0.01


@pytest.mark.parametrize(
    "lab_and_drivers",
    [[{"kind": "thermocouple_break", "device": "furnace", "at_s": 2 * HOUR, "duration_s": 1800.0}]],
    indirect=True,
)
def test_thermocouple_break_makes_the_furnace_driver_raise_sensor_fault(lab_and_drivers):
    lab, clock, drivers = lab_and_drivers
    furnace = drivers["furnace"]
    furnace.set_ramp_k_per_s(0.1)
    furnace.set_setpoint_k(473.15)
    clock.advance(2 * HOUR - 1.0)
    assert furnace.read_temperature_k() == pytest.approx(473.15, abs=1.0)
    clock.advance(1.0)
    with pytest.raises(SensorFault) as caught:
        furnace.read_temperature_k()
    assert caught.value.instrument == "furnace"
    status = furnace.read_status()
    assert status.sensor_break and status.alarm and furnace.read_output_fraction() == 0.0
    clock.advance(1800.0)
    assert furnace.read_temperature_k() < 473.15 - 5.0  # it cooled with the output cut
    assert [f.kind for f in lab.faults.injected] == ["thermocouple_break"]


@pytest.mark.parametrize(
    "lab_and_drivers",
    [[{"kind": "ln2_runout", "device": "stage", "at_s": 2 * HOUR, "duration_s": 1800.0}]],
    indirect=True,
)
def test_ln2_runout_at_its_time_empties_the_dewar_and_warms_the_stage(lab_and_drivers):
    _, clock, drivers = lab_and_drivers
    drivers["stage"].set_setpoint_k(163.15)
    clock.advance(2 * HOUR)
    assert drivers["level_meter"].read_level_fraction() == 0.0
    clock.advance(1200.0)
    assert drivers["stage"].read_temperature_k() > 163.15 + 50.0
    clock.advance(600.0 + 2 * HOUR)
    assert drivers["level_meter"].read_level_fraction() > 0.8
    assert drivers["stage"].read_temperature_k() == pytest.approx(163.15, abs=0.1)


@pytest.mark.parametrize(
    "lab_and_drivers",
    [[{"kind": "compliance", "device": "potentiostat", "at_s": 600.0, "duration_s": 300.0}]],
    indirect=True,
)
def test_compliance_fault_shows_in_the_potentiostat_reading(lab_and_drivers):
    _, clock, drivers = lab_and_drivers
    potentiostat = drivers["potentiostat"]
    potentiostat.apply_current(6e-6, 3.5)
    clock.advance(300.0)
    reading = potentiostat.read_measurement()
    assert not reading.compliance and reading.current_a == pytest.approx(6e-6)
    assert reading.charge_c == pytest.approx(6e-6 * 300.0, rel=1e-12)
    clock.advance(400.0)
    assert potentiostat.read_measurement().compliance
    clock.advance(300.0)
    assert not potentiostat.read_measurement().compliance


@pytest.mark.parametrize(
    "lab_and_drivers", [[{"kind": "sims_abort", "device": "sims", "at_s": 500.0}]], indirect=True
)
def test_sims_abort_fault_aborts_the_running_acquisition(lab_and_drivers):
    lab, clock, drivers = lab_and_drivers
    sims = drivers["sims"]
    sims.start_acquisition(cathode_image())
    clock.advance(400.0)
    assert sims.read_acquisition().state == "running"
    clock.advance(200.0)
    state = sims.read_acquisition()
    assert state.state == "aborted" and state.elapsed_s == pytest.approx(500.0)
    with pytest.raises(InstrumentError, match="no finished acquisition"):
        sims.fetch_result()
    # the dose counts what was analysed: 400 of 800 s after 100 s of cleaning
    full = lab.dose_ions_per_m2("cathode")
    assert full == pytest.approx(0.5e-12 * 400.0 / 1.602176634e-19 / (80e-6 * 30e-6), rel=1e-9)


@pytest.mark.parametrize(
    "lab_and_drivers", [[{"kind": "instrument_timeout", "device": "stage", "at_s": 60.0}]], indirect=True
)
def test_driver_fault_raises_from_the_driver_naming_instrument_and_command(lab_and_drivers):
    _, clock, drivers = lab_and_drivers
    drivers["stage"].read_temperature_k()
    clock.advance(60.0)
    drivers["furnace"].read_temperature_k()  # another instrument: not hit
    with pytest.raises(InstrumentTimeout) as caught:
        drivers["stage"].read_temperature_k()
    assert caught.value.instrument == "stage" and caught.value.command == "KRDG? A"
    drivers["stage"].read_temperature_k()


def test_sims_acquisition_runs_for_cleaning_plus_integration(lab_and_drivers):
    _, clock, drivers = lab_and_drivers
    sims = drivers["sims"]
    assert sims.read_acquisition().state == "idle"
    sims.start_acquisition(cathode_image(integration_s=800.0))
    with pytest.raises(InstrumentError, match="already running"):
        sims.start_acquisition(cathode_image())
    clock.advance(899.0)
    assert sims.read_acquisition().state == "running"
    with pytest.raises(InstrumentError):
        sims.fetch_result()
    clock.advance(1.0)
    assert sims.read_acquisition().state == "done"
    result = sims.fetch_result()
    assert set(result.counts) == {"6Li+", "58Ni+"} and result.counts["58Ni+"].shape == (15, 40)
    assert sims.fetch_result() is result  # built once


def test_tracer_imaging_needs_the_sample_on_the_stage(lab_and_drivers):
    _, clock, drivers = lab_and_drivers
    request = AcquisitionRequest(
        kind="image",
        region="diffusion_window",
        masses=(MassChannel("6Li+", 6.015), MassChannel("7Li+", 7.016)),
        primary=Beam("Bi+", 30e3, 0.5e-12, (64e-6, 32e-6)),
        pixels=(64, 32),
        integration_s=600.0,
        output_name="tracer",
    )
    with pytest.raises(InstrumentError, match="no sample on the SIMS stage"):
        drivers["sims"].start_acquisition(request)


def test_sample_transfer_takes_its_time(lab_and_drivers):
    lab, clock, drivers = lab_and_drivers
    handler = drivers["sample_handler"]
    assert handler.read_location() == "storage" and handler.transfer_complete()
    handler.request_transfer("furnace", note="anneal 200 C")
    assert handler.read_location() == "in_transfer" and not handler.transfer_complete()
    with pytest.raises(InstrumentError, match="in progress"):
        handler.request_transfer("cryo_stage")
    clock.advance(lab.params.transfer_s)
    assert handler.read_location() == "furnace" and handler.transfer_complete()
    with pytest.raises(ValueError, match="location must be one of"):
        handler.request_transfer("glovebox")
