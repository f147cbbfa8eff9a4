"""Malformed replies to the VISA drivers (Lake Shore 33x, Keithley 2450) through their protocol peers.

Each example connects a fresh driver through a :class:`ManglingProxy` to the peer (so a
reply left over from an earlier example cannot leak in), then feeds one method the drawn
replies: it must answer with finite values or raise an InstrumentError naming the instrument
and the command it sent, within the I/O timeout of each exchange it makes (plus slack).
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from simslab.clock import ManualClock
from simslab.devices.drivers.keithley import Keithley2450
from simslab.devices.drivers.lakeshore import LakeShore33x
from simslab.devices.drivers.settings import Keithley2450Settings, LakeShoreSettings
from simslab.simulators.peers import start_keithley2450_peer, start_lakeshore_peer
from tests.devices.fakes import FakeCell, FakeTemperatureController
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.mangling_proxy import ManglingProxy
from tests.fuzz.reply_strategies import check_call, line_replies, mangler

TIMEOUT_S = 0.2
SLACK_S = 1.5  # thread scheduling and pyvisa's socket probing on a loaded 2-core machine
EXCHANGES = 3  # the most exchanges one method below makes (each may time out)

LAKESHORE_CALLS = {
    "read_temperature_k": lambda d: d.read_temperature_k(),
    "read_setpoint_k": lambda d: d.read_setpoint_k(),
    "read_ramp_k_per_s": lambda d: d.read_ramp_k_per_s(),
    "is_ramping": lambda d: d.is_ramping(),
    "read_heater_fraction": lambda d: d.read_heater_fraction(),
    "read_heater_error": lambda d: d.read_heater_error(),
    "set_setpoint_k": lambda d: d.set_setpoint_k(200.0),
    "set_ramp_k_per_s": lambda d: d.set_ramp_k_per_s(0.01),
    "set_heater_range": lambda d: d.set_heater_range(2),
}
KEITHLEY_CALLS = {
    "read_measurement": lambda d: d.read_measurement(),
    "read_measurement_while_sourcing": lambda d: d.read_measurement(),
    "apply_current": lambda d: d.apply_current(1e-4, 3.5),
    "apply_voltage": lambda d: d.apply_voltage(2.5, 1e-3),
    "set_open_circuit": lambda d: d.set_open_circuit(),
    "cell_off": lambda d: d.cell_off(),
    "identify": lambda d: d.identify(),
}
KEITHLEY_SETUP = {"read_measurement_while_sourcing": lambda d: d.apply_current(1e-4, 3.5)}
"""Calls made with normal replies before the fuzzed one (an output that is off is never read)."""


@pytest.fixture(scope="module")
def lakeshore_proxy():
    server = start_lakeshore_peer(FakeTemperatureController(clock=ManualClock(1e6), name="stage"), transport="tcp")
    proxy = ManglingProxy(server.tcp_port, terminator=b"\r\n").start()
    yield proxy
    proxy.close()
    server.close()


@pytest.fixture(scope="module")
def keithley_proxy():
    server = start_keithley2450_peer(FakeCell(clock=ManualClock(1e6), name="cell"), transport="tcp")
    proxy = ManglingProxy(server.tcp_port, terminator=b"\n").start()
    yield proxy
    proxy.close()
    server.close()


@fuzz_settings(30)
@example(method="read_setpoint_k", replies=[b"nan\r\n"])  # found by this test: "nan" read as a setpoint
@example(method="read_heater_fraction", replies=[b"+1e999\r\n"])
@given(method=st.sampled_from(sorted(LAKESHORE_CALLS)), replies=st.lists(line_replies(b"\r\n"), min_size=1, max_size=3))
def test_lake_shore_answers_or_names_itself_and_the_command(lakeshore_proxy, method, replies):
    settings = LakeShoreSettings(kind="lakeshore336", resource=f"TCPIP::127.0.0.1::{lakeshore_proxy.port}::SOCKET",
                                 timeout_s=TIMEOUT_S)
    fed(lakeshore_proxy, LakeShore33x(settings, name="stage"), LAKESHORE_CALLS[method], replies)


@fuzz_settings(30)
@given(method=st.sampled_from(sorted(KEITHLEY_CALLS)), replies=st.lists(line_replies(b"\n"), min_size=1, max_size=3))
def test_keithley_answers_or_names_itself_and_the_command(keithley_proxy, method, replies):
    settings = Keithley2450Settings(kind="keithley2450", resource=f"TCPIP::127.0.0.1::{keithley_proxy.port}::SOCKET",
                                    timeout_s=TIMEOUT_S)
    fed(keithley_proxy, Keithley2450(settings, now=ManualClock(1e6).now, name="potentiostat"),
        KEITHLEY_CALLS[method], replies, KEITHLEY_SETUP.get(method))


def fed(proxy: ManglingProxy, driver, call, replies: list[bytes], setup=None) -> None:
    """Connect ``driver`` through the proxy (and run ``setup``) untouched, then call it with the replies mangled."""
    proxy.mangle = None
    driver.connect()
    if setup is not None:
        setup(driver)
    mark = len(proxy.received)
    proxy.mangle = mangler(replies)
    try:
        check_call(lambda: call(driver), driver.name,
                   lambda: b"".join(proxy.received[mark:]).decode("latin-1"), EXCHANGES * TIMEOUT_S + SLACK_S)
    finally:
        proxy.mangle = None
        driver.close()
