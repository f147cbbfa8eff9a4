"""MethodSCRIPT: exact script text and exact packet decoding."""

from __future__ import annotations

import math

import pytest

from simslab.devices.drivers.methodscript import (
    cell_off_script,
    chronoamperometry_script,
    chronopotentiometry_script,
    decode_field,
    decode_packet,
    encode_field,
    encode_packet,
    format_literal,
    open_circuit_script,
)


def test_the_documented_example_packet_is_100_ms_1_volt_6_microamps():
    packet = decode_packet("Peb8000064m;ab80F4240u;ba8000006u\n")
    assert packet.time_s == pytest.approx(0.1, rel=1e-12)
    assert packet.potential_v == pytest.approx(1.0, rel=1e-12)
    assert packet.current_a == pytest.approx(6e-6, rel=1e-12)
    assert packet.status == 0 and packet.current_range is None


def test_negative_values_sit_below_the_2_to_the_27_offset():
    # 0x8000000 - 0x7FFFF9C = 100 -> -100 mA
    assert decode_field("ba7FFFF9Cm") == ("ba", pytest.approx(-0.1, rel=1e-12), {})


def test_metadata_carries_status_bits_and_current_range():
    packet = decode_packet("Pab80F4240u,12,20C;ba8000006u,14")
    assert packet.status == 0x2 | 0x4  # overload on the potential, underload on the current
    assert packet.overload
    assert packet.current_range == 0x0C


def test_a_nan_field_is_five_spaces_and_nan():
    packet = decode_packet("Peb8000064m;ab     nan;ba8000006u")
    assert math.isnan(packet.potential_v)
    assert encode_field("ab", math.nan) == "ab     nan"


@pytest.mark.parametrize(
    "line, problem",
    [("Pab80F4240", "2 type \\+ 7 hex \\+ 1 prefix"), ("Pab80F4Z40u", "no 7 hex digits"),
     ("Pab80F4240q", "unknown SI prefix 'q'"), ("Pab80F4240u,9", "unknown metadata '9'"),
     ("Xab80F4240u", "not a data packet")],
)
def test_garbled_packets_are_refused_naming_the_field(line, problem):
    with pytest.raises(ValueError, match=problem):
        decode_packet(line)


def test_encoding_uses_the_finest_prefix_that_fits_and_decodes_back():
    assert encode_field("ab", 1.0) == "ab80F4240u"  # 1e9 nV would overflow 2**27
    assert encode_field("ba", 6e-6) == "ba85B8D80p"
    line = encode_packet([("eb", 12.5), ("ab", 3.0999), ("ba", -2.5e-4)], status=0x2)
    packet = decode_packet(line)
    assert packet.values == {"eb": pytest.approx(12.5), "ab": pytest.approx(3.0999), "ba": pytest.approx(-2.5e-4)}
    assert packet.status == 0x2


@pytest.mark.parametrize(
    "value, literal",
    [(0.1, "100m"), (6e-6, "6u"), (86400.0, "86400"), (-3.1, "-3100m"), (1e-9, "1n"), (0.0, "0"),
     (604800.0, "604800"), (2.5e-7, "250n"), (1 / 3, "333333333n")],
)
def test_literals_are_integers_with_the_coarsest_exact_prefix(value, literal):
    assert format_literal(value) == literal


def test_a_literal_cannot_be_nan():
    with pytest.raises(ValueError, match="cannot be written"):
        format_literal(math.nan)


def test_constant_current_script_text():
    assert chronopotentiometry_script(6e-6, 3.1, 1.0, 604800.0) == (
        "e\n"
        "var t\nvar e\nvar i\n"
        "set_pgstat_chan 0\nset_pgstat_mode 6\nset_max_bandwidth 40\nset_range db 6u\n"
        "cell_on\ntimer_start\n"
        "meas_loop_cp e i 6u 1 604800\n"
        "  timer_get t\n  pck_start\n    pck_add t\n    pck_add e\n    pck_add i\n  pck_end\n"
        "  if e >= 3100m\n    breakloop\n  endif\n"
        "endloop\non_finished:\n  cell_off\n\n"
    )


def test_a_discharge_cuts_off_from_above():
    script = chronopotentiometry_script(-6e-6, 1.5, 1.0, 3600.0)
    assert "meas_loop_cp e i -6u 1 3600\n" in script
    assert "  if e <= 1500m\n    breakloop\n" in script
    assert "set_range db 6u\n" in script


def test_constant_voltage_script_text():
    assert chronoamperometry_script(3.1, 1e-3, 0.5, 3600.0) == (
        "e\n"
        "var t\nvar e\nvar i\n"
        "set_pgstat_chan 0\nset_pgstat_mode 3\nset_max_bandwidth 40\nset_range ba 1m\nset_autoranging ba 1n 1m\n"
        "set_e 3100m\ncell_on\ntimer_start\n"
        "meas_loop_ca e i 3100m 500m 3600\n"
        "  timer_get t\n  pck_start\n    pck_add t\n    pck_add e\n    pck_add i\n  pck_end\n"
        "  if i >= 1m\n    breakloop\n  endif\n"
        "  if i <= -1m\n    breakloop\n  endif\n"
        "endloop\non_finished:\n  cell_off\n\n"
    )


def test_open_circuit_and_cell_off_script_text():
    assert open_circuit_script(10.0, 60.0) == (
        "e\n"
        "var t\nvar e\n"
        "set_pgstat_chan 0\nset_pgstat_mode 3\nset_max_bandwidth 40\ncell_off\ntimer_start\n"
        "meas_loop_ocp e 10 60\n"
        "  timer_get t\n  pck_start\n    pck_add t\n    pck_add e\n  pck_end\n"
        "endloop\non_finished:\n  cell_off\n\n"
    )
    assert cell_off_script() == "e\ncell_off\n\n"
