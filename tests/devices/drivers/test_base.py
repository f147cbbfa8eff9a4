"""The real-driver base: one lock per port, library failures reported as simslab errors.

Failures are produced for real where it is cheap (a line peer that stays silent, garbles or
hangs up, over a TCP socket and a pty, through pyvisa-py) and by raising the libraries' own
exceptions otherwise.
"""

from __future__ import annotations

import math
import socket
import threading
import time

import minimalmodbus
import pytest
import serial
from pyvisa import constants
from pyvisa.errors import VisaIOError

from simslab.devices.drivers.base import GarbledReply, InstrumentDriver, port_lock
from simslab.devices.drivers.visa_transport import VisaTransport
from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout
from simslab.simulators.peers.line_server import LineServer

TIMEOUT_S = 0.3
# pyvisa-py polls in steps of at most timeout/100; thread start-up and a loaded 2-core
# machine add tens of ms: 0.5 s above the timeout is a generous bound for "not a hang".
LATE_S = 0.5


def echo(line: str, conn) -> str | None:
    """Answer every query line with ``echo:<line>``; commands (no '?') get no reply."""
    return f"echo:{line}" if "?" in line else None


@pytest.fixture(params=["tcp", "pty"])
def connected(request):
    """A driver connected through pyvisa-py to an echo peer, on each transport."""
    server = LineServer(echo, transport=request.param, name="echo").start()
    driver = InstrumentDriver("echo box", server.resource, TIMEOUT_S)
    transport = VisaTransport(server.resource, timeout_s=TIMEOUT_S)
    transport.open()
    driver.transport = transport
    yield driver, server
    driver.close()
    server.close()


def test_drivers_on_one_port_share_one_lock_and_other_ports_do_not():
    assert port_lock("ASRL/dev/ttyUSB0::INSTR") is port_lock("ASRL/dev/ttyUSB0::INSTR")
    assert port_lock("ASRL/dev/ttyUSB0::INSTR") is not port_lock("ASRL/dev/ttyUSB1::INSTR")
    first, second = InstrumentDriver("a", "COM7", 1.0), InstrumentDriver("b", "COM7", 1.0)
    assert first._lock is second._lock


def test_an_exchange_waits_for_the_one_in_flight_on_the_same_port():
    driver = InstrumentDriver("bus", "rs485-bus-test", 1.0)
    inside, release, order = threading.Event(), threading.Event(), []

    def slow() -> None:
        inside.set()
        release.wait(2.0)
        order.append("slow")

    worker = threading.Thread(target=driver.exchange, args=("SLOW", slow))
    worker.start()
    inside.wait(2.0)
    other = threading.Thread(target=driver.exchange, args=("FAST", lambda: order.append("fast")))
    other.start()
    time.sleep(0.05)
    assert order == []  # the second exchange is held by the port lock
    release.set()
    worker.join(2.0)
    other.join(2.0)
    assert order == ["slow", "fast"]


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        (socket.timeout("timed out"), InstrumentTimeout),
        (VisaIOError(constants.StatusCode.error_timeout), InstrumentTimeout),
        (serial.SerialTimeoutException("write timeout"), InstrumentTimeout),
        (minimalmodbus.NoResponseError("no answer"), InstrumentTimeout),
        (ConnectionResetError("reset by peer"), ConnectionLost),
        (serial.SerialException("device disconnected"), ConnectionLost),
        (VisaIOError(constants.StatusCode.error_connection_lost), ConnectionLost),
        (minimalmodbus.InvalidResponseError("bad CRC"), InstrumentError),
        (VisaIOError(constants.StatusCode.error_io), InstrumentError),
    ],
)
def test_library_exceptions_become_simslab_errors_naming_instrument_and_command(exception, expected):
    driver = InstrumentDriver("cryo stage", "TCPIP::10.0.0.5::7777::SOCKET", 2.0)

    def fail() -> None:
        raise exception

    with pytest.raises(expected) as caught:
        driver.exchange("KRDG? A", fail)
    assert type(caught.value) is expected
    assert caught.value.instrument == "cryo stage" and caught.value.command == "KRDG? A"
    assert str(caught.value).startswith("cryo stage: ")


def test_an_instrument_error_raised_inside_an_exchange_passes_unchanged():
    driver = InstrumentDriver("furnace", "socket://127.0.0.1:1", 1.0)
    original = InstrumentTimeout("furnace", "read 1", None, "no answer")

    def fail() -> None:
        raise original

    with pytest.raises(InstrumentTimeout) as caught:
        driver.exchange("read 1", fail)
    assert caught.value is original


