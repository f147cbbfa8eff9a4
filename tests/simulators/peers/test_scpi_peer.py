"""The Keithley 2450 peer accepts what the 2450 accepts, from any client, on both transports.

Spellings from instruments.md ("What real clients send"): any case, short or long mnemonics,
optional nodes and leading colon, ``;``-joined with a trailing ``;``, ``OUTPUT ON`` and
``:OUTP 1``, ``:READ?`` / ``:MEASure?`` with a buffer name and element list.
"""

from __future__ import annotations

import math
import socket

import pytest
import serial

from simslab.clock import ManualClock
from simslab.devices.drivers.protocols import PotentiostatMeasurement
from simslab.simulators.peers import Keithley2450Peer, start_keithley2450_peer
from tests.devices.fakes import FakeCell

REPLY_TIMEOUT_S = 2.0


@pytest.fixture
def cell():
    """A fake cell (2.0 V at zero charge, 10 F, 1 kOhm) on a hand-moved clock."""
    return FakeCell(clock=ManualClock(1_000_000.0), name="cell")


@pytest.fixture
def peer(cell):
    """The interpreter alone, called with lines (no transport)."""
    return Keithley2450Peer(cell)


class CellAtItsLimit:
    """A backend whose readings report the compliance limit holding, with a NaN voltage."""

    name, blocking = "limited cell", False

    def read_measurement(self) -> PotentiostatMeasurement:
        return PotentiostatMeasurement(time_s=5.0, voltage_v=math.nan, current_a=1e-3, charge_c=0.0, compliance=True)

    def apply_current(self, current_a: float, voltage_limit_v: float) -> None:
        pass


@pytest.mark.parametrize(
    "line",
    [
        ":SOUR:CURR:VLIM 3.5",
        "SOURce:CURRent:VLIMit 3.5",
        "sour:current:vlim 3.5",
        ":SOURCE:CURRENT:VLIMIT:LEVEL 3.5",
        "SOUR1:CURR:VLIM 3.5;",
        ":SOUR:CURR:LEV 0;VLIM 3.5",  # relative to the previous command's path
    ],
)
def test_the_voltage_limit_in_every_spelling(peer, line):
    assert peer(line) is None
    assert peer(":SOUR:CURR:VLIM?") == "+3.500000E+00"
    assert peer("SYST:ERR?") == '0,"No error"'


@pytest.mark.parametrize(
    "line",
    [
        ':SOUR:FUNC CURR;:SOUR:CURR:LEV 1e-3;:SOUR:CURR:VLIM 4.2;:SENS:FUNC "VOLT";:OUTP ON',
        "source:function current;source:current 0.001;source:current:vlimit 4.2;OUTPUT ON;",
        ":SOUR:FUNC CURR;:SOUR:CURR:LEVel:IMMediate:AMPLitude 1.0E-03;:SOUR:CURR:VLIM 4.2;:OUTP 1",
    ],
)
def test_a_cc_step_in_every_spelling_reaches_the_backend_once(peer, cell, line):
    peer(line)
    assert cell.writes == [("apply_current", 1e-3, 4.2)]
    assert peer(":OUTP?") == "1" and peer(":SOUR:FUNC?") == "CURR"


def test_output_off_in_both_spellings_switches_the_cell_off(peer, cell):
    peer(":SOUR:FUNC CURR;:SOUR:CURR 1e-3;:OUTP ON")
    peer("OUTPUT OFF")
    assert cell.writes[-1] == ("cell_off",)
    peer(":OUTP 1")
    peer(":outp 0")
    assert cell.writes[-2:] == [("apply_current", 1e-3, 21.0), ("cell_off",)]


def test_zero_amps_is_an_open_circuit_and_a_voltage_step_a_cv_hold(peer, cell):
    peer(":SOUR:FUNC CURR;:SOUR:CURR 0;:OUTP ON")
    peer(":SOUR:FUNC VOLT;:SOUR:VOLT 2.5;:SOUR:VOLT:ILIM 1e-3")
    assert cell.writes == [("set_open_circuit",), ("apply_voltage", 2.5, 1e-3)]


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (":READ?", "+3.000000E+00"),
        (":READ? 'defbuffer1'", "+3.000000E+00"),
        (':READ? "defbuffer1", READ, SOUR', "+3.000000E+00,+1.000000E-03"),
        (":MEASure? 'defbuffer1', SOURce, READing", "+1.000000E-03,+3.000000E+00"),
        (":MEAS:CURR?", "+1.000000E-03"),
        (':read? "defbuffer1", read, unit, sourunit', "+3.000000E+00,Volt DC,Amp DC"),
    ],
)
def test_readings_with_buffer_names_and_element_lists(peer, line, reply):
    peer(':SOUR:FUNC CURR;:SOUR:CURR 1e-3;:SOUR:CURR:VLIM 4.2;:SENS:FUNC "VOLT";:OUTP ON')
    assert peer(line) == reply  # fake cell: 2.0 V emf + 1 kOhm x 1 mA


