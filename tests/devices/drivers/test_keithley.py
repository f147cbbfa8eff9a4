"""The Keithley 2450 galvanostat driver against its protocol simulators.

Static behaviour (parsing, NaN, compliance, command-set and range refusals, the error queue)
against the pyvisa-sim YAML; the bytes on the wire, the charge integral and the failures
against the SCPI peer over a TCP socket and a pty, with a fake cell as the peer's backend.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

import simslab.simulators
from simslab.clock import ManualClock
from simslab.devices.drivers.keithley import Keithley2450
from simslab.devices.drivers.protocols import PotentiostatDriver
from simslab.devices.drivers.settings import Keithley2450Settings
from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout
from simslab.simulators.peers import start_keithley2450_peer
from tests.devices.fakes import FakeCell

SIM = f"{Path(simslab.simulators.__file__).parent / 'visa' / 'keithley2450.yaml'}@sim"
TIMEOUT_S = 0.3
LATE_S = 0.5  # scheduling slack above the timeout on a loaded 2-core machine


def sim_driver(serial: str, now=time.time) -> Keithley2450:
    resource = f"USB0::0x05E6::0x2450::{serial}::INSTR"
    driver = Keithley2450(Keithley2450Settings(kind="keithley2450", resource=resource, visa_library=SIM, timeout_s=TIMEOUT_S), now=now)
    driver.connect()
    return driver


@pytest.fixture
def cell():
    """A fake cell (2.0 V at zero charge, 10 F, 1 kOhm) on a hand-moved clock."""
    return FakeCell(clock=ManualClock(1_000_000.0), name="cell")


@pytest.fixture(params=["tcp", "pty"])
def peer_and_driver(request, cell):
    """The driver, on the cell's clock, connected to a 2450 peer over each transport."""
    server = start_keithley2450_peer(cell, transport=request.param)
    settings = Keithley2450Settings(kind="keithley2450", resource=server.resource, timeout_s=TIMEOUT_S)
    driver = Keithley2450(settings, now=cell.clock.now)
    driver.connect()
    yield server, driver
    driver.close()
    server.close()


# --- against the pyvisa-sim YAML -------------------------------------------------------------


def test_the_driver_implements_the_potentiostat_protocol():
    driver = sim_driver("04000001")
    assert isinstance(driver, PotentiostatDriver) and driver.blocking
    driver.close()


def test_a_cc_reading_maps_measured_voltage_and_source_current():
    driver = sim_driver("04000001")
    driver.apply_current(1e-3, 4.2)
    reading = driver.read_measurement()
    assert reading.voltage_v == pytest.approx(3.7) and reading.current_a == pytest.approx(1e-3)
    assert reading.compliance is False
    assert driver.query(":SOUR:CURR:VLIM?") == "+4.200000E+00"
    driver.close()


def test_an_overflowed_reading_is_nan_and_the_voltage_limit_trip_is_reported():
    driver = sim_driver("04000003")
    driver.apply_current(1e-3, 4.2)
    reading = driver.read_measurement()
    assert math.isnan(reading.voltage_v)  # 9.91e37 on the wire
    assert reading.compliance is True  # :SOUR:CURR:VLIM:TRIP? -> 1
    driver.close()


def test_a_2450_in_another_command_set_is_refused_at_connect():
    with pytest.raises(InstrumentError, match="select SCPI") as caught:
        sim_driver("04000002")
    assert caught.value.command == "*LANG?" and caught.value.reply == "SCPI2400"


def test_another_model_is_refused_at_connect():
    with pytest.raises(InstrumentError, match="not a Keithley 2450") as caught:
        sim_driver("04000004")
    assert "MODEL 2400" in caught.value.reply


