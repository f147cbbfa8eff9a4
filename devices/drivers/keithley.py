"""Keithley 2450 source-measure unit (SCPI command set) used as a galvanostat on a battery cell.

The cell's positive electrode is wired to the 2450's HI terminal, so a positive source current
charges the cell. Cut-offs and the CC -> CV switch are timed by the host; the 2450 only holds
the level and its compliance.

Commands used, and where each was confirmed (PyMeasure ``keithley2450.py``; QCoDeS
``Keithley_2450.py`` and its sim YAML; public 2450 scripts found with the code search):

=====================================  ================================================  ==================
command                                meaning                                           confirmed in
=====================================  ================================================  ==================
``*IDN?``                              ``KEITHLEY INSTRUMENTS,MODEL 2450,<serial>,<fw>``  QCoDeS
``*LANG?``                             active command set: must be ``SCPI`` (not          QCoDeS
                                       ``SCPI2400`` or ``TSP``)
``:SOUR:FUNC CURR|VOLT``               source function                                   PyMeasure, QCoDeS
``:SOUR:CURR:LEV <A>``                 source current, -1.05 to 1.05 A                   PyMeasure
``:SOUR:CURR:VLIM <V>``                voltage limit while sourcing current, 0.02-210 V  PyMeasure, QCoDeS
``:SOUR:VOLT:LEV <V>``                 source voltage, -210 to 210 V                     PyMeasure
``:SOUR:VOLT:ILIM <A>``                current limit while sourcing voltage, 1 nA-1.05 A PyMeasure, QCoDeS
``:SENS:FUNC "VOLT"|"CURR"``           measure function                                  PyMeasure, QCoDeS
``:OUTP ON|OFF``, ``:OUTP?``           output relay                                      PyMeasure
``:READ? "defbuffer1", READ, SOUR``    trigger one reading: measured value, source       code search
                                       readback (readback is on by default)
``:SOUR:CURR:VLIM:TRIP?``              1 while the voltage limit holds the output        QCoDeS, code search
``:SOUR:VOLT:ILIM:TRIP?``              1 while the current limit holds the output        QCoDeS, code search
``:SYST:ERR?``                         next error ``<code>,"<text>"``; ``0,...`` = empty  PyMeasure
=====================================  ================================================  ==================

The 2450 reports an overflowed reading as 9.9e37 and "not a number" as 9.91e37: both read as
NaN here. Settings are sent as one ``;``-joined line, followed by ``:SYST:ERR?`` until the
queue is empty; any error raises InstrumentError naming the line and the error.

Charge passed is integrated by the driver on its own clock (``now``; the session passes its
clock so simulated time is used in the simulated lab): trapezoids between consecutive readings
while the output is on; at a change of setting or ``cell_off()`` the last reading's current is
held up to the change, and the first reading after a change counts from the change.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from simslab.devices.drivers.protocols import PotentiostatMeasurement

from .base import InstrumentDriver, parse_integer, parse_number
from .settings import Keithley2450Settings
from .visa_transport import VisaTransport

__all__ = ["Keithley2450"]

logger = logging.getLogger(__name__)

CURRENT_RANGE_A = (-1.05, 1.05)
VOLTAGE_RANGE_V = (-210.0, 210.0)
VOLTAGE_LIMIT_RANGE_V = (0.02, 210.0)
CURRENT_LIMIT_RANGE_A = (1e-9, 1.05)
OPEN_CIRCUIT_VOLTAGE_LIMIT_V = 21.0
"""Voltage limit while holding 0 A for an open-circuit reading: the top of the 20 V range."""

OVERFLOW = 9.9e37
READ_QUERY = ':READ? "defbuffer1", READ, SOUR'
_NO_ERROR = 0
_MAX_ERRORS_READ = 32


class Keithley2450(InstrumentDriver):
    """A Keithley 2450 sourcing current (CC) or voltage (CV) into a cell and measuring it.

    Parameters
    ----------
    settings:
        Resource, timeout and pyvisa backend from the profile.
    now:
        Time source in epoch s for reading timestamps and the charge integral.
    name:
        The instrument's name in error messages (default ``"Keithley 2450"``).
    """

    def __init__(
        self,
        settings: Keithley2450Settings,
        now: Callable[[], float] = time.time,
        name: str = "Keithley 2450",
    ):
        super().__init__(name, settings.resource, settings.timeout_s)
        self.settings = settings
        self.now = now
        self.mode: str | None = None
        """``"CURR"`` or ``"VOLT"``: what the output sources while on; None while off."""
        self.charge_c = 0.0
        self._segment_start_s: float | None = None
        self._segment_current_a: float | None = None

    # --- connection --------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the port, check model and command set (``*LANG?`` must be SCPI), read the output state.

        Nothing is changed on the instrument: a cell left running keeps running. The charge
        integral restarts at 0.
        """
        self.close()
        s = self.settings
        transport = VisaTransport(
            s.resource,
            visa_library=s.visa_library,
            timeout_s=s.timeout_s,
            write_termination="\n",
            read_termination="\n",
        )
        self.exchange(f"open {s.resource}", transport.open)
        self.transport = transport
        identity = self.identify()
        if "MODEL 2450" not in identity.upper():
            self.close()
            raise self.error("*IDN?", identity, "not a Keithley 2450")
        language = self.query("*LANG?")
        if language.strip().upper() != "SCPI":
            self.close()
            advice = "select SCPI (MENU > System > Settings) and restart it"
            raise self.error("*LANG?", language, f"the 2450 runs another command set; {advice}")
        output_on = self.query_value(":OUTP?", _parse_on_off, "0 or 1")
        self.mode = self.query_value(":SOUR:FUNC?", _parse_function, "CURR or VOLT") if output_on else None
        self.charge_c = 0.0
        self._segment_start_s = self.now() if output_on else None
        self._segment_current_a = None
        logger.info("%s connected on %s: %s, output %s", self.name, self.port, identity, "on" if output_on else "off")

    def identify(self) -> str:
        """Return the ``*IDN?`` string: maker, model, serial, firmware."""
        return self.query("*IDN?")

    # --- sourcing ----------------------------------------------------------------------------

    def apply_current(self, current_a: float, voltage_limit_v: float) -> None:
        """Source a constant current in A (-1.05 to 1.05) with a voltage limit in V (0.02-210)."""
        level = f":SOUR:CURR:LEV {current_a:.6E}"
        limit = f":SOUR:CURR:VLIM {voltage_limit_v:.6E}"
        self.check_range(level, "source current", current_a, *CURRENT_RANGE_A, "A")
        self.check_range(limit, "voltage limit", voltage_limit_v, *VOLTAGE_LIMIT_RANGE_V, "V")
        self._switch_output_on("CURR", [":SOUR:FUNC CURR", level, limit, ':SENS:FUNC "VOLT"'])

    def apply_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        """Hold a constant voltage in V (-210 to 210) with a current limit in A (1 nA-1.05 A)."""
        level = f":SOUR:VOLT:LEV {voltage_v:.6E}"
        limit = f":SOUR:VOLT:ILIM {current_limit_a:.6E}"
        self.check_range(level, "source voltage", voltage_v, *VOLTAGE_RANGE_V, "V")
        self.check_range(limit, "current limit", current_limit_a, *CURRENT_LIMIT_RANGE_A, "A")
        self._switch_output_on("VOLT", [":SOUR:FUNC VOLT", level, limit, ':SENS:FUNC "CURR"'])

    def set_open_circuit(self) -> None:
        """Hold 0 A with the output on so the voltage read is the cell's open-circuit voltage."""
        self.apply_current(0.0, OPEN_CIRCUIT_VOLTAGE_LIMIT_V)

    def cell_off(self) -> None:
        """Switch the output off (the safe state); the charge integral stops."""
        self._close_segment()
        self.mode = None
        self._segment_start_s = None
        self.configure([":OUTP OFF"])

    # --- reading -----------------------------------------------------------------------------

    def read_measurement(self) -> PotentiostatMeasurement:
        """Trigger one reading: voltage in V, current in A, charge in C, compliance flag.

        With the output off nothing is triggered: voltage NaN, current 0. Waits for the
        reading up to the timeout (the 2450's integration time counts).
        """
        if self.mode is None:
            return PotentiostatMeasurement(time_s=self.now(), voltage_v=math.nan, current_a=0.0, charge_c=self.charge_c)
        measured, source = self.query_value(READ_QUERY, _parse_two_numbers, "'<measured>,<source readback>'")
        time_s = self.now()
        voltage_v, current_a = (measured, source) if self.mode == "CURR" else (source, measured)
        trip_query = ":SOUR:CURR:VLIM:TRIP?" if self.mode == "CURR" else ":SOUR:VOLT:ILIM:TRIP?"
        compliance = bool(self.query_value(trip_query, _parse_on_off, "0 or 1"))
        self._integrate(time_s, current_a)
        return PotentiostatMeasurement(
            time_s=time_s, voltage_v=voltage_v, current_a=current_a, charge_c=self.charge_c, compliance=compliance
        )

    # --- configuration -----------------------------------------------------------------------

    def configure(self, commands: list[str]) -> None:
        """Send settings as one ``;``-joined line, then read ``:SYST:ERR?`` until it is empty.

        Raises InstrumentError naming the line and the first error the 2450 queued.
        """
        line = ";".join(commands)
        self.write(line)
        errors = []
        for _ in range(_MAX_ERRORS_READ):
            code, text = self.query_value(":SYST:ERR?", _parse_error, "'<code>,\"<message>\"'")
            if code == _NO_ERROR:
                break
            errors.append(f"{code},{text}")
        if errors:
            raise self.error(line, errors[0], f"refused with {len(errors)} error(s): {'; '.join(errors)}")

    def _switch_output_on(self, mode: str, commands: list[str]) -> None:
        self._close_segment()
        self.configure([*commands, ":OUTP ON"])
        self.mode = mode
        self._segment_start_s = self.now()
        self._segment_current_a = None

    def _close_segment(self) -> None:
        """Hold the last reading's current up to now: the setting changes at this instant."""
        if self._segment_start_s is None:
            return
        now_s = self.now()
        if self._segment_current_a is not None:
            self.charge_c += self._segment_current_a * (now_s - self._segment_start_s)
        self._segment_start_s = now_s

    def _integrate(self, time_s: float, current_a: float) -> None:
        if math.isnan(current_a):
            return  # an overflowed reading: keep the segment open until a valid one
        if self._segment_start_s is not None:
            dt = time_s - self._segment_start_s
            earlier = current_a if self._segment_current_a is None else self._segment_current_a
            self.charge_c += 0.5 * (earlier + current_a) * dt
        self._segment_start_s, self._segment_current_a = time_s, current_a


def _scpi_number(text: str) -> float:
    """Return a SCPI number; the 2450's overflow code (9.9E37 and above) is NaN, an unmeasured value."""
    value = parse_number(text.strip(" "))
    return math.nan if abs(value) >= OVERFLOW else value


def _parse_two_numbers(reply: str) -> tuple[float, float]:
    first, second = reply.split(",")
    return _scpi_number(first), _scpi_number(second)


def _parse_on_off(reply: str) -> int:
    value = {"0": 0, "1": 1, "OFF": 0, "ON": 1}[reply.strip().upper()]
    return value


def _parse_function(reply: str) -> str:
    function = reply.strip().strip('"').upper()
    for name in ("CURR", "VOLT"):
        if function.startswith(name):
            return name
    raise ValueError(f"unknown source function {reply!r}")


def _parse_error(reply: str) -> tuple[int, str]:
    code, _, text = reply.partition(",")
    return parse_integer(code.strip(" ")), text.strip()
