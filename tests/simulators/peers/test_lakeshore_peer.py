"""The Lake Shore peer accepts what the controller accepts, from any client, on both transports.

The spellings are those public clients send (instruments.md, "What real clients send"): the
``lakeshore`` package joins commands with ``;:`` and appends ``;*ESR?``, QCoDeS uses spaces
after commas and lower case, some scripts write ``KRDG?A`` or zero-padded signed numbers.
"""

from __future__ import annotations

import socket

import pytest
import serial

from simslab.clock import ManualClock
from simslab.simulators.peers import LakeShorePeer, start_lakeshore_peer
from tests.devices.fakes import FakeTemperatureController

REPLY_TIMEOUT_S = 2.0


@pytest.fixture
def stage():
    """A fake stage controller at 295.15 K on a hand-moved clock."""
    return FakeTemperatureController(clock=ManualClock(1_000_000.0), name="stage")


@pytest.fixture
def peer(stage):
    """The interpreter alone, called with lines (no transport)."""
    return LakeShorePeer(stage)


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("KRDG? A", "+295.150"),
        ("krdg? a", "+295.150"),
        ("KRDG?A", "+295.150"),
        (":KRDG? A", "+295.150"),
        ("KRDG? A;*ESR?", "+295.150;0"),
        ("KRDG? A;:SETP? 1;*ESR?", "+295.150;+295.150;0"),
        ("KRDG? 0", "+295.150,+000.000,+000.000,+000.000"),
        ("CRDG? A", "+022.000"),
        ("RDGST? A;RDGST? B", "0;1"),
        ("*IDN?", "LSCI,MODEL336,LSA0001/#######,2.9"),
    ],
)
def test_queries_in_the_spellings_clients_use(peer, line, reply):
    assert peer(line) == reply


@pytest.mark.parametrize(
    "line",
    ["SETP 1,163.15", "SETP 1, 163.15", "setp 1,+163.150", "SETP 1,163.150;*ESR?", "RANGE 1,2;:SETP 1,163.15;*ESR?"],
)
def test_a_setpoint_in_any_client_spelling_reaches_the_backend(peer, stage, line):
    reply = peer(line)
    assert reply in (None, "0")  # "0": the *ESR? a client appended, no error
    assert ("set_setpoint_k", 163.15) in stage.writes


def test_ramp_commands_with_signed_zero_padded_numbers_convert_k_per_min(peer, stage):
    assert peer("RAMP 1,1,+003.0;*ESR?") == "0"
    assert stage.writes[-1] == ("set_ramp_k_per_s", 0.05)
    assert peer("RAMP? 1") == "1,+003.0"
    peer("RAMP 1, 0, +000.0")
    assert stage.writes[-1] == ("set_ramp_k_per_s", 0.0)
    assert peer("RAMP? 1") == "0,+000.0"


def test_an_empty_line_is_ignored(peer):
    assert peer("") is None and peer("   ") is None
    assert peer("*ESR?") == "0"  # not a command error


def test_esr_flags_command_and_execution_errors_and_clears_on_read(peer, stage):
    peer("FOO 1")
    assert peer("*ESR?") == "32"  # unknown command: command error
    assert peer("*ESR?") == "0"
    peer("SETP 1,900")  # above the 500 K curve limit: execution error
    assert peer("*ESR?") == "16"
    assert ("set_setpoint_k", 900.0) not in stage.writes
    peer("RANGE 1,7")
    peer("KRDG? Q")
    assert peer("*ESR?") == "16"
    assert peer("SETP 1,abc;*ESR?") == "32"


def test_a_sensor_fault_reads_zero_with_status_invalid(peer, stage):
    stage.sensor_fault = True
    assert peer("KRDG? A;RDGST? A") == "+000.000;1"


def test_setup_queries_a_driver_makes_at_connect(peer):
    assert peer("OUTMODE? 1") == "1,1,0"
    assert peer("OUTMODE 2, 1, 2, 0;*ESR?") == "0"
    assert peer("OUTMODE? 2") == "1,2,0"
    assert peer("INTYPE? A;INCRV? A;CRVHDR? 11") == "1,0,0,0,1;11;DT-670,STANDARD,2,+500.000,1"


def test_a_335_has_two_inputs_and_two_outputs(stage):
    peer = LakeShorePeer(stage, model="335")
    assert peer("*IDN?").startswith("LSCI,MODEL335,")
    assert peer("KRDG? 0") == "+295.150,+000.000"
    peer("SETP 3,100")
    assert peer("*ESR?") == "16"


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_over_tcp_a_client_may_end_lines_with_lf_or_crlf(stage, ending):
    server = start_lakeshore_peer(stage, transport="tcp")
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=REPLY_TIMEOUT_S) as client:
        client.sendall(ending + b"KRDG? A;*ESR?" + ending + b"SETP 1, 200.0" + ending + b"SETP? 1" + ending)
        received = b""
        while received.count(b"\r\n") < 2:
            received += client.recv(1024)
    server.close()
    # the fake's setpoint moves only when its clock does: SETP? still reads the old one
    assert received == b"+295.150;0\r\n+295.150\r\n"
    assert ("set_setpoint_k", 200.0) in stage.writes


def test_over_a_pty_a_serial_client_gets_crlf_replies(stage):
    server = start_lakeshore_peer(stage, transport="pty")
    with serial.Serial(server.device_path, timeout=REPLY_TIMEOUT_S) as client:
        client.write(b"*IDN?\r\n")
        assert client.readline() == b"LSCI,MODEL336,LSA0001/#######,2.9\r\n"
        client.write(b"HTR? 1;RANGE? 1\n")
        assert client.readline() == b"+030.0;3\r\n"  # the fake's output at zero error, range high
    server.close()
