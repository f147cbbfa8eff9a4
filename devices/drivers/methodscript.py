"""MethodSCRIPT for PalmSens potentiostats: the scripts simslab runs and the data packets they send.

Pure functions, no I/O: the EmStat4 driver sends these scripts, its peer runs them, and both
share the packet format.

Sources (read through the search tool, 2026-11): PalmSens' own Python package in
``PalmSens/MethodSCRIPT_Examples`` (``mscript.py``: packet layout, SI prefixes, variable types,
metadata; ``serial.py``: ``t``/``v``/``i``/``Z`` host commands) and pypalmsens'
``battery_cycling.mscr`` template (``set_pgstat_mode 6``, ``set_range db``, ``meas_loop_cp
<E var> <I var> <current> <interval> <run time>``, ``if <E> >= <Emax>`` + ``breakloop``,
``set_pgstat_mode 3`` + ``set_e`` + ``meas_loop_ca <E var> <I var> <E> <interval> <run time>``,
``on_finished:`` + ``cell_off``, ``timer_start``/``timer_get``); ``meas_loop_ocp <E var>
<interval> <run time>`` from PalmSens' OCP example.

Script literals are integers with an optional SI prefix (``100m``, ``6u``, ``86400``). A data
packet line is ``P`` then ``;``-separated fields; each field is a 2-character variable type,
7 hex digits and an SI-prefix character, the value being ``int(hex, 16) - 2**27`` times the
prefix; ``     nan`` (five spaces) in place of digits and prefix is NaN; optional metadata
follow after commas (``1X``: status bits, 1 timing error, 2 overload, 4 underload, 8 overload
warning; ``2XX``: current range code).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .base import parse_integer

__all__ = [
    "SI_PREFIXES",
    "si_value",
    "VALUE_OFFSET",
    "Packet",
    "format_literal",
    "encode_field",
    "decode_field",
    "decode_packet",
    "encode_packet",
    "chronopotentiometry_script",
    "chronoamperometry_script",
    "open_circuit_script",
    "cell_off_script",
    "STATUS_TIMING_ERROR",
    "STATUS_OVERLOAD",
    "STATUS_UNDERLOAD",
    "STATUS_OVERLOAD_WARNING",
]

SI_PREFIXES = {"a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, " ": 1.0,
               "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "i": 1.0}
"""SI prefix characters and their factors (``i``: an integer, factor 1)."""

_EXPONENTS = {"a": -18, "f": -15, "p": -12, "n": -9, "u": -6, "m": -3, " ": 0, "k": 3, "M": 6, "G": 9, "T": 12,
              "P": 15, "E": 18, "i": 0}

VALUE_OFFSET = 2**27
"""Packet values are sent as ``value + 2**27`` in 7 hex digits."""

STATUS_TIMING_ERROR, STATUS_OVERLOAD, STATUS_UNDERLOAD, STATUS_OVERLOAD_WARNING = 0x1, 0x2, 0x4, 0x8

_LITERAL_PREFIXES = ("G", "M", "k", "", "m", "u", "n", "p", "f")
_LITERAL_FACTORS = {"": 1.0, **{p: SI_PREFIXES[p] for p in _LITERAL_PREFIXES if p}}
_NAN_FIELD = "     nan"
_PACKET_FIELD_TYPES = {"eb": "time_s", "ab": "potential_v", "ba": "current_a", "da": "applied_potential_v",
                       "db": "applied_current_a"}


@dataclass(frozen=True)
class Packet:
    """One decoded data packet: the values it carried (SI units, NaN if sent as nan), metadata.

    ``values`` holds every field by its variable type (``"ab"``: V, ``"ba"``: A, ...);
    ``status`` ORs the status bits of all fields; ``current_range`` is the last range code seen.
    """

    values: dict[str, float] = field(default_factory=dict)
    status: int = 0
    current_range: int | None = None

    @property
    def time_s(self) -> float | None:
        """Instrument time of the packet in s (``eb``, from ``timer_get``), if sent."""
        return self.values.get("eb")

    @property
    def potential_v(self) -> float | None:
        """Working-electrode potential in V (``ab``), if sent."""
        return self.values.get("ab")

    @property
    def current_a(self) -> float | None:
        """Working-electrode current in A (``ba``), if sent."""
        return self.values.get("ba")

    @property
    def overload(self) -> bool:
        """True if any field reports an overload (current or potential out of its range)."""
        return bool(self.status & STATUS_OVERLOAD)


def si_value(mantissa: int, prefix: str) -> float:
    """Return ``mantissa`` times the SI prefix, correctly rounded (``si_value(50, "u") == 50e-6``)."""
    exponent = _EXPONENTS[prefix]
    return mantissa * 10**exponent if exponent >= 0 else mantissa / 10**-exponent


def format_literal(value: float) -> str:
    """Return a MethodSCRIPT literal for ``value``: an integer with the coarsest exact SI prefix.

    ``0.1`` -> ``100m``, ``6e-6`` -> ``6u``, ``86400`` -> ``86400``, ``-3.1`` -> ``-3100m``.
    A value no prefix down to femto represents exactly is rounded at the finest prefix whose
    integer fits below 2**31. Raises ValueError for NaN or infinity.
    """
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written in a MethodSCRIPT")
    if value == 0:
        return "0"
    for prefix in _LITERAL_PREFIXES:
        mantissa = value / _LITERAL_FACTORS[prefix]
        if abs(mantissa) >= 2**31:
            continue
        if abs(mantissa) >= 1 and abs(mantissa - round(mantissa)) <= 1e-9 * abs(mantissa):
            return f"{round(mantissa)}{prefix}"
    for prefix in reversed(_LITERAL_PREFIXES):
        mantissa = round(value / _LITERAL_FACTORS[prefix])
        if abs(mantissa) < 2**31:
            return f"{mantissa}{prefix}"
    raise ValueError(f"{value!r} is too large for a MethodSCRIPT literal")


def encode_field(var_type: str, value: float, metadata: str = "") -> str:
    """Return one packet field for ``value`` with the finest SI prefix whose integer fits 7 hex digits.

    ``encode_field("ab", 1.0)`` -> ``"ab80F4240u"`` (10**9 nV would overflow, so micro);
    NaN gives ``"ab     nan"``. ``metadata`` (e.g. ``"12"``) is appended after a comma.
    """
    if len(var_type) != 2:
        raise ValueError(f"variable type {var_type!r} is not two characters")
    suffix = f",{metadata}" if metadata else ""
    if math.isnan(value):
        return f"{var_type}{_NAN_FIELD}{suffix}"
    for prefix in ("a", "f", "p", "n", "u", "m", " ", "k", "M", "G", "T"):
        mantissa = round(value / SI_PREFIXES[prefix])
        if -VALUE_OFFSET <= mantissa < VALUE_OFFSET:
            return f"{var_type}{mantissa + VALUE_OFFSET:07X}{prefix}{suffix}"
    raise ValueError(f"{value!r} does not fit a MethodSCRIPT packet field")


def decode_field(text: str) -> tuple[str, float, dict[str, int]]:
    """Return (variable type, value in SI units, metadata) of one packet field.

    Raises ValueError naming the field if it is malformed.
    """
    head, *metadata_tokens = text.split(",")
    if len(head) != 10:
        raise ValueError(f"packet field {text!r} is not 2 type + 7 hex + 1 prefix characters")
    var_type, digits, prefix = head[:2], head[2:9], head[9]
    if head[2:] == _NAN_FIELD:
        value = math.nan
    else:
        if prefix not in SI_PREFIXES:
            raise ValueError(f"packet field {text!r} has an unknown SI prefix {prefix!r}")
        try:
            raw = parse_integer(digits, 16)
        except ValueError as exc:
            raise ValueError(f"packet field {text!r} has no 7 hex digits") from exc
        value = si_value(raw - VALUE_OFFSET, prefix)
    metadata: dict[str, int] = {}
    for token in metadata_tokens:
        try:
            if len(token) == 2 and token[0] == "1":
                metadata["status"] = parse_integer(token[1], 16)
            elif len(token) == 3 and token[0] == "2":
                metadata["current_range"] = parse_integer(token[1:], 16)
            else:
                raise ValueError
        except ValueError as exc:
            raise ValueError(f"packet field {text!r} has unknown metadata {token!r}") from exc
    return var_type, value, metadata


def decode_packet(line: str) -> Packet:
    """Decode a data packet line (``P...``, with or without its newline).

    Raises ValueError naming the line if it is not a well-formed packet.
    """
    line = line.rstrip("\r\n")
    if not line.startswith("P") or len(line) < 2:
        raise ValueError(f"{line!r} is not a data packet (expected 'P' and fields)")
    values: dict[str, float] = {}
    status = 0
    current_range = None
    for text in line[1:].split(";"):
        var_type, value, metadata = decode_field(text)
        values[var_type] = value
        status |= metadata.get("status", 0)
        current_range = metadata.get("current_range", current_range)
    return Packet(values, status, current_range)


def encode_packet(fields: list[tuple[str, float]], status: int = 0) -> str:
    """Return a packet line (without newline) for (variable type, value) pairs.

    A non-zero ``status`` is attached as ``1X`` metadata to every field.
    """
    metadata = f"1{status:X}" if status else ""
    return "P" + ";".join(encode_field(var_type, value, metadata) for var_type, value in fields)


def chronopotentiometry_script(current_a: float, voltage_limit_v: float, interval_s: float, run_time_s: float) -> str:
    """Return the script of a constant-current step (galvanostat) with a voltage cut-off.

    The loop ends when the potential reaches ``voltage_limit_v`` (from below when charging,
    ``current_a >= 0``; from above when discharging) or after ``run_time_s``; the cell is
    switched off when the script ends or is aborted. Packets: time, potential, current.
    """
    comparison = ">=" if current_a >= 0 else "<="
    return _script(
        ["var t", "var e", "var i", "set_pgstat_chan 0", "set_pgstat_mode 6", "set_max_bandwidth 40",
         f"set_range db {format_literal(max(abs(current_a), 1e-9))}", "cell_on", "timer_start",
         f"meas_loop_cp e i {format_literal(current_a)} {format_literal(interval_s)} {format_literal(run_time_s)}"],
        [f"if e {comparison} {format_literal(voltage_limit_v)}"],
    )


def chronoamperometry_script(voltage_v: float, current_limit_a: float, interval_s: float, run_time_s: float) -> str:
    """Return the script of a constant-voltage step (potentiostat) with a current cut-off.

    The loop ends when |current| reaches ``current_limit_a`` or after ``run_time_s``; the
    cell is switched off when the script ends or is aborted. Packets: time, potential, current.
    """
    limit = format_literal(abs(current_limit_a))
    return _script(
        ["var t", "var e", "var i", "set_pgstat_chan 0", "set_pgstat_mode 3", "set_max_bandwidth 40",
         f"set_range ba {limit}", f"set_autoranging ba 1n {limit}", f"set_e {format_literal(voltage_v)}", "cell_on",
         "timer_start",
         f"meas_loop_ca e i {format_literal(voltage_v)} {format_literal(interval_s)} {format_literal(run_time_s)}"],
        [f"if i >= {limit}", f"if i <= {format_literal(-abs(current_limit_a))}"],
    )


def open_circuit_script(interval_s: float, run_time_s: float) -> str:
    """Return the script of an open-circuit potential measurement (cell off, no current)."""
    return _script(
        ["var t", "var e", "set_pgstat_chan 0", "set_pgstat_mode 3", "set_max_bandwidth 40", "cell_off",
         "timer_start", f"meas_loop_ocp e {format_literal(interval_s)} {format_literal(run_time_s)}"],
        [],
        packet_vars=("t", "e"),
    )


def cell_off_script() -> str:
    """Return a script that only switches the cell off."""
    return "e\ncell_off\n\n"


def _script(setup: list[str], breaks: list[str], packet_vars: tuple[str, ...] = ("t", "e", "i")) -> str:
    """Assemble: ``e``, setup lines, the loop body (time, packet, cut-offs), on_finished, an empty line."""
    lines = ["e", *setup, "  timer_get t", "  pck_start"]
    lines += [f"    pck_add {var}" for var in packet_vars]
    lines.append("  pck_end")
    for condition in breaks:
        lines += [f"  {condition}", "    breakloop", "  endif"]
    lines += ["endloop", "on_finished:", "  cell_off", "", ""]
    return "\n".join(lines)
