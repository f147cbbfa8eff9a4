"""The Eurotherm driver against the Modbus peer: exact requests, units, limits, faults."""

from __future__ import annotations

import math
import struct
import time

import pytest

from simslab.devices.drivers.eurotherm import Eurotherm
from simslab.devices.drivers.settings import EurothermSettings
from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout, LimitError, SensorFault
from simslab.simulators.peers.eurotherm_peer import ModbusRequest, start_eurotherm_peer
from tests.simulators.peers.backends import FurnaceBackend

TIMEOUT_S = 0.3
FLOAT32_K = 1e-4  # a float32 temperature near 700 K resolves ~6e-5 K


def _words(value: float) -> tuple[int, int]:
    """The two big-endian registers of an IEEE float32."""
    return struct.unpack(">HH", struct.pack(">f", value))


@pytest.fixture
def backend():
    return FurnaceBackend(temperature_k=300.0)


@pytest.fixture
def peer(backend):
    peer = start_eurotherm_peer(backend, setpoint_limits_c=(0.0, 1000.0))
    yield peer
    peer.close()


@pytest.fixture
def furnace(peer):
    driver = Eurotherm(EurothermSettings(kind="eurotherm", port=peer.port_url, timeout_s=TIMEOUT_S))
    driver.connect()
    yield driver
    driver.close()


def _sent_after(peer, mark: int) -> list[ModbusRequest]:
    return peer.requests[mark:]


def test_connect_reads_ident_firmware_rate_units_and_setpoint_limits(peer, furnace):
    assert [(r.function_code, r.address) for r in peer.requests] == [
        (3, 122), (3, 107), (3, 531), (3, 0x8000 + 2 * 111), (3, 0x8000 + 2 * 112)
    ]
    assert furnace.identify() == "Eurotherm ident 0x2480 firmware 0x0461"


def test_setpoint_is_written_in_celsius_as_a_float_at_0x8004(peer, furnace, backend):
    mark = len(peer.requests)
    furnace.set_setpoint_k(673.15)
    assert _sent_after(peer, mark) == [ModbusRequest(16, 0x8004, 2, _words(400.0))]
    assert backend.setpoint_k == pytest.approx(673.15, abs=FLOAT32_K)
    assert furnace.read_setpoint_k() == pytest.approx(673.15, abs=FLOAT32_K)


def test_temperature_and_working_setpoint_come_back_in_kelvin(furnace, backend):
    backend.temperature_k, backend.working_setpoint_k = 612.5, 640.0
    assert furnace.read_temperature_k() == pytest.approx(612.5, abs=FLOAT32_K)
    assert furnace.read_working_setpoint_k() == pytest.approx(640.0, abs=FLOAT32_K)


def test_ramp_in_kelvin_per_second_is_written_per_minute(peer, furnace, backend):
    mark = len(peer.requests)
    furnace.set_ramp_k_per_s(0.1)
    assert _sent_after(peer, mark) == [ModbusRequest(16, 0x8000 + 2 * 35, 2, _words(6.0))]  # 6 K/min
    assert backend.ramp_k_per_s == pytest.approx(0.1, rel=1e-6)
    assert furnace.read_ramp_k_per_s() == pytest.approx(0.1, rel=1e-6)


def test_rate_units_register_per_second_is_honoured(peer, backend):
    peer.rate_units = 0  # 2000 series: 0 = per second
    driver = Eurotherm(EurothermSettings(kind="eurotherm", port=peer.port_url, timeout_s=TIMEOUT_S))
    driver.connect()
    try:
        driver.set_ramp_k_per_s(0.25)
        assert peer.requests[-1] == ModbusRequest(16, 0x8000 + 2 * 35, 2, _words(0.25))
        assert backend.ramp_k_per_s == pytest.approx(0.25, rel=1e-6)
    finally:
        driver.close()


def test_ramping_shows_as_ramp_not_complete_until_working_setpoint_arrives(furnace, backend):
    furnace.set_ramp_k_per_s(0.5)
    furnace.set_setpoint_k(400.0)
    assert furnace.read_status().ramp_complete is False
    backend.advance(200.0)  # 0.5 K/s x 200 s = the whole 100 K
    assert furnace.read_status().ramp_complete is True


def test_output_fraction_is_percent_over_100(furnace, backend):
    backend.output_fraction = 0.42
    assert furnace.read_output_fraction() == pytest.approx(0.42, rel=1e-6)


