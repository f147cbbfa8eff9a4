"""The Eurotherm Modbus peer answers what real clients send, not only our driver's requests."""

from __future__ import annotations

import logging
import struct

import minimalmodbus
import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.framer import FramerType

from simslab.devices.drivers.serial_port import close_serial_port, open_serial_port
from simslab.simulators.peers.eurotherm_peer import start_eurotherm_peer
from tests.simulators.peers.backends import FurnaceBackend

TIMEOUT_S = 0.3
SMALL_SAMPLE = {"sample": {"window_size_m": [64e-6, 32e-6], "window_pixels": [64, 32]}}  # a quick twin


@pytest.fixture
def backend():
    return FurnaceBackend(temperature_k=300.0)


@pytest.fixture
def peer(backend, caplog):
    caplog.set_level(logging.WARNING, logger="pymodbus")
    peer = start_eurotherm_peer(backend, setpoint_limits_c=(0.0, 1000.0))
    yield peer
    peer.close()


@pytest.fixture
def client(peer):
    """A bare minimalmodbus client, as the simple lab scripts found on GitHub use it."""
    port = open_serial_port(peer.port_url, baud_rate=9600, timeout_s=TIMEOUT_S, write_timeout_s=TIMEOUT_S)
    instrument = minimalmodbus.Instrument(port, 1, mode="rtu")
    yield instrument
    close_serial_port(port)


def test_peer_starts_without_pymodbus_deprecation_warnings(peer, caplog):
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()]


def test_several_plain_registers_in_one_read_are_scaled_by_the_decimal_places(client, backend):
    backend.temperature_k, backend.setpoint_k, backend.output_fraction = 373.15, 473.15, 0.5
    # tags 1-3: PV 100.0 degC, SP 200.0 degC, output 50.0 %, one implied decimal (register 525)
    assert client.read_registers(1, 3) == [1000, 2000, 500]


def test_several_floats_in_one_read_of_the_float_area(client, backend):
    backend.temperature_k, backend.setpoint_k = 373.15, 473.15
    words = client.read_registers(0x8002, 4)
    pv, sp = struct.unpack(">2f", struct.pack(">4H", *words))
    assert pv == pytest.approx(100.0, abs=1e-4) and sp == pytest.approx(200.0, abs=1e-4)


@pytest.mark.parametrize("functioncode", [6, 16])
def test_setpoint_written_with_function_6_or_16_reaches_the_backend(client, backend, functioncode):
    client.write_register(2, 250.0, number_of_decimals=1, functioncode=functioncode)
    assert backend.setpoint_k == pytest.approx(523.15, abs=1e-9)


def test_simple_clients_setpoint_1_and_input_value_aliases(client, backend):
    client.write_register(24, 95, number_of_decimals=1)  # the minimalmodbus README's Eurotherm example
    assert backend.setpoint_k == pytest.approx(95 + 273.15, abs=1e-9)
    backend.temperature_k = 300.15
    assert client.read_register(289, 1) == pytest.approx(27.0, abs=0.05)


def test_registers_probed_at_connect_answer(client):
    assert client.read_register(122) == 0x2480  # ident: 2400 series
    assert client.read_register(107) == 0x0461
    assert client.read_register(211) == 16  # programmer segments
    assert client.read_register(517) == 0
    assert client.read_register(521) == 2  # setpoints
    assert client.read_register(525) == 1  # decimal places
    assert client.read_register(531) == 1  # rate per minute (2000-series code)


def test_an_unknown_register_is_an_illegal_address_exception(client):
    with pytest.raises(minimalmodbus.IllegalRequestError):
        client.read_register(400)


def test_a_setpoint_outside_the_limits_is_an_exception_and_changes_nothing(client, backend):
    with pytest.raises(minimalmodbus.IllegalRequestError):
        client.write_float(0x8004, 1500.0)
    assert backend.setpoint_k == 300.0


def test_output_power_is_read_only_in_automatic_and_zero_is_accepted_in_manual(client, backend):
    with pytest.raises(minimalmodbus.IllegalRequestError):
        client.write_float(0x8006, 0.0)
    client.write_register(273, 1, functioncode=16)
    client.write_float(0x8006, 0.0)
    assert backend.manual and client.read_register(273) == 1
    assert client.read_register(75) & (1 << 4)  # status: manual


def test_decimal_places_register_changes_the_plain_scaling(client, backend):
    backend.setpoint_k = 298.15
    client.write_register(525, 2)
    assert client.read_register(2) == 2500  # 25.00 degC


def test_a_pymodbus_client_with_the_rtu_framer_reads_the_same_values(peer, backend):
    backend.temperature_k = 373.15
    host, port = peer.port_url.removeprefix("socket://").split(":")
    client = ModbusTcpClient(host, port=int(port), framer=FramerType.RTU, timeout=1)
    assert client.connect()
    try:
        reply = client.read_holding_registers(1, count=1, device_id=1)
        assert not reply.isError() and reply.registers == [1000]
        reply = client.write_register(35, 30, device_id=1)  # 3.0 K/min, plain, one decimal
        assert not reply.isError()
        assert backend.ramp_k_per_s == pytest.approx(3.0 / 60, rel=1e-9)
    finally:
        client.close()


def test_in_front_of_the_twin_furnace_the_real_driver_sees_the_ramp(twin_params):
    """The lab-on-twin mode: the real driver, the Modbus peer, the twin's furnace on a manual clock."""
    from simslab.clock import ManualClock
    from simslab.devices.drivers.eurotherm import Eurotherm
    from simslab.devices.drivers.settings import EurothermSettings
    from simslab.simulators.lab import SimulatedLab
    from simslab.simulators.twin_drivers import TwinFurnace

    clock = ManualClock(1.7e9)
    twin = TwinFurnace(SimulatedLab(twin_params(**SMALL_SAMPLE), clock))
    twin.connect()
    peer = start_eurotherm_peer(twin)
    driver = Eurotherm(EurothermSettings(kind="eurotherm", port=peer.port_url, timeout_s=1.0))
    try:
        driver.connect()
        start_k = driver.read_working_setpoint_k()
        driver.set_ramp_k_per_s(0.1)
        driver.set_setpoint_k(start_k + 100.0)
        clock.advance(300.0)
        # the working setpoint follows the 0.1 K/s rate limit: 30 K in 300 s (float32 on the wire)
        assert driver.read_working_setpoint_k() - start_k == pytest.approx(30.0, abs=1e-3)
        assert driver.read_status().ramp_complete is False
        assert driver.read_temperature_k() == pytest.approx(twin.read_temperature_k(), abs=1e-4)
    finally:
        driver.close()
        peer.close()
