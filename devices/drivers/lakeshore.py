"""Lake Shore 335 / 336 cryogenic temperature controller over VISA (serial, Ethernet, GPIB).

One control loop: heater ``output`` (1-4 on the 336, 1-2 on the 335) controlled by sensor
``input`` (A-D / A-B), setpoints in kelvin. The controller has no "settled" flag: the device
judges settling from the readings (RAMPST?, |T - SP|, HTRST?, the heater not pinned).

Commands used, and where each was confirmed (Lake Shore's ``lakeshore`` Python package,
``temperature_controllers.py`` and ``model_336.py``; PyMeasure ``lakeshore_base.py``; QCoDeS
``lakeshore_base.py``, ``Lakeshore_model_336.py`` and its ``sims/lakeshore_model336.yaml``):

========================  ===========================================================  =============
command                   meaning                                                      confirmed in
========================  ===========================================================  =============
``*IDN?``                 ``LSCI,MODEL336,<serial>/<option>,<firmware>``                lakeshore, QCoDeS
``<cmd>;*ESR?``           a setting followed by the event register: bit 32 command     lakeshore (its
                          error, 16 execution error (out of range), 4 query error      ``command()``)
``KRDG? A``               temperature of input A in K                                  all three
``RDGST? A``              reading status: 1 invalid, 16/32 temperature under/over      QCoDeS
                          range, 64/128 sensor units zero/over range
``INTYPE? A``             ``type,autorange,range,compensation,units`` (1 K, 2 C,       QCoDeS sim,
                          3 sensor units: the units of SETP)                           lakeshore
``INCRV? A``              curve number of input A; ``CRVHDR? n`` -> name, serial,      lakeshore
                          format, temperature limit in K, coefficient
``SETP 1,<v>``/``SETP? 1``  setpoint in the control input's units                      all three
``RAMP 1,<0|1>,<K/min>``  setpoint ramp, 0.1 to 100 K/min; ``RAMP? 1`` -> ``on,rate``  lakeshore
``RAMPST? 1``             1 while the setpoint ramps                                   lakeshore
``HTR? 1``                heater output in % of range                                  all three
``RANGE 1,<0-3>``         off / low / medium / high (outputs 3-4 of the 336: 0-1)      PyMeasure, QCoDeS
``HTRST? 1``              heater error: 0 none, 1 open load, 2 short (cleared on read) lakeshore
``OUTMODE 1,<m>,<in>,<p>``  mode 1 = closed-loop PID, input 1-4 = A-D, power-up flag   QCoDeS
========================  ===========================================================  =============

The 336's USB port is a virtual COM port at 57600 baud, 7 data bits, odd parity, 1 stop bit
(lakeshore ``model_336.py``); Ethernet is a TCP socket on port 7777. Commands end with ``\\n``,
replies with ``\\r\\n``.
"""

from __future__ import annotations

import logging

from simslab.errors import SensorFault

from .base import InstrumentDriver, parse_integer, parse_number
from .settings import LakeShoreSettings
from .visa_transport import VisaTransport

__all__ = ["LakeShore33x"]

logger = logging.getLogger(__name__)

RAMP_RATE_RANGE_K_PER_MIN = (0.1, 100.0)
"""Setpoint ramp rates the controller accepts in K/min (0 means ramping off)."""

CELSIUS_OFFSET_K = 273.15

_MODELS = {"lakeshore336": ("MODEL336", 4, "ABCD"), "lakeshore335": ("MODEL335", 2, "AB")}
_UNITS = {1: "K", 2: "C", 3: "sensor"}
_READING_STATUS_BITS = {
    1: "invalid reading",
    16: "temperature under range",
    32: "temperature over range",
    64: "sensor units zero",
    128: "sensor units over range",
}
_ESR_ERRORS = {32: "command error", 16: "execution error (value out of range)", 4: "query error"}
_CLOSED_LOOP_PID = 1