@pytest.mark.parametrize(
    ("action", "args", "refused"),
    [
        ("apply_current", (2.0, 4.2), "source current 2 A"),
        ("apply_current", (1e-3, 0.01), "voltage limit 0.01 V"),
        ("apply_current", (1e-3, 250.0), "voltage limit 250 V"),
        ("apply_voltage", (-300.0, 1e-3), "source voltage -300 V"),
        ("apply_voltage", (4.2, 2.0), "current limit 2 A"),
        ("apply_current", (math.nan, 4.2), "source current nan A"),
    ],
)
def test_a_value_outside_the_instrument_range_is_refused_before_writing(action, args, refused):
    driver = sim_driver("04000001")
    before = [driver.query(q) for q in (":SOUR:FUNC?", ":SOUR:CURR:LEV?", ":SOUR:CURR:VLIM?", ":SOUR:VOLT:LEV?")]
    with pytest.raises(InstrumentError, match=refused):
        getattr(driver, action)(*args)
    after = [driver.query(q) for q in (":SOUR:FUNC?", ":SOUR:CURR:LEV?", ":SOUR:CURR:VLIM?", ":SOUR:VOLT:LEV?")]
    assert after == before
    driver.close()


def test_an_error_queued_by_the_instrument_is_raised_with_the_line_and_the_error():
    driver = sim_driver("04000001")
    with pytest.raises(InstrumentError) as caught:
        driver.configure([":SOUR:CURR:LEV 5.000000E+00"])  # bypasses the driver's range check
    assert caught.value.command == ":SOUR:CURR:LEV 5.000000E+00"
    assert caught.value.reply == '-113,"Undefined header"'
    assert driver.query(":SYST:ERR?") == '0,"No error"'  # the queue was read empty
    driver.close()


def test_reading_with_the_output_off_triggers_nothing():
    driver = sim_driver("04000001")
    reading = driver.read_measurement()
    assert math.isnan(reading.voltage_v) and reading.current_a == 0.0 and reading.charge_c == 0.0
    driver.close()


# --- against the SCPI peer -------------------------------------------------------------------


def test_the_bytes_exchanged_for_a_cc_step_and_a_reading(cell):
    server = start_keithley2450_peer(cell, transport="tcp")
    driver = Keithley2450(Keithley2450Settings(kind="keithley2450", resource=server.resource, timeout_s=TIMEOUT_S), now=cell.clock.now)
    driver.connect()
    driver.apply_current(1e-3, 4.2)
    driver.read_measurement()
    driver.cell_off()
    driver.close()
    server.close()
    assert list(server.log) == [
        ("in", b"*IDN?\n"),
        ("out", b"KEITHLEY INSTRUMENTS,MODEL 2450,04000000,1.7.12b\n"),
        ("in", b"*LANG?\n"),
        ("out", b"SCPI\n"),
        ("in", b":OUTP?\n"),
        ("out", b"0\n"),
        ("in", b':SOUR:FUNC CURR;:SOUR:CURR:LEV 1.000000E-03;:SOUR:CURR:VLIM 4.200000E+00;:SENS:FUNC "VOLT";:OUTP ON\n'),
        ("in", b":SYST:ERR?\n"),
        ("out", b'0,"No error"\n'),
        ("in", b':READ? "defbuffer1", READ, SOUR\n'),
        ("out", b"+3.000000E+00,+1.000000E-03\n"),  # fake cell: 2.0 V emf + 1 kOhm x 1 mA
        ("in", b":SOUR:CURR:VLIM:TRIP?\n"),
        ("out", b"0\n"),
        ("in", b":OUTP OFF\n"),
        ("in", b":SYST:ERR?\n"),
        ("out", b'0,"No error"\n'),
    ]
    assert cell.writes == [("apply_current", 1e-3, 4.2), ("cell_off",)]


def test_open_circuit_sources_zero_amps_and_reads_the_cell_voltage(peer_and_driver, cell):
    server, driver = peer_and_driver
    driver.set_open_circuit()
    assert cell.writes == [("set_open_circuit",)]
    reading = driver.read_measurement()
    assert reading.voltage_v == pytest.approx(2.0, abs=1e-6) and reading.current_a == 0.0


def test_charge_is_the_trapezoid_integral_of_the_readings_on_the_driver_clock(peer_and_driver, cell):
    server, driver = peer_and_driver
    driver.apply_current(2e-3, 4.2)
    for _ in range(10):
        cell.clock.advance(30.0)
        reading = driver.read_measurement()
    # constant 2 mA for 300 s: 0.6 C; 7 significant digits on the wire bound the error
    assert reading.charge_c == pytest.approx(0.6, rel=1e-6)
    assert reading.time_s == cell.clock.now()
    cell.clock.advance(100.0)  # the source holds 2 mA until the output goes off
    driver.cell_off()
    cell.clock.advance(100.0)
    assert driver.read_measurement().charge_c == pytest.approx(0.8, rel=1e-6)


