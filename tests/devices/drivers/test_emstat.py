"""The EmStat4 driver against the MethodSCRIPT peer: scripts sent, readings, charge, faults."""

from __future__ import annotations

import math
import time

import pytest

from simslab.devices.drivers.emstat import EmStat4
from simslab.devices.drivers.methodscript import chronoamperometry_script, chronopotentiometry_script
from simslab.devices.drivers.protocols import PotentiostatDriver
from simslab.devices.drivers.settings import EmStat4Settings
from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout, LimitError
from simslab.simulators.peers.emstat_peer import start_emstat_peer
from tests.simulators.peers.backends import CellBackend

INTERVAL_S = 0.05
TIMEOUT_S = 0.5
RUN_S = 604800.0  # the driver's default longest step, 7 days


@pytest.fixture
def cell():
    return CellBackend(ocv_v=2.0, resistance_ohm=1000.0)


@pytest.fixture
def peer(cell):
    peer = start_emstat_peer(cell)
    yield peer
    peer.close()


@pytest.fixture
def emstat(peer):
    driver = EmStat4(EmStat4Settings(kind="emstat4", port=peer.port, timeout_s=TIMEOUT_S), interval_s=INTERVAL_S)
    driver.connect()
    yield driver
    driver.close()


def _wait_packets(n: int = 4) -> None:
    time.sleep(n * INTERVAL_S)


def test_connect_reads_the_model_and_leaves_the_cell_off(emstat, peer, cell):
    assert isinstance(emstat, PotentiostatDriver)
    assert emstat.model == "es4_lr"
    assert emstat.identify() == "es4_lr1.4.0 simslab peer #Nov 01 2026"
    assert peer.scripts == ["e\ncell_off\n\n"]
    assert cell.calls == [("off",)]


def test_constant_current_sends_the_chronopotentiometry_script_and_reads_back(emstat, peer, cell):
    emstat.apply_current(6e-6, 3.1)
    assert peer.scripts[-1] == chronopotentiometry_script(6e-6, 3.1, INTERVAL_S, RUN_S)
    assert cell.calls[-1] == ("cc", 6e-6, 3.1)
    _wait_packets()
    reading = emstat.read_measurement()
    # V = OCV + R I = 2.0 + 1000 x 6e-6; packets carry 7 hex digits at nano/pico resolution
    assert reading.voltage_v == pytest.approx(2.006, abs=1e-9)
    assert reading.current_a == pytest.approx(6e-6, abs=1e-12)
    assert not reading.compliance


def test_charge_is_integrated_from_the_packets_instrument_time(emstat, peer):
    emstat.apply_current(1e-3, 3.5)
    time.sleep(0.5)
    first = emstat.read_measurement()
    time.sleep(0.5)
    second = emstat.read_measurement()
    # dQ = I x (instrument time between the two last packets seen); packets every 50 ms, so the
    # wall-clock gap between the reads (~0.5 s) brackets the charge within two intervals
    dq = second.charge_c - first.charge_c
    assert 1e-3 * (0.5 - 2 * INTERVAL_S) <= dq <= 1e-3 * (0.5 + 2 * INTERVAL_S)
    assert second.time_s > first.time_s


def test_constant_voltage_sends_the_chronoamperometry_script(emstat, peer, cell):
    emstat.apply_voltage(2.5, 1e-3)
    assert peer.scripts[-1] == chronoamperometry_script(2.5, 1e-3, INTERVAL_S, RUN_S)
    assert cell.calls[-2:] == [("off",), ("cv", 2.5, 1e-3)]  # the CC step was aborted, then CV started
    _wait_packets()
    reading = emstat.read_measurement()
    assert reading.voltage_v == pytest.approx(2.5, abs=1e-9)
    assert reading.current_a == pytest.approx(0.5 / 1000.0, rel=1e-6)  # (2.5 - 2.0) V / 1 kOhm


def test_open_circuit_reports_zero_current(emstat, cell):
    emstat.set_open_circuit()
    _wait_packets()
    reading = emstat.read_measurement()
    assert reading.current_a == 0.0 and reading.voltage_v == pytest.approx(2.0, abs=1e-9)
    assert cell.calls[-1] == ("ocv",)


def test_reaching_the_voltage_limit_ends_the_step_with_compliance(emstat, cell):
    emstat.apply_current(1e-3, 2.9)  # 2.0 V + 1 kOhm x 1 mA = 3.0 V >= 2.9 V at the first packet
    _wait_packets()
    reading = emstat.read_measurement()
    assert reading.compliance
    assert reading.current_a == 0.0  # the script switched the cell off (on_finished)
    assert cell.calls[-1] == ("off",)


