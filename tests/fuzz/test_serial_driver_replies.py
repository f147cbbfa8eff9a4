"""Malformed replies to the serial drivers (Eurotherm on Modbus RTU, EmStat4 on MethodSCRIPT).

As for the VISA drivers: a fresh driver per example reaches its protocol peer through a
:class:`ManglingProxy`, connects untouched, then meets the drawn replies. It must answer with
finite values or raise an InstrumentError naming the instrument and the command, in bounded
time. These drivers name commands in words ("read register 0x8002 (tag 1 process value,
float)", "constant current 0.0001 A to 3.5 V"), which the checks below recognise.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from simslab.devices.drivers.emstat import EmStat4
from simslab.devices.drivers.eurotherm import Eurotherm
from simslab.devices.drivers.settings import EmStat4Settings, EurothermSettings
from simslab.simulators.peers.emstat_peer import start_emstat_peer
from simslab.simulators.peers.eurotherm_peer import start_eurotherm_peer
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.mangling_proxy import ManglingProxy
from tests.fuzz.reply_strategies import FrameChange, check_call, line_replies, mangler, modbus_frames
from tests.simulators.peers.backends import CellBackend, FurnaceBackend

TIMEOUT_S = 0.2
EMSTAT_TIMEOUT_S = 0.5  # the peer runs each script in a thread: 0.2 s is too tight on a loaded machine
SLACK_S = 1.5  # thread scheduling on a loaded 2-core machine

EUROTHERM_CALLS = {
    "read_temperature_k": lambda d: d.read_temperature_k(),
    "read_setpoint_k": lambda d: d.read_setpoint_k(),
    "read_working_setpoint_k": lambda d: d.read_working_setpoint_k(),
    "read_ramp_k_per_s": lambda d: d.read_ramp_k_per_s(),
    "read_output_fraction": lambda d: d.read_output_fraction(),
    "read_status": lambda d: d.read_status(),
    "set_setpoint_k": lambda d: d.set_setpoint_k(573.15),
    "set_ramp_k_per_s": lambda d: d.set_ramp_k_per_s(0.1),
    "switch_output_off": lambda d: d.switch_output_off(),
    "acknowledge_alarms": lambda d: d.acknowledge_alarms(),
}
EUROTHERM_EXCHANGES = 3  # the most Modbus transactions one call above makes
REGISTER_COMMAND = re.compile(r"^(read|write) .*register")

EMSTAT_INTERVAL_S = 0.05
EMSTAT_COMMANDS = ("constant current 0.0001 A to 3.5 V", "abort", "Z", "cell off")
"""What the driver names in errors of these calls: the step, and the abort that precedes a new step."""


@pytest.fixture(scope="module")
def eurotherm_proxy():
    peer = start_eurotherm_peer(FurnaceBackend(temperature_k=300.0), setpoint_limits_c=(0.0, 1000.0))
    proxy = ManglingProxy(int(peer.port_url.rsplit(":", 1)[1]), framing="chunks").start()
    yield proxy
    proxy.close()
    peer.close()


@pytest.fixture(scope="module")
def emstat_proxy():
    peer = start_emstat_peer(CellBackend(ocv_v=2.0, resistance_ohm=1000.0))
    proxy = ManglingProxy(int(peer.port.rsplit(":", 1)[1]), terminator=b"\n").start()
    yield proxy
    proxy.close()
    peer.close()


@fuzz_settings(30)
@example(method="read_setpoint_k", changes=[FrameChange("values", b"\x7f\xc0\x00\x00")])  # found: a NaN setpoint
@given(method=st.sampled_from(sorted(EUROTHERM_CALLS)), changes=st.lists(modbus_frames(), min_size=1, max_size=3))
def test_eurotherm_answers_or_names_itself_and_the_register(eurotherm_proxy, method, changes):
    driver = Eurotherm(EurothermSettings(kind="eurotherm", port=f"socket://127.0.0.1:{eurotherm_proxy.port}",
                                         timeout_s=TIMEOUT_S), name="furnace")
    eurotherm_proxy.mangle = None
    driver.connect()
    mark = len(eurotherm_proxy.received)
    eurotherm_proxy.mangle = mangler(changes)
    try:
        check_call(lambda: EUROTHERM_CALLS[method](driver), "furnace", lambda: sent_since(eurotherm_proxy, mark),
                   EUROTHERM_EXCHANGES * TIMEOUT_S + SLACK_S,
                   names_command=lambda command, _sent: bool(REGISTER_COMMAND.match(command)))
    finally:
        eurotherm_proxy.mangle = None
        driver.close()


@fuzz_settings(15)
@given(replies=st.lists(line_replies(b"\n"), min_size=1, max_size=3), while_running=st.booleans())
def test_emstat_answers_or_names_itself_and_the_step(emstat_proxy, replies, while_running):
    """Garbled echoes of a script (while_running False) or garbled data packets of a running step."""
    # an empty line is no garble: it is how MethodSCRIPT ends a script (a step without data)
    assume(not any(reply == b"\n" or reply.startswith(b"\n") or b"\n\n" in reply for reply in replies))
    driver = EmStat4(EmStat4Settings(kind="emstat4", port=f"socket://127.0.0.1:{emstat_proxy.port}",
                                     timeout_s=EMSTAT_TIMEOUT_S), interval_s=EMSTAT_INTERVAL_S, name="potentiostat")
    emstat_proxy.mangle = None
    driver.connect()
    try:
        if while_running:
            driver.apply_current(1e-4, 3.5)
            mark = len(emstat_proxy.received) - 1  # the step's script: its packets answer it
            emstat_proxy.mangle = mangler(replies)
            time.sleep(3 * EMSTAT_INTERVAL_S)  # a few packets arrive garbled
            call = driver.read_measurement
        else:
            mark = len(emstat_proxy.received)
            emstat_proxy.mangle = mangler(replies)
            call = lambda: driver.apply_current(1e-4, 3.5)  # noqa: E731
        check_call(call, "potentiostat", lambda: sent_since(emstat_proxy, mark), 3 * EMSTAT_TIMEOUT_S + SLACK_S,
                   names_command=lambda command, _sent: command in EMSTAT_COMMANDS)
    finally:
        emstat_proxy.mangle = None
        driver.close()


def sent_since(proxy: ManglingProxy, mark: int) -> str:
    """The bytes the driver sent since ``mark`` (latin-1 text: Modbus frames are binary)."""
    return b"".join(proxy.received[mark:]).decode("latin-1")