def test_a_cv_hold_integrates_the_measured_decaying_current(peer_and_driver, cell):
    server, driver = peer_and_driver
    driver.apply_voltage(2.5, 1e-3)
    assert cell.writes == [("apply_voltage", 2.5, 1e-3)]
    readings = []
    for _ in range(60):
        cell.clock.advance(60.0)
        readings.append(driver.read_measurement())
    assert readings[0].voltage_v == pytest.approx(2.5, abs=1e-5)  # source readback is the held voltage
    assert readings[-1].current_a < readings[0].current_a  # the current decays as the cell charges
    # the fake cell integrates exactly. Trapezoids of 60 s on a 10^4 s exponential (tau = RC)
    # are off by ~(dt/tau)^2/12 ~ 3e-6; the first step is a rectangle (the current at the
    # switch is not read), off by ~dt/(2 tau) of that step's charge: ~1e-4 of the total at most
    assert readings[-1].charge_c == pytest.approx(cell.charge_c, rel=1e-3)


def test_no_reply_is_a_timeout_within_the_timeout(peer_and_driver):
    server, driver = peer_and_driver
    driver.apply_current(1e-3, 4.2)
    server.inject_fault("silent")
    started = time.monotonic()
    with pytest.raises(InstrumentTimeout) as caught:
        driver.read_measurement()
    elapsed = time.monotonic() - started
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + LATE_S
    assert caught.value.instrument == "Keithley 2450" and caught.value.command.startswith(":READ?")


def test_a_garbled_reply_names_instrument_command_and_reply(peer_and_driver):
    server, driver = peer_and_driver
    driver.apply_current(1e-3, 4.2)
    server.inject_fault("garble")
    with pytest.raises(InstrumentError) as caught:
        driver.read_measurement()
    error = caught.value
    assert error.instrument == "Keithley 2450" and error.command == ':READ? "defbuffer1", READ, SOUR'
    assert "\\x9f" in error.reply


def test_a_lost_connection_is_connection_lost_never_a_hang(peer_and_driver):
    server, driver = peer_and_driver
    driver.apply_current(1e-3, 4.2)
    server.inject_fault("disconnect")
    started = time.monotonic()
    with pytest.raises(ConnectionLost):
        for _ in range(3):  # tcp: a peer's close shows after at most one timeout
            driver.read_measurement()
    assert time.monotonic() - started < 2 * TIMEOUT_S + LATE_S


# --- the lab-on-twin mode: the real driver on the twin through the peer ------------------------


def test_on_the_twin_the_driver_reads_the_twin_cell_and_integrates_its_charge():
    lab_module = pytest.importorskip("simslab.simulators.lab", reason="the twin (helper H2) is not importable yet")
    from simslab.simulators.parameters import TwinParameters
    from simslab.simulators.twin_drivers import TwinPotentiostat

    clock = ManualClock(1_700_000_000.0)
    twin = TwinPotentiostat(lab_module.SimulatedLab(TwinParameters(), clock))
    twin.connect()
    server = start_keithley2450_peer(twin, transport="tcp")
    driver = Keithley2450(Keithley2450Settings(kind="keithley2450", resource=server.resource, timeout_s=1.0), now=clock.now)
    driver.connect()
    driver.apply_current(1e-5, 4.3)
    for _ in range(5):
        clock.advance(600.0)
        reading, truth = driver.read_measurement(), twin.read_measurement()
        # 7 significant digits on the wire (+2.143777E+00): 1e-6 relative bounds the rounding
        assert reading.voltage_v == pytest.approx(truth.voltage_v, rel=1e-6)
        assert reading.current_a == pytest.approx(truth.current_a, rel=1e-6)
        assert reading.charge_c == pytest.approx(truth.charge_c, rel=1e-6)  # constant current: exact
    driver.cell_off()
    driver.close()
    server.close()