def test_cell_off_aborts_the_running_step(emstat, peer, cell):
    emstat.apply_current(1e-4, 3.5)
    _wait_packets(2)
    emstat.cell_off()
    assert peer.scripts[-1] == "e\ncell_off\n\n"
    assert cell.mode == "off"
    reading = emstat.read_measurement()
    assert reading.current_a == 0.0 and not reading.compliance  # an abort is not a cut-off


@pytest.mark.parametrize("current", [0.011, -0.5, math.nan])
def test_a_current_beyond_the_largest_range_is_refused_before_any_script(emstat, peer, current):
    sent = len(peer.scripts)
    with pytest.raises(LimitError, match=r"potentiostat: current = .* A refused, allowed -0\.01 to 0\.01 A"):
        emstat.apply_current(current, 3.0)
    assert len(peer.scripts) == sent


def test_a_voltage_hold_without_a_positive_current_limit_is_refused(emstat, peer):
    sent = len(peer.scripts)
    with pytest.raises(LimitError, match="current limit"):
        emstat.apply_voltage(2.5, 0.0)
    with pytest.raises(LimitError, match="voltage"):
        emstat.apply_voltage(math.inf, 1e-3)
    assert len(peer.scripts) == sent


def test_a_garbled_packet_is_an_instrument_error_naming_the_line(emstat, peer):
    emstat.apply_current(1e-4, 3.5)
    _wait_packets(2)
    peer.server.inject_fault("garble")
    _wait_packets(3)
    with pytest.raises(InstrumentError, match="garbled") as caught:
        emstat.read_measurement()
    assert caught.value.instrument == "potentiostat"
    assert "constant current" in caught.value.command
    assert caught.value.reply  # the line as received
    _wait_packets(2)
    assert emstat.read_measurement().current_a == pytest.approx(1e-4, abs=1e-12)  # later packets are fine


def test_packets_that_stop_coming_are_a_timeout_within_interval_plus_timeout(emstat, peer):
    emstat.apply_current(1e-4, 3.5)
    _wait_packets(2)
    peer.server.inject_fault("silent", count=None)
    time.sleep(INTERVAL_S + TIMEOUT_S + 0.1)
    started = time.monotonic()
    with pytest.raises(InstrumentTimeout, match="no data packet for"):
        emstat.read_measurement()
    assert time.monotonic() - started < 0.1  # it answers from what the reader saw, it does not wait
    peer.server.clear_faults()


def test_an_unanswered_script_is_a_timeout_within_the_timeout(emstat, peer):
    peer.server.inject_fault("silent", count=None)
    started = time.monotonic()
    with pytest.raises(InstrumentTimeout):
        emstat.apply_current(1e-4, 3.5)
    assert time.monotonic() - started < 2 * TIMEOUT_S + 0.3  # abort (Z) would wait too, if a step ran
    peer.server.clear_faults()


def test_a_refused_script_names_the_reply(emstat, peer):
    handle = peer.server.handler  # this peer runs every script the driver writes: make it refuse one
    peer.server.handler = lambda line, conn: "e!4004" if line == "e" else handle(line, conn)
    with pytest.raises(InstrumentError, match="script refused") as caught:
        emstat.apply_current(1e-4, 3.5)
    assert caught.value.reply == "e!4004"
    assert "constant current" in caught.value.command


def test_a_dropped_connection_is_connection_lost(emstat, peer):
    emstat.apply_current(1e-4, 3.5)
    _wait_packets(2)
    peer.server.inject_fault("disconnect")
    _wait_packets(3)
    with pytest.raises(ConnectionLost, match="potentiostat: connection to socket://"):
        emstat.read_measurement()
    with pytest.raises(ConnectionLost):
        emstat.apply_current(1e-4, 3.5)


def test_a_pico_is_not_taken_for_an_emstat4():
    peer = start_emstat_peer(CellBackend(), model="espico")
    try:
        driver = EmStat4(EmStat4Settings(kind="emstat4", port=peer.port, timeout_s=TIMEOUT_S), interval_s=INTERVAL_S)
        with pytest.raises(InstrumentError, match="not an EmStat4") as caught:
            driver.connect()
        assert caught.value.reply.startswith("tespico")
    finally:
        peer.close()