def test_a_reply_that_does_not_parse_is_reported_with_the_reply():
    driver = InstrumentDriver("cryo stage", "ASRL1::INSTR", 1.0)
    with pytest.raises(InstrumentError) as caught:
        driver.parse_reply("KRDG? A", "+07x.350", float, "a temperature in kelvin")
    assert caught.value.reply == "+07x.350" and caught.value.command == "KRDG? A"
    assert "a temperature in kelvin" in str(caught.value)


def test_a_garbled_reply_from_a_transport_names_the_reply():
    driver = InstrumentDriver("cell", "ASRL1::INSTR", 1.0)

    def garbled() -> str:
        raise GarbledReply("3.7\\x9f", "reply is not text")

    with pytest.raises(InstrumentError) as caught:
        driver.exchange(":READ?", garbled)
    assert caught.value.reply == "3.7\\x9f" and caught.value.command == ":READ?"


@pytest.mark.parametrize("value", [-0.1, 500.1, math.nan, math.inf])
def test_check_range_refuses_values_outside_the_instrument_range_and_nan(value):
    driver = InstrumentDriver("cryo stage", "ASRL1::INSTR", 1.0)
    with pytest.raises(InstrumentError) as caught:
        driver.check_range("SETP 1,x", "setpoint", value, 0.0, 500.0, "K")
    assert "not sent" in str(caught.value) and caught.value.reply is None
    driver.check_range("SETP 1,x", "setpoint", 500.0, 0.0, 500.0, "K")  # the ends are allowed


def test_a_query_before_connect_is_a_lost_connection_not_an_attribute_error():
    driver = InstrumentDriver("cryo stage", "ASRL1::INSTR", 1.0)
    with pytest.raises(ConnectionLost):
        driver.query("*IDN?")


def test_a_query_gets_its_reply_through_pyvisa(connected):
    driver, server = connected
    assert driver.query("*IDN?") == "echo:*IDN?"
    driver.write("SETP 1,100")
    assert driver.query("X?") == "echo:X?"
    assert list(server.log) == [
        ("in", b"*IDN?\n"), ("out", b"echo:*IDN?\r\n"), ("in", b"SETP 1,100\n"), ("in", b"X?\n"), ("out", b"echo:X?\r\n"),
    ]


def test_no_reply_is_a_timeout_within_the_timeout(connected):
    driver, server = connected
    server.inject_fault("silent")
    started = time.monotonic()
    with pytest.raises(InstrumentTimeout) as caught:
        driver.query("KRDG? A")
    elapsed = time.monotonic() - started
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + LATE_S
    assert caught.value.command == "KRDG? A" and caught.value.reply is None
    assert driver.query("KRDG? A") == "echo:KRDG? A"  # the next exchange works again


def test_a_late_reply_is_flushed_before_the_next_exchange(connected):
    driver, server = connected
    server.inject_fault("delay", delay_s=TIMEOUT_S + 0.05)
    with pytest.raises(InstrumentTimeout):
        driver.query("FIRST?")
    time.sleep(0.1)  # the late reply has arrived by now
    assert driver.query("SECOND?") == "echo:SECOND?"


def test_a_garbled_reply_is_an_instrument_error_naming_the_reply(connected):
    driver, server = connected
    server.inject_fault("garble")
    with pytest.raises(InstrumentError) as caught:
        driver.query("KRDG? A")
    assert type(caught.value) is InstrumentError
    assert caught.value.command == "KRDG? A" and "\\x9f" in caught.value.reply


def test_a_closed_connection_is_reported_as_lost_without_a_hang(connected):
    driver, server = connected
    server.inject_fault("disconnect")
    started = time.monotonic()
    with pytest.raises(ConnectionLost):
        driver.query("KRDG? A")
        driver.query("KRDG? A")  # tcp: the close is seen at the latest on the next exchange
    assert time.monotonic() - started < 2 * TIMEOUT_S + LATE_S


def test_a_port_that_is_not_there_is_a_lost_connection():
    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    resource = f"TCPIP::127.0.0.1::{port}::SOCKET"
    driver = InstrumentDriver("cryo stage", resource, TIMEOUT_S)
    transport = VisaTransport(resource, timeout_s=TIMEOUT_S)
    with pytest.raises(ConnectionLost) as caught:
        driver.exchange(f"open {resource}", transport.open)
    assert resource in str(caught.value)
