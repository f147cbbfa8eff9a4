"""The EmStat4 peer answers MethodSCRIPT as PalmSens' own clients send it."""

from __future__ import annotations

import time

import pytest

from simslab.devices.drivers.methodscript import decode_packet
from simslab.devices.drivers.serial_port import close_serial_port, open_serial_port
from simslab.simulators.peers.emstat_peer import parse_script, start_emstat_peer
from tests.simulators.peers.backends import CellBackend

READ_TIMEOUT_S = 2.0
SMALL_SAMPLE = {"sample": {"window_size_m": [64e-6, 32e-6], "window_pixels": [64, 32]}}  # a quick twin

# Shaped like PalmSens' battery_cycling.mscr: variables set with store_var, comments, tabs.
PALMSENS_STYLE_CP = """e
# constant current charge, PalmSens style
var potential_max
var current_charge
var interval
var max_time
var current
var potential
var time
store_var potential_max 2100m ab # cut-off
store_var current_charge 50u ba
store_var interval 50m eb
store_var max_time 5 eb
set_pgstat_chan 0
set_pgstat_mode 6 # galvanostat
set_max_bandwidth 40
set_acquisition_frac_autoadjust 50
set_range db current_charge
cell_on
timer_start
meas_loop_cp potential current current_charge interval max_time
\ttimer_get time
\tpck_start
\t\tpck_add time
\t\tpck_add potential
\t\tpck_add current
\tpck_end
\tif potential >= potential_max
\t\tbreakloop
\tendif
endloop
on_finished:
\tcell_off

"""


@pytest.fixture
def cell():
    return CellBackend(ocv_v=2.0, resistance_ohm=1000.0)


@pytest.fixture
def peer(cell):
    peer = start_emstat_peer(cell)
    yield peer
    peer.close()


@pytest.fixture
def port(peer):
    port = open_serial_port(peer.port, baud_rate=921600, timeout_s=READ_TIMEOUT_S, write_timeout_s=READ_TIMEOUT_S)
    yield port
    close_serial_port(port)


def _ask(port, text: str, lines: int = 1) -> list[str]:
    port.write(text.encode("ascii"))
    return [_line(port) for _ in range(lines)]


def _line(port) -> str:
    raw = port.readline()
    assert raw.endswith(b"\n"), f"no complete line within {READ_TIMEOUT_S} s (got {raw!r})"
    return raw.decode("ascii")[:-1]


def _until_script_end(port) -> list[str]:
    lines = []
    while (line := _line(port)) != "":
        lines.append(line)
    return lines


def test_host_commands_answer_like_the_firmware(port):
    first, second = _ask(port, "t\n", lines=2)
    assert first.startswith("tes4_lr") and second.endswith("*")  # PalmSens' check of a 't' reply
    assert _ask(port, "v\n")[0].startswith("v")
    assert _ask(port, "i\n")[0].startswith("i")
    assert _ask(port, "\nZ\n") == ["Z!0006"]  # a flushing newline, then abort with nothing running


def test_a_palmsens_style_script_streams_packets_until_its_cut_off(port, cell):
    cell.charge_c = 0.0
    port.write(PALMSENS_STYLE_CP.encode("ascii"))
    assert _line(port) == "e"
    assert _line(port).startswith("M")
    # 2.0 V + 1 kOhm x 50 uA = 2.05 V; the cut-off at 2.1 V is reached once the charge lifts the
    # open-circuit voltage by 50 mV (capacity 10 F: 0.5 C), so move the cell there mid-run
    packets = [decode_packet(_line(port)) for _ in range(3)]
    assert cell.calls[-1] == ("cc", 50e-6, 2.1)
    for packet in packets:
        assert packet.potential_v == pytest.approx(2.05, abs=1e-9)
        assert packet.current_a == pytest.approx(50e-6, abs=1e-12)
    assert [p.time_s for p in packets] == sorted(p.time_s for p in packets)
    cell.charge_c = 0.6
    rest = _until_script_end(port)
    assert rest[-1] == "*"
    assert decode_packet(rest[-2]).potential_v >= 2.1
    assert cell.calls[-1] == ("off",)  # on_finished: cell_off


