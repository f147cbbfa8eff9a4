"""Eurotherm 2400/3200-series furnace controller over Modbus RTU (minimalmodbus).

The controller speaks Modbus RTU, 9600 baud 8N1 (set explicitly: minimalmodbus defaults to
19200), at slave address 1 by default. Every parameter has a tag; the plain register ``tag``
holds a scaled 16-bit integer, and the full-precision IEEE float of the same parameter sits at
``2 * tag + 0x8000`` as two big-endian words. This driver uses the float area for every value
(no implied decimals to get wrong) and the plain registers for words (status, mode, ident).
Temperatures are in degrees Celsius on the wire; the driver converts at the edge to kelvin.

Where each register was confirmed (public sources read through the search tool, 2026-11):

- 1 PV, 2 target setpoint, 3 output power %, 4 working output, 5 working setpoint (floats),
  35 setpoint rate limit, 75 status word, 107 firmware version, 122 instrument ident,
  111/112 setpoint-1 high/low limit, 273 auto/manual select (1 = manual), 274 acknowledge all
  alarms, 525 decimal places, 531 setpoint rate limit units: ESRF bliss
  ``eurotherm2000_cmds.txt`` (2400 series table) and ``eurotherm2000.py``, which reads floats
  at ``2 * tag + 0x8000`` and decodes the status bits in the order alarm 1-4 (bits 0-3),
  manual (4), sensor broken (5), open loop (6), heater fail (7), auto-tune (8),
  ramp/program complete (9), PV out of range (10).
- The float area and 1/2/3/4/5/35 as floats: a public minimalmodbus ``Eurotherm3200`` driver
  (``read_float(2 * register + 32768)``), and checked against this project's pymodbus peer.
- Uncertain: the 3216's status word (assumed to follow the 2000-series bit order), and register
  531, whose encoding differs between sources: bliss (2400) reads 0 = per second, 1 = per
  minute, 2 = per hour; the public 3200 driver reads 0 = per minute, 1 = per hour,
  2 = per second. This driver reads 531 at connect and decodes it by the series named in the
  ident (register 122, ``0x2...`` = 2000 series, otherwise the 3200 table); if the controller
  refuses register 531 it assumes per minute, the factory default in both tables. A lab
  should check once that ``read_ramp_k_per_s()`` matches the front panel.
- Ramping: bit 9 marks the end of a programmer run, which a bare setpoint rate limit may not
  touch, so ``ramp_complete`` compares the working and target setpoints, as bliss's
  ``is_ramping`` does.
"""

from __future__ import annotations

import logging
import math
import struct

import minimalmodbus
import serial

from simslab.errors import ConnectionLost, InstrumentError, LimitError, SensorFault

from .base import InstrumentDriver
from .protocols import FurnaceStatus
from .serial_port import close_serial_port, open_serial_port
from .settings import EurothermSettings

__all__ = ["Eurotherm", "EurothermTag", "STATUS_BITS", "float_register", "CELSIUS_OFFSET_K"]

logger = logging.getLogger(__name__)

CELSIUS_OFFSET_K = 273.15
"""0 degC in kelvin."""


class EurothermTag:
    """Parameter tags (Modbus register numbers of the plain area) used here."""

    PROCESS_VALUE = 1
    TARGET_SETPOINT = 2
    OUTPUT_POWER = 3
    WORKING_OUTPUT = 4
    WORKING_SETPOINT = 5
    SETPOINT_1 = 24
    SETPOINT_RATE_LIMIT = 35
    ERROR_PV_SP = 39
    STATUS = 75
    FIRMWARE = 107
    SETPOINT_1_HIGH_LIMIT = 111
    SETPOINT_1_LOW_LIMIT = 112
    IDENT = 122
    MAX_SEGMENTS = 211
    AUTO_MANUAL = 273
    ACKNOWLEDGE_ALARMS = 274
    INPUT_1_VALUE = 289
    INSTRUMENT_UNITS = 516
    PROGRAMMER_TYPE = 517
    NUMBER_OF_SETPOINTS = 521
    DECIMAL_PLACES = 525
    RATE_UNITS = 531