def test_a_nan_reading_is_sent_as_9_91e37_and_the_limit_trip_is_reported():
    peer = Keithley2450Peer(CellAtItsLimit())
    peer(':SOUR:FUNC CURR;:SOUR:CURR 1e-3;:SENS:FUNC "VOLT";:OUTP ON')
    assert peer(":READ?") == "+9.910000E+37"
    assert peer(":SOUR:CURR:VLIM:TRIP?;:SOUR:VOLT:ILIM:TRIP?") == "1;0"  # only the active source's limit
    assert peer("SOURce:CURRent:VLIMit:TRIPped?") == "1"


def test_the_error_queue_reports_standard_codes_then_no_error(peer, cell):
    peer(":SOUR:CURR:LEV 5")  # above 1.05 A
    peer(":SOUR:BOGUS 1")
    peer(":SOUR:CURR:LEV abc")
    peer(":OUTP MAYBE")
    assert peer(":SYST:ERR:COUN?") == "4"
    assert [peer("SYST:ERR?") for _ in range(5)] == [
        '-222,"Data out of range"',
        '-113,"Undefined header"',
        '-104,"Data type error"',
        '-224,"Illegal parameter value"',
        '0,"No error"',
    ]
    assert cell.writes == []


def test_identity_and_command_set(peer):
    assert peer("*IDN?;*LANG?") == "KEITHLEY INSTRUMENTS,MODEL 2450,04000000,1.7.12b;SCPI"
    assert peer("*lang?") == "SCPI"


def test_reset_switches_the_output_off(peer, cell):
    peer(":SOUR:FUNC CURR;:SOUR:CURR 1e-3;:OUTP ON")
    peer("*RST")
    assert cell.writes[-1] == ("cell_off",) and peer(":OUTP?") == "0"


def test_a_relative_header_is_resolved_from_the_previous_commands_parent_node(peer):
    peer(":SOUR:CURR:LEVel:IMMediate:AMPLitude 1e-3;VLIM 4.2")  # parent is SOUR:CURR:LEV:IMM: no VLIM there
    assert peer("SYST:ERR?") == '-113,"Undefined header"'
    peer(":SOUR:CURR:LEV 1e-3;VLIM 4.2")  # parent is SOUR:CURR
    assert peer(":SOUR:CURR:VLIM?;SYST:ERR?") == '+4.200000E+00;0,"No error"'


def test_stored_settings_clients_send_are_accepted_and_echoed(peer):
    peer(":SENS:VOLT:RANG:AUTO 0;:SENS:VOLT:RANG 20;:SENS:VOLT:NPLC 0.1;:SOUR:CURR:READ:BACK ON")
    assert peer(":SENS:VOLT:RANG?;:SENS:VOLT:NPLC?") == "20;0.1"
    assert peer("SYST:ERR?") == '0,"No error"'


def test_over_tcp_a_client_gets_lf_terminated_replies(cell):
    server = start_keithley2450_peer(cell, transport="tcp")
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=REPLY_TIMEOUT_S) as client:
        client.sendall(b"*IDN?\r\n:SOUR:FUNC CURR;:SOUR:CURR 2e-3;:OUTP ON\n:READ? 'defbuffer1', SOUR\n")
        received = b""
        while received.count(b"\n") < 2:
            received += client.recv(1024)
    server.close()
    assert received == b"KEITHLEY INSTRUMENTS,MODEL 2450,04000000,1.7.12b\n+2.000000E-03\n"


def test_over_a_pty_a_serial_client_is_answered(cell):
    server = start_keithley2450_peer(cell, transport="pty")
    with serial.Serial(server.device_path, timeout=REPLY_TIMEOUT_S) as client:
        client.write(b"*LANG?\n")
        assert client.readline() == b"SCPI\n"
    server.close()