def test_a_loop_ends_after_its_run_time(port, cell):
    script = ("e\nvar e\nvar i\nset_pgstat_mode 3\nset_e 2500m\ncell_on\n"
              "meas_loop_ca e i 2500m 50m 200m\n  pck_start\n    pck_add e\n    pck_add i\n  pck_end\nendloop\n\n")
    port.write(script.encode("ascii"))
    lines = [_line(port), *_until_script_end(port)]
    assert lines[0] == "e" and lines[1].startswith("M") and lines[-1] == "*"
    packets = [decode_packet(line) for line in lines[2:-1]]
    assert len(packets) == 4  # 200 ms of 50 ms intervals
    assert packets[0].current_a == pytest.approx(0.5e-3, rel=1e-6)  # (2.5 - 2.0) V / 1 kOhm


def test_abort_answers_z_then_ends_the_script(port, cell):
    port.write("e\nvar e\nmeas_loop_ocp e 50m 60\n  pck_start\n    pck_add e\n  pck_end\nendloop\n"
               "on_finished:\n  cell_off\n\n".encode("ascii"))
    assert _line(port) == "e"
    assert _line(port).startswith("M")
    decode_packet(_line(port))
    port.write(b"Z\n")
    tail = _until_script_end(port)
    assert "Z" in tail and tail[-1] == "*"
    assert cell.calls[-1] == ("off",)


def test_an_unsupported_command_is_refused(port, peer):
    assert _ask(port, "e\nvar q\nmeas_loop_eis q 1 2 3 4 5\nendloop\n\n") == ["e!0001"]
    assert peer.scripts[-1].startswith("e\nvar q\n")


def test_the_peer_also_serves_a_pty(cell):
    peer = start_emstat_peer(cell, transport="pty")
    port = open_serial_port(peer.port, baud_rate=921600, timeout_s=READ_TIMEOUT_S, write_timeout_s=READ_TIMEOUT_S)
    try:
        assert peer.port.startswith("/dev/")
        assert _ask(port, "Z\n") == ["Z!0006"]
    finally:
        close_serial_port(port)
        peer.close()


def test_parse_script_reads_loop_variables_breaks_and_finish():
    plan = parse_script(PALMSENS_STYLE_CP.splitlines()[1:])
    assert plan.loop == "meas_loop_cp"
    assert plan.loop_args == pytest.approx((50e-6, 0.05, 5.0))
    assert plan.variables == {"potential": "ab", "current": "ba", "time": "eb"}
    assert plan.packet_vars == ["time", "potential", "current"]
    assert plan.breaks == [("potential", ">=", pytest.approx(2.1))]
    assert plan.cell_off_when_finished


def test_in_front_of_the_twin_cell_the_real_driver_reads_the_twin(twin_params):
    """The lab-on-twin mode: the real EmStat4 driver, the MethodSCRIPT peer, the twin's cell."""
    from simslab.clock import ManualClock
    from simslab.devices.drivers.emstat import EmStat4
    from simslab.devices.drivers.settings import EmStat4Settings
    from simslab.simulators.lab import SimulatedLab
    from simslab.simulators.twin_drivers import TwinPotentiostat

    clock = ManualClock(1.7e9)
    twin = TwinPotentiostat(SimulatedLab(twin_params(**SMALL_SAMPLE), clock))
    twin.connect()
    peer = start_emstat_peer(twin)
    driver = EmStat4(EmStat4Settings(kind="emstat4", port=peer.port, timeout_s=1.0), now=clock.now, interval_s=0.05)
    try:
        driver.connect()
        driver.apply_current(6e-6, 4.5)
        clock.advance(600.0)
        time.sleep(0.3)  # a few packets at 50 ms
        reading, truth = driver.read_measurement(), twin.read_measurement()
        # a packet's 7 hex digits hold volts as integer microvolts: +-0.5 uV of rounding
        assert reading.voltage_v == pytest.approx(truth.voltage_v, abs=5e-7)
        assert reading.current_a == pytest.approx(6e-6, abs=1e-12)
        assert reading.time_s == clock.now()
    finally:
        driver.close()
        peer.close()