def test_switch_output_off_selects_manual_then_writes_zero_output(peer, furnace, backend):
    mark = len(peer.requests)
    furnace.switch_output_off()
    assert _sent_after(peer, mark) == [ModbusRequest(6, 273, 1, (1,)), ModbusRequest(16, 0x8006, 2, (0, 0))]
    assert backend.manual and furnace.read_status().manual
    assert furnace.read_output_fraction() == 0.0
    furnace.switch_to_automatic()
    assert peer.requests[-1] == ModbusRequest(6, 273, 1, (0,))
    assert not backend.manual


def test_acknowledge_alarms_writes_274(peer, furnace, backend):
    backend.alarm = True
    assert furnace.read_status().alarm
    furnace.acknowledge_alarms()
    assert peer.requests[-1] == ModbusRequest(6, 274, 1, (1,))
    assert backend.acknowledged == 1 and not furnace.read_status().alarm


@pytest.mark.parametrize("kelvin", [1500.0, 200.0, math.nan])
def test_setpoint_outside_the_controller_limits_is_refused_before_any_write(peer, furnace, backend, kelvin):
    mark = len(peer.requests)
    with pytest.raises(LimitError, match=r"eurotherm: setpoint = .* K refused, allowed 273\.15 to 1273\.15 K"):
        furnace.set_setpoint_k(kelvin)
    assert _sent_after(peer, mark) == []
    assert backend.setpoint_k == 300.0


@pytest.mark.parametrize("rate", [-0.1, math.inf])
def test_negative_or_infinite_ramp_is_refused_before_any_write(peer, furnace, rate):
    mark = len(peer.requests)
    with pytest.raises(LimitError, match="ramp rate"):
        furnace.set_ramp_k_per_s(rate)
    assert _sent_after(peer, mark) == []


def test_broken_thermocouple_raises_sensor_fault(furnace, backend):
    backend.sensor_broken = True
    with pytest.raises(SensorFault, match=r"eurotherm: thermocouple fault: sensor broken .*register 75") as caught:
        furnace.read_temperature_k()
    assert int(caught.value.reply, 16) & 0x0020  # the status word as read, bit 5 set
    assert furnace.read_status().sensor_break


def test_controller_refusal_names_command_and_reply_bytes(peer, furnace):
    peer.setpoint_limits_c = (0.0, 100.0)  # narrower than what the driver read at connect
    with pytest.raises(InstrumentError, match="controller refused") as caught:
        furnace.set_setpoint_k(473.15)
    assert caught.value.instrument == "eurotherm"
    assert "0x8004" in caught.value.command
    assert caught.value.reply.startswith("01 90 03")  # exception response: fc 16 | 0x80, illegal data value


def test_bad_crc_is_an_instrument_error_naming_the_reply(peer, furnace):
    peer.inject_fault("garble")
    with pytest.raises(InstrumentError, match="garbled reply: Checksum error") as caught:
        furnace.read_setpoint_k()
    assert not isinstance(caught.value, (InstrumentTimeout, ConnectionLost))
    assert caught.value.instrument == "eurotherm" and "0x8004" in caught.value.command
    assert caught.value.reply.startswith("01 03 04")  # the frame as received, CRC flipped
    assert furnace.read_setpoint_k() == pytest.approx(300.0, abs=FLOAT32_K)  # the next exchange is clean


def test_no_reply_is_a_timeout_within_the_io_timeout(peer, furnace):
    peer.inject_fault("silent")
    started = time.monotonic()
    with pytest.raises(InstrumentTimeout) as caught:
        furnace.read_output_fraction()
    elapsed = time.monotonic() - started
    # the read timeout, plus minimalmodbus's 3.5-character silence (~4 ms at 9600 baud) and scheduling
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 0.3
    assert caught.value.instrument == "eurotherm" and "0x8006" in caught.value.command


def test_a_dropped_connection_is_connection_lost(peer, furnace):
    peer.inject_fault("disconnect")
    started = time.monotonic()
    with pytest.raises(ConnectionLost, match="eurotherm: connection to socket://"):
        furnace.read_setpoint_k()
    assert time.monotonic() - started < TIMEOUT_S + 0.3


def test_connect_to_a_port_nobody_listens_on_is_connection_lost(peer):
    port = peer.port_url
    peer.close()
    driver = Eurotherm(EurothermSettings(kind="eurotherm", port=port, timeout_s=TIMEOUT_S))
    with pytest.raises(ConnectionLost, match=r"eurotherm: .*open socket://"):
        driver.connect()


def test_calls_before_connect_are_refused_clearly():
    driver = Eurotherm(EurothermSettings(kind="eurotherm", port="socket://127.0.0.1:9", timeout_s=TIMEOUT_S))
    with pytest.raises(ConnectionLost, match="not connected"):
        driver.read_temperature_k()