STATUS_BITS = {
    "alarm_1": 0,
    "alarm_2": 1,
    "alarm_3": 2,
    "alarm_4": 3,
    "manual": 4,
    "sensor_broken": 5,
    "open_loop": 6,
    "heater_fail": 7,
    "ramp_complete": 9,
    "pv_out_of_range": 10,
}
"""Bit numbers of the status word (register 75), 2000-series order (bliss)."""

RATE_UNIT_SECONDS_2000 = (1.0, 60.0, 3600.0)
"""Register 531 -> seconds per rate unit, 2000 series (bliss: sec, min, hour)."""
RATE_UNIT_SECONDS_3200 = (60.0, 3600.0, 1.0)
"""Register 531 -> seconds per rate unit, 3200 series (public driver: mins, hours, secs)."""

_SETPOINT_MATCH_K = 0.01
"""Working and target setpoint closer than this count as equal (float32 resolution near 1000 C)."""


def float_register(tag: int) -> int:
    """Return the first register of a tag's full-precision float (``2 * tag + 0x8000``)."""
    return 2 * tag + 0x8000


class Eurotherm(InstrumentDriver):
    """Drive a Eurotherm 2400/3200 furnace controller: temperatures in K, rates in K/s.

    ``connect()`` opens the port, reads the ident, the setpoint limits and the rate units;
    every call is one or a few Modbus transactions, each bounded by ``settings.timeout_s``.
    """

    def __init__(self, settings: EurothermSettings, name: str = "eurotherm"):
        super().__init__(name, settings.port, settings.timeout_s)
        self.settings = settings
        self._port: _RecordingPort | None = None
        self._modbus: minimalmodbus.Instrument | None = None
        self._rate_unit_s = 60.0
        self._setpoint_range_k: tuple[float, float] | None = None
        self._ident = 0
        self._firmware = 0

    # --- connection ------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the port (9600 8N1), check the controller answers, read its configuration."""
        if self._modbus is not None:
            return
        settings = self.settings
        port = self.exchange(f"open {settings.port}", lambda: open_serial_port(
            settings.port, baud_rate=settings.baud_rate, timeout_s=settings.timeout_s,
            write_timeout_s=settings.timeout_s))
        self._port = _RecordingPort(port)
        self._modbus = minimalmodbus.Instrument(self._port, settings.address, mode=minimalmodbus.MODE_RTU)
        try:
            self._ident = self._read_word(EurothermTag.IDENT, "instrument ident")
            self._firmware = self._read_word(EurothermTag.FIRMWARE, "firmware version")
            self._rate_unit_s = self._read_rate_unit_s()
            self._setpoint_range_k = self._read_setpoint_range_k()
        except InstrumentError:
            self.close()
            raise
        logger.info(
            "%s: Eurotherm ident 0x%04X firmware 0x%04X on %s, rate per %g s, setpoint range %s K",
            self.name, self._ident, self._firmware, settings.port, self._rate_unit_s, self._setpoint_range_k,
        )

    def close(self) -> None:
        """Close the port; safe to call twice."""
        port, self._port, self._modbus = self._port, None, None
        if port is not None:
            with self._lock:
                port.close()

    def identify(self) -> str:
        """Return ``Eurotherm ident 0x2480 firmware 0x0461`` as read at connect."""
        self._require_modbus("identify")
        return f"Eurotherm ident 0x{self._ident:04X} firmware 0x{self._firmware:04X}"

    # --- temperatures ----------------------------------------------------------------------

    def read_temperature_k(self) -> float:
        """Read the process value in K; raise SensorFault on a broken or out-of-range sensor."""
        status = self._read_word(EurothermTag.STATUS, "status")
        if status & (1 << STATUS_BITS["sensor_broken"] | 1 << STATUS_BITS["pv_out_of_range"]):
            problem = "sensor broken" if status & (1 << STATUS_BITS["sensor_broken"]) else "PV out of range"
            raise SensorFault(self.name, _read_command(EurothermTag.STATUS, "status"), f"0x{status:04X}",
                              f"thermocouple fault: {problem}")
        celsius = self._read_float_register(EurothermTag.PROCESS_VALUE, "process value")
        if not math.isfinite(celsius):
            raise SensorFault(self.name, _read_command(EurothermTag.PROCESS_VALUE, "process value", True),
                              repr(celsius), "thermocouple fault: process value is not a number")
        return celsius + CELSIUS_OFFSET_K

    def read_setpoint_k(self) -> float:
        """Read the target setpoint in K."""
        return self._read_float(EurothermTag.TARGET_SETPOINT, "target setpoint") + CELSIUS_OFFSET_K

    def read_working_setpoint_k(self) -> float:
        """Read the working setpoint in K (follows the rate limit towards the target)."""
        return self._read_float(EurothermTag.WORKING_SETPOINT, "working setpoint") + CELSIUS_OFFSET_K

    def set_setpoint_k(self, kelvin: float) -> None:
        """Set the target setpoint in K, within the controller's setpoint-1 limits (read at connect)."""
        low, high = self._setpoint_range_k or (0.0, math.inf)
        if not (math.isfinite(kelvin) and low <= kelvin <= high):
            raise LimitError(self.name, "setpoint", kelvin, low, high, "K")
        self._write_float(EurothermTag.TARGET_SETPOINT, kelvin - CELSIUS_OFFSET_K, "target setpoint")

    # --- ramp rate -------------------------------------------------------------------------

    def read_ramp_k_per_s(self) -> float:
        """Read the setpoint rate limit in K/s; 0 means no limit."""
        per_unit = self._read_float(EurothermTag.SETPOINT_RATE_LIMIT, "setpoint rate limit")
        return per_unit / self._rate_unit_s

    def set_ramp_k_per_s(self, rate: float) -> None:
        """Set the setpoint rate limit in K/s (>= 0); 0 switches it off."""
        if not (math.isfinite(rate) and rate >= 0):
            raise LimitError(self.name, "ramp rate", rate, 0.0, math.inf, "K/s")
        self._write_float(EurothermTag.SETPOINT_RATE_LIMIT, rate * self._rate_unit_s, "setpoint rate limit")

    # --- output, mode, status --------------------------------------------------------------

    def read_output_fraction(self) -> float:
        """Read the heater output power as a fraction 0-1."""
        return self._read_float(EurothermTag.OUTPUT_POWER, "output power") / 100.0

    def read_status(self) -> FurnaceStatus:
        """Read the status word and the two setpoints; ramp_complete means working SP = target SP."""
        status = self._read_word(EurothermTag.STATUS, "status")
        target_c = self._read_float(EurothermTag.TARGET_SETPOINT, "target setpoint")
        working_c = self._read_float(EurothermTag.WORKING_SETPOINT, "working setpoint")

        def bit(name: str) -> bool:
            return bool(status & (1 << STATUS_BITS[name]))

        return FurnaceStatus(
            alarm=any(bit(f"alarm_{n}") for n in range(1, 5)),
            sensor_break=bit("sensor_broken") or bit("pv_out_of_range"),
            heater_fail=bit("heater_fail"),
            manual=bit("manual"),
            ramp_complete=abs(working_c - target_c) < _SETPOINT_MATCH_K,
        )

    def switch_output_off(self) -> None:
        """Select manual mode, then set the output power to 0 % (the safe state)."""
        self._write_word(EurothermTag.AUTO_MANUAL, 1, "auto/manual select")
        self._write_float(EurothermTag.OUTPUT_POWER, 0.0, "output power")

    def switch_to_automatic(self) -> None:
        """Return to automatic (closed-loop) control."""
        self._write_word(EurothermTag.AUTO_MANUAL, 0, "auto/manual select")

    def acknowledge_alarms(self) -> None:
        """Acknowledge every latched alarm (write 1 to register 274)."""
        self._write_word(EurothermTag.ACKNOWLEDGE_ALARMS, 1, "acknowledge alarms")

    # --- register access -------------------------------------------------------------------

    def _read_float(self, tag: int, what: str) -> float:
        """Read a float register; a NaN or infinite value (a valid frame, no value) raises InstrumentError."""
        value = self._read_float_register(tag, what)
        if not math.isfinite(value):
            raise InstrumentError(self.name, _read_command(tag, what, True), repr(value),
                                  f"{what} is not a finite number")
        return value

    def _read_float_register(self, tag: int, what: str) -> float:
        """Read a float register as it is, NaN and infinity included (the process value's sensor check)."""
        modbus = self._require_modbus(what)
        return self._transact(_read_command(tag, what, True), lambda: modbus.read_float(float_register(tag)))

    def _write_float(self, tag: int, value: float, what: str) -> None:
        modbus = self._require_modbus(what)
        command = f"write {value:g} to register 0x{float_register(tag):04X} (tag {tag} {what}, float)"
        self._transact(command, lambda: modbus.write_float(float_register(tag), value))

    def _read_word(self, tag: int, what: str) -> int:
        modbus = self._require_modbus(what)
        return self._transact(_read_command(tag, what), lambda: modbus.read_register(tag))

    def _write_word(self, tag: int, value: int, what: str) -> None:
        modbus = self._require_modbus(what)
        command = f"write {value} to register {tag} ({what})"
        self._transact(command, lambda: modbus.write_register(tag, value, functioncode=6))

    def _transact(self, command: str, action):
        """Run one Modbus transaction; a garbled or refused reply names the bytes received."""
        port = self._port
        assert port is not None

        def run():
            port.last_reply = b""
            try:
                return action()
            except minimalmodbus.NoResponseError:
                raise  # the base reports it as InstrumentTimeout
            except minimalmodbus.SlaveReportedException as exc:
                reply = port.last_reply.hex(" ")
                raise InstrumentError(self.name, command, reply, f"controller refused: {exc}") from exc
            except (minimalmodbus.ModbusException, struct.error) as exc:
                raise InstrumentError(self.name, command, port.last_reply.hex(" "), f"garbled reply: {exc}") from exc

        return self.exchange(command, run)

    def _require_modbus(self, what: str) -> minimalmodbus.Instrument:
        if self._modbus is None:
            raise ConnectionLost(self.name, what, None, f"not connected to {self.port} (call connect() first)")
        return self._modbus

    def _read_rate_unit_s(self) -> float:
        """Return the seconds per rate unit from register 531, decoded by the ident's series."""
        try:
            code = self._read_word(EurothermTag.RATE_UNITS, "setpoint rate limit units")
        except InstrumentError as exc:
            if _refused(exc):
                logger.warning("%s: register 531 refused, assuming the rate limit is per minute", self.name)
                return 60.0
            raise
        table = RATE_UNIT_SECONDS_2000 if self._ident >> 12 == 0x2 else RATE_UNIT_SECONDS_3200
        if code >= len(table):
            raise InstrumentError(self.name, _read_command(EurothermTag.RATE_UNITS, "rate units"), str(code),
                                  "unknown setpoint rate limit unit code (expected 0, 1 or 2)")
        return table[code]

    def _read_setpoint_range_k(self) -> tuple[float, float] | None:
        """Return the setpoint-1 (low, high) limits in K, or None if the controller has none."""
        try:
            high_c = self._read_float(EurothermTag.SETPOINT_1_HIGH_LIMIT, "setpoint 1 high limit")
            low_c = self._read_float(EurothermTag.SETPOINT_1_LOW_LIMIT, "setpoint 1 low limit")
        except InstrumentError as exc:
            if _refused(exc):
                logger.warning("%s: no setpoint limits readable (registers 111/112 refused)", self.name)
                return None
            raise
        return low_c + CELSIUS_OFFSET_K, high_c + CELSIUS_OFFSET_K


def _refused(exc: InstrumentError) -> bool:
    """Return True if the controller answered with a Modbus exception (e.g. illegal address)."""
    return isinstance(exc.__cause__, minimalmodbus.SlaveReportedException)


def _read_command(tag: int, what: str, as_float: bool = False) -> str:
    if as_float:
        return f"read register 0x{float_register(tag):04X} (tag {tag} {what}, float)"
    return f"read register {tag} ({what})"


class _RecordingPort:
    """A pyserial port that remembers the bytes of the last read, to quote garbled replies."""

    def __init__(self, port: serial.SerialBase):
        self._port = port
        self.last_reply = b""

    def read(self, size: int = 1) -> bytes:
        data = self._port.read(size)
        self.last_reply += data
        return data

    def close(self) -> None:
        close_serial_port(self._port)

    def __getattr__(self, name: str):
        return getattr(self._port, name)

    def __setattr__(self, name: str, value) -> None:
        if name in ("_port", "last_reply"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._port, name, value)
