"""The Lake Shore 335/336 driver against its protocol simulators.

Static command/reply behaviour (parsing, units, refusals) against the pyvisa-sim YAML; the
bytes on the wire, the dynamics and the failures against the stateful peer on a TCP socket
and a pty, through pyvisa-py, with a fake stage controller as the peer's backend.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import simslab.simulators
from simslab.clock import ManualClock
from simslab.devices.drivers.lakeshore import LakeShore33x
from simslab.devices.drivers.protocols import TemperatureControllerDriver
from simslab.devices.drivers.settings import LakeShoreSettings
from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout, SensorFault
from simslab.simulators.peers import start_lakeshore_peer
from tests.devices.fakes import FakeTemperatureController

SIM = f"{Path(simslab.simulators.__file__).parent / 'visa' / 'lakeshore336.yaml'}@sim"
TIMEOUT_S = 0.3
LATE_S = 0.5  # scheduling slack above the timeout on a loaded 2-core machine


def sim_driver(resource: str, kind: str = "lakeshore336", **overrides) -> LakeShore33x:
    settings = LakeShoreSettings(kind=kind, resource=resource, visa_library=SIM, timeout_s=TIMEOUT_S, **overrides)
    driver = LakeShore33x(settings)
    driver.connect()
    return driver


@pytest.fixture
def stage():
    """A fake stage controller at 295.15 K on a hand-moved clock (the peer's backend)."""
    clock = ManualClock(1_000_000.0)
    return FakeTemperatureController(clock=clock, name="stage", time_constant_s=60.0)


@pytest.fixture(params=["tcp", "pty"])
def peer_and_driver(request, stage):
    """The driver connected to a Lake Shore peer over each transport (pty: 8N1, see instruments.md)."""
    server = start_lakeshore_peer(stage, transport=request.param)
    settings = LakeShoreSettings(
        kind="lakeshore336", resource=server.resource, timeout_s=TIMEOUT_S, data_bits=8, parity="none"
    )
    driver = LakeShore33x(settings)
    driver.connect()
    yield server, driver
    driver.close()
    server.close()


# --- against the pyvisa-sim YAML -------------------------------------------------------------


def test_the_driver_implements_the_temperature_controller_protocol():
    driver = sim_driver("ASRL1::INSTR")
    assert isinstance(driver, TemperatureControllerDriver) and driver.blocking
    driver.close()


def test_readings_are_parsed_into_si_units():
    driver = sim_driver("ASRL1::INSTR")
    assert driver.read_temperature_k() == pytest.approx(77.35, abs=5e-4)  # KRDG? A -> +077.350
    assert driver.read_setpoint_k() == pytest.approx(295.0, abs=5e-4)
    assert driver.read_heater_fraction() == pytest.approx(0.125, abs=5e-4)  # HTR? 1 -> +012.5 %
    assert driver.read_ramp_k_per_s() == 0.0 and driver.is_ramping() is False
    assert driver.read_heater_error() == 0
    assert driver.setpoint_max_k == 500.0  # CRVHDR? 11: DT-670 limit
    driver.close()


def test_a_ramp_rate_in_k_per_s_goes_out_in_k_per_min_and_comes_back():
    driver = sim_driver("ASRL1::INSTR")
    driver.set_ramp_k_per_s(0.05)
    assert driver.query("RAMP? 1") == "1,3.0"  # 0.05 K/s = 3.0 K/min
    assert driver.read_ramp_k_per_s() == pytest.approx(0.05, rel=1e-12)
    driver.set_ramp_k_per_s(0.0)
    assert driver.read_ramp_k_per_s() == 0.0
    driver.close()


def test_a_celsius_input_gets_setpoints_in_celsius_on_the_wire():
    driver = sim_driver("ASRL4::INSTR")
    assert driver.units == "C"
    driver.set_setpoint_k(163.15)
    assert driver.query("SETP? 1") == "-110.000"  # -110 C, as the controller shows it
    assert driver.read_setpoint_k() == pytest.approx(163.15, abs=5e-4)
    driver.close()


def test_the_335_is_recognised_and_an_output_it_lacks_is_refused_at_construction():
    driver = sim_driver("ASRL2::INSTR", kind="lakeshore335")
    assert driver.identify().startswith("LSCI,MODEL335")
    driver.close()
    with pytest.raises(ValueError, match="output = 3"):
        LakeShore33x(LakeShoreSettings(kind="lakeshore335", resource="ASRL2::INSTR", output=3))


def test_a_sensor_fault_raises_sensor_fault_naming_the_status():
    driver = sim_driver("ASRL3::INSTR")
    with pytest.raises(SensorFault) as caught:
        driver.read_temperature_k()
    assert caught.value.command == "RDGST? A" and caught.value.reply == "32"
    assert "over range" in str(caught.value)
    driver.close()


def test_another_model_is_refused_at_connect():
    settings = LakeShoreSettings(kind="lakeshore336", resource="ASRL6::INSTR", visa_library=SIM, timeout_s=TIMEOUT_S)
    driver = LakeShore33x(settings)
    with pytest.raises(InstrumentError) as caught:
        driver.connect()
    assert caught.value.command == "*IDN?" and "MODEL331" in caught.value.reply
    assert driver.transport is None  # the port is released


@pytest.mark.parametrize(
    ("action", "value", "refused"),
    [
        ("set_setpoint_k", 600.0, "setpoint 600 K"),  # above the curve limit, 500 K
        ("set_setpoint_k", -5.0, "setpoint -5 K"),
        ("set_ramp_k_per_s", 2.0, "ramp rate 120 K/min"),  # above 100 K/min
        ("set_ramp_k_per_s", 0.0005, "ramp rate 0.03 K/min"),  # below 0.1 K/min
        ("set_heater_range", 4, "heater range 4"),
    ],
)
def test_a_value_outside_the_instrument_range_is_refused_before_writing(action, value, refused):
    driver = sim_driver("ASRL1::INSTR")
    before = (driver.query("SETP? 1"), driver.query("RAMP? 1"), driver.query("RANGE? 1"))
    with pytest.raises(InstrumentError, match=refused) as caught:
        getattr(driver, action)(value)
    assert "not sent" in str(caught.value)
    assert (driver.query("SETP? 1"), driver.query("RAMP? 1"), driver.query("RANGE? 1")) == before
    driver.close()


def test_a_command_the_controller_flags_in_esr_is_an_instrument_error():
    driver = sim_driver("ASRL1::INSTR")
    with pytest.raises(InstrumentError, match="command error") as caught:
        driver.command("SETP 1,900.000")  # bypasses the driver's range check
    assert caught.value.command == "SETP 1,900.000" and caught.value.reply == "32"
    driver.close()


# --- against the stateful peer ---------------------------------------------------------------


def test_the_bytes_exchanged_at_connect_and_for_a_setpoint(stage):
    server = start_lakeshore_peer(stage, transport="tcp")
    driver = LakeShore33x(LakeShoreSettings(kind="lakeshore336", resource=server.resource, timeout_s=TIMEOUT_S))
    driver.connect()
    driver.set_setpoint_k(163.15)
    assert driver.read_temperature_k() == pytest.approx(295.15, abs=5e-4)
    driver.close()
    server.close()
    assert list(server.log) == [
        ("in", b"*IDN?\n"),
        ("out", b"LSCI,MODEL336,LSA0001/#######,2.9\r\n"),
        ("in", b"OUTMODE? 1\n"),
        ("out", b"1,1,0\r\n"),
        ("in", b"INTYPE? A\n"),
        ("out", b"1,0,0,0,1\r\n"),
        ("in", b"INCRV? A\n"),
        ("out", b"11\r\n"),
        ("in", b"CRVHDR? 11\n"),
        ("out", b"DT-670,STANDARD,2,+500.000,1\r\n"),
        ("in", b"SETP 1,163.150;*ESR?\n"),
        ("out", b"0\r\n"),
        ("in", b"RDGST? A\n"),
        ("out", b"0\r\n"),
        ("in", b"KRDG? A\n"),
        ("out", b"+295.150\r\n"),
    ]


def test_connect_puts_a_loop_that_is_off_into_closed_loop_pid(stage):
    server = start_lakeshore_peer(stage, transport="tcp")
    server.handler.output_mode[1] = [0, 0, 0]  # as from the box: output 1 off
    driver = LakeShore33x(LakeShoreSettings(kind="lakeshore336", resource=server.resource, timeout_s=TIMEOUT_S))
    driver.connect()
    assert server.handler.output_mode[1] == [1, 1, 0]  # PID on input A
    assert ("in", b"OUTMODE 1,1,1,0;*ESR?\n") in server.log
    driver.close()
    server.close()


def test_a_ramp_on_the_peer_is_followed_by_the_driver(peer_and_driver, stage):
    server, driver = peer_and_driver
    driver.set_ramp_k_per_s(0.05)
    driver.set_setpoint_k(163.15)
    assert stage.writes == [("set_ramp_k_per_s", 0.05), ("set_setpoint_k", 163.15)]
    stage.clock.advance(600.0)  # 10 min at 3 K/min: the setpoint has moved 30 K
    assert driver.is_ramping() is True
    assert driver.read_setpoint_k() == pytest.approx(295.15 - 30.0, abs=5e-4)  # 3 decimals on the wire
    assert driver.read_temperature_k() == pytest.approx(stage.model.temperature_k, abs=5e-4)
    stage.clock.advance(3600.0)
    assert driver.is_ramping() is False
    assert driver.read_setpoint_k() == pytest.approx(163.15, abs=5e-4)


def test_heater_range_and_output_reach_the_backend(peer_and_driver, stage):
    server, driver = peer_and_driver
    driver.set_heater_range(2)
    assert stage.heater_range == 2
    stage.heater_fraction_override = 0.456
    assert driver.read_heater_fraction() == pytest.approx(0.456, abs=5e-4)  # HTR? has 0.1 % resolution
    stage.heater_error = 1
    assert driver.read_heater_error() == 1


def test_a_sensor_fault_of_the_backend_reaches_the_driver_as_sensor_fault(peer_and_driver, stage):
    server, driver = peer_and_driver
    stage.sensor_fault = True
    with pytest.raises(SensorFault, match="invalid reading"):
        driver.read_temperature_k()


def test_no_reply_is_a_timeout_within_the_timeout(peer_and_driver):
    server, driver = peer_and_driver
    server.inject_fault("silent")
    started = time.monotonic()
    with pytest.raises(InstrumentTimeout) as caught:
        driver.read_temperature_k()
    elapsed = time.monotonic() - started
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + LATE_S
    assert caught.value.instrument == "Lake Shore 336" and caught.value.command == "RDGST? A"


def test_a_garbled_reply_names_instrument_command_and_reply(peer_and_driver):
    server, driver = peer_and_driver
    server.inject_fault("garble")
    with pytest.raises(InstrumentError) as caught:
        driver.read_setpoint_k()
    error = caught.value
    assert error.instrument == "Lake Shore 336" and error.command == "SETP? 1" and "\\x9f" in error.reply


def test_a_lost_connection_is_connection_lost_never_a_hang(peer_and_driver):
    server, driver = peer_and_driver
    server.inject_fault("disconnect")
    started = time.monotonic()
    with pytest.raises(ConnectionLost):
        for _ in range(3):  # tcp: a peer's close shows after at most one timeout
            driver.read_temperature_k()
    assert time.monotonic() - started < 2 * TIMEOUT_S + LATE_S


# --- the lab-on-twin mode: the real driver on the twin through the peer ------------------------


def test_on_the_twin_the_driver_sees_the_twin_stage_to_wire_resolution():
    lab_module = pytest.importorskip("simslab.simulators.lab", reason="the twin (helper H2) is not importable yet")
    from simslab.simulators.parameters import TwinParameters
    from simslab.simulators.twin_drivers import TwinTemperatureController

    clock = ManualClock(1_700_000_000.0)
    twin = TwinTemperatureController(lab_module.SimulatedLab(TwinParameters(), clock))
    twin.connect()
    server = start_lakeshore_peer(twin, transport="tcp")
    driver = LakeShore33x(LakeShoreSettings(kind="lakeshore336", resource=server.resource, timeout_s=1.0))
    driver.connect()
    driver.set_ramp_k_per_s(0.1)
    driver.set_setpoint_k(163.15)
    for _ in range(4):
        clock.advance(600.0)
        # the wire carries 3 decimals (KRDG? +163.150): 5e-4 K is the rounding bound
        assert driver.read_temperature_k() == pytest.approx(twin.read_temperature_k(), abs=5e-4)
        assert driver.read_setpoint_k() == pytest.approx(twin.read_setpoint_k(), abs=5e-4)
        assert driver.is_ramping() == twin.is_ramping()
    assert driver.read_setpoint_k() == pytest.approx(163.15, abs=5e-4)  # 132 K at 6 K/min: 22 min
    driver.close()
    server.close()