class LakeShore33x(InstrumentDriver):
    """A Lake Shore 335 or 336 controlling the cryo stage through one heater output.

    ``settings.kind`` picks the model, which ``connect()`` checks against ``*IDN?``.
    """

    def __init__(self, settings: LakeShoreSettings, name: str | None = None):
        model, outputs, inputs = _MODELS[settings.kind]
        super().__init__(name or f"Lake Shore {model[-3:]}", settings.resource, settings.timeout_s)
        if settings.output > outputs:
            raise ValueError(f"output = {settings.output} is not allowed for the {model}: 1 to {outputs}")
        if settings.input not in inputs:
            raise ValueError(f"input = {settings.input!r} is not allowed for the {model}: one of {', '.join(inputs)}")
        self.settings = settings
        self.model = model
        self.output = settings.output
        self.input = settings.input
        self.units = "K"
        self.setpoint_max_k = float("nan")
        """The temperature limit of the control input's curve in K (read at connect)."""

    # --- connection --------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the port, check the model, set the loop to closed-loop PID on the input.

        Also reads the input's units and curve limit (the highest setpoint accepted). Waits up
        to the timeout for each reply.
        """
        self.close()
        s = self.settings
        transport = VisaTransport(
            s.resource,
            visa_library=s.visa_library,
            timeout_s=s.timeout_s,
            write_termination="\n",
            read_termination="\r\n",
            baud_rate=s.baud_rate,
            data_bits=s.data_bits,
            parity=s.parity,
            stop_bits=s.stop_bits,
        )
        self.exchange(f"open {s.resource}", transport.open)
        self.transport = transport
        identity = self.identify()
        if identity.split(",")[:2] != ["LSCI", self.model]:
            self.close()
            raise self.error("*IDN?", identity, f"not a Lake Shore {self.model}")
        self._use_closed_loop_pid()
        self.units = self._read_input_units()
        self.setpoint_max_k = self._read_curve_limit_k()
        logger.info("%s connected on %s: %s, input %s in %s", self.name, self.port, identity, self.input, self.units)

    def identify(self) -> str:
        """Return the ``*IDN?`` string: maker, model, serial/option, firmware."""
        return self.query("*IDN?")

    # --- readings ----------------------------------------------------------------------------

    def read_temperature_k(self) -> float:
        """Read the control input in K; raise SensorFault if the input reports a fault."""
        command = f"RDGST? {self.input}"
        status = self.query_integer(command, "a reading status code (integer)")
        if status:
            faults = [text for bit, text in _READING_STATUS_BITS.items() if status & bit] or [f"status {status}"]
            raise SensorFault(self.name, command, str(status), f"input {self.input}: {', '.join(faults)}")
        return self.query_number(f"KRDG? {self.input}", "a temperature in kelvin")

    def read_setpoint_k(self) -> float:
        """Read the loop setpoint in K (the ramping setpoint while a ramp runs)."""
        value = self.query_number(f"SETP? {self.output}", "a setpoint number")
        return value + CELSIUS_OFFSET_K if self.units == "C" else value

    def read_ramp_k_per_s(self) -> float:
        """Read the setpoint ramp rate in K/s; 0 when ramping is off."""
        command = f"RAMP? {self.output}"
        on, rate_k_per_min = self.query_value(command, _parse_ramp, "'<0|1>,<rate in K/min>'")
        return rate_k_per_min / 60.0 if on else 0.0

    def is_ramping(self) -> bool:
        """Return True while the setpoint is still ramping (RAMPST? = 1)."""
        return bool(self.query_value(f"RAMPST? {self.output}", _parse_flag, "0 or 1"))

    def read_heater_fraction(self) -> float:
        """Read the heater output as a fraction 0-1 of the selected range."""
        return self.query_number(f"HTR? {self.output}", "a heater output in %") / 100.0

    def read_heater_error(self) -> int:
        """Read the heater error code: 0 none, 1 open load, 2 short. Reading clears it."""
        return self.query_integer(f"HTRST? {self.output}", "a heater error code (integer)")

    # --- settings ----------------------------------------------------------------------------

    def set_setpoint_k(self, kelvin: float) -> None:
        """Set the loop setpoint in K, 0 to the input curve's limit; ramps if a rate is on."""
        value = kelvin - CELSIUS_OFFSET_K if self.units == "C" else kelvin
        command = f"SETP {self.output},{value:.3f}"
        self._require_transport(command)  # the curve limit is known once connected
        self.check_range(command, "setpoint", kelvin, 0.0, self.setpoint_max_k, "K")
        self.command(command)

    def set_ramp_k_per_s(self, rate: float) -> None:
        """Set the setpoint ramp rate in K/s (0.1-100 K/min, sent rounded to 0.1 K/min); 0 = off."""
        rate_k_per_min = rate * 60.0
        if rate == 0:
            self.command(f"RAMP {self.output},0,0.0")
            return
        command = f"RAMP {self.output},1,{rate_k_per_min:.1f}"
        low, high = RAMP_RATE_RANGE_K_PER_MIN
        self.check_range(command, "ramp rate", rate_k_per_min, low, high, "K/min")
        self.command(command)

    def set_heater_range(self, level: int) -> None:
        """Set the heater range: 0 off, 1 low, 2 medium, 3 high (outputs 3-4 of a 336: 0-1)."""
        command = f"RANGE {self.output},{level}"
        highest = 3 if self.output <= 2 else 1
        if level != int(level):
            raise self.error(command, None, f"heater range {level!r} is not an integer: not sent")
        self.check_range(command, "heater range", level, 0, highest, "")
        self.command(command)

    def command(self, command: str) -> None:
        """Send a setting and check the event register in the same exchange (``;*ESR?``).

        Raises InstrumentError naming the command if the controller flags a command,
        execution (out of range) or query error.
        """
        esr = self.query_integer(f"{command};*ESR?", "the *ESR? event register (integer)")
        problems = [text for bit, text in _ESR_ERRORS.items() if esr & bit]
        if problems:
            raise self.error(command, str(esr), f"refused: {', '.join(problems)}")

    # --- connect-time setup --------------------------------------------------------------

    def _use_closed_loop_pid(self) -> None:
        command = f"OUTMODE? {self.output}"
        mode, control_input, powerup = self.query_value(command, _parse_ints, "'<mode>,<input>,<powerup>'")[:3]
        wanted_input = " ABCD".index(self.input)
        if (mode, control_input) != (_CLOSED_LOOP_PID, wanted_input):
            logger.info("%s: output %d was mode %d on input %d, setting closed-loop PID on %s",
                        self.name, self.output, mode, control_input, self.input)
            self.command(f"OUTMODE {self.output},{_CLOSED_LOOP_PID},{wanted_input},{powerup}")

    def _read_input_units(self) -> str:
        command = f"INTYPE? {self.input}"
        fields = self.query_value(command, _parse_ints, "'<type>,<autorange>,<range>,<compensation>,<units>'")
        units = _UNITS.get(fields[-1])
        if units not in ("K", "C"):
            raise self.error(command, ",".join(map(str, fields)),
                             f"input {self.input} reports in {units or 'unknown'} units; set it to kelvin or Celsius")
        return units

    def _read_curve_limit_k(self) -> float:
        curve = self.query_integer(f"INCRV? {self.input}", "a curve number")
        if curve == 0:
            raise self.error(f"INCRV? {self.input}", "0", f"input {self.input} has no calibration curve")
        command = f"CRVHDR? {curve}"
        expected = "'name,serial,format,limit,coefficient'"
        return self.query_value(command, lambda reply: parse_number(reply.split(",")[3].strip(" ")), expected)


def _parse_ramp(reply: str) -> tuple[bool, float]:
    on, rate = (field.strip(" ") for field in reply.split(","))
    return bool(_parse_flag(on)), parse_number(rate)


def _parse_flag(reply: str) -> int:
    value = parse_integer(reply)
    if value not in (0, 1):
        raise ValueError(f"{value} is not 0 or 1")
    return value


def _parse_ints(reply: str) -> list[int]:
    return [parse_integer(field.strip(" ")) for field in reply.split(",")]
