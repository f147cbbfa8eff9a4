"""A Keithley 2450 (SCPI command set) protocol peer over TCP or a pty, with a cell behind it.

The backend is any :class:`~simslab.devices.drivers.protocols.PotentiostatDriver` (in the
lab-on-twin mode the twin's potentiostat driver): ``:OUTP ON`` with the source settings calls
``apply_current`` / ``apply_voltage`` (``set_open_circuit`` for 0 A), ``:OUTP OFF`` calls
``cell_off``, and ``:READ?`` / ``:MEAS?`` / the ``TRIP?`` queries read ``read_measurement()``
at the time of the request. Settings within one line take effect together, before the next
query of that line and at its end, as one instant.

Accepted like the 2450 does (instruments.md, "What real clients send"): mnemonics in any
case, short or long form, optional nodes (``:SOUR:CURR``, ``SOURce:CURRent:LEVel:IMMediate:
AMPLitude``), an optional leading colon, numeric suffixes (``SENS1``), ``;``-joined commands
with a trailing ``;``, a command after ``;`` without a colon taken relative to the previous
one's path (and from the root if that does not exist), ``OUTPUT ON`` / ``:OUTP 1``,
``:READ?`` / ``:MEASure?`` / ``:MEAS:VOLT?`` / ``:FETCh?`` with an optional buffer name and
element list (READing, SOURce, RELative, SEConds, UNIT, SOURUNIT), ``:SYST:ERR?`` ->
``0,"No error"`` once the queue is empty, ``*LANG?`` -> ``SCPI``. Errors are queued with
the standard codes (-113 undefined header, -222 data out of range, -224 illegal parameter
value, -104 data type error, -109 missing parameter); a refused query gets no reply.
A NaN reading is sent as 9.91e37, as the 2450 does.
"""

from __future__ import annotations

import collections
import logging
import math
import re
import threading
from collections.abc import Callable
from typing import Literal

from simslab.devices.drivers.protocols import PotentiostatDriver, PotentiostatMeasurement

from .line_server import LineServer, PeerConnection

__all__ = ["Keithley2450Peer", "start_keithley2450_peer", "ScpiError"]

logger = logging.getLogger(__name__)

NOT_A_NUMBER = 9.91e37
_LIMITS = {
    "SOUR:CURR": (-1.05, 1.05),
    "SOUR:VOLT": (-210.0, 210.0),
    "SOUR:CURR:VLIM": (0.02, 210.0),
    "SOUR:VOLT:ILIM": (1e-9, 1.05),
}
_DEFAULTS = {"SOUR:CURR": 0.0, "SOUR:VOLT": 0.0, "SOUR:CURR:VLIM": 21.0, "SOUR:VOLT:ILIM": 1.05e-4}
_FUNCTIONS = {"CURR": "CURR", "CURRENT": "CURR", "CURR:DC": "CURR", "CURRENT:DC": "CURR",
              "VOLT": "VOLT", "VOLTAGE": "VOLT", "VOLT:DC": "VOLT", "VOLTAGE:DC": "VOLT"}
_BOOLEANS = {"ON": True, "1": True, "OFF": False, "0": False}

# canonical name -> SCPI pattern (long form, [optional] nodes); order matters only for speed
_PATTERNS = {
    "SOUR:FUNC": "SOURce:FUNCtion[:MODE]",
    "SOUR:CURR:VLIM:TRIP": "SOURce:CURRent:VLIMit:TRIPped",
    "SOUR:VOLT:ILIM:TRIP": "SOURce:VOLTage:ILIMit:TRIPped",
    "SOUR:CURR:VLIM": "SOURce:CURRent:VLIMit[:LEVel]",
    "SOUR:VOLT:ILIM": "SOURce:VOLTage:ILIMit[:LEVel]",
    "SOUR:CURR": "SOURce:CURRent[:LEVel][:IMMediate][:AMPLitude]",
    "SOUR:VOLT": "SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]",
    "OUTP": "OUTPut[:STATe]",
    "SENS:FUNC": "[SENSe]:FUNCtion[:ON]",
    "READ": "READ",
    "FETC": "FETCh",
    "MEAS": "MEASure",
    "MEAS:VOLT": "MEASure:VOLTage[:DC]",
    "MEAS:CURR": "MEASure:CURRent[:DC]",
    "SYST:ERR": "SYSTem:ERRor[:NEXT]",
    "SYST:ERR:COUN": "SYSTem:ERRor:COUNt",
    "SYST:CLE": "SYSTem:CLEar",
    # settings a client may send; stored and echoed, no effect on the cell
    "SOUR:CURR:RANG": "SOURce:CURRent:RANGe",
    "SOUR:CURR:RANG:AUTO": "SOURce:CURRent:RANGe:AUTO",
    "SOUR:VOLT:RANG": "SOURce:VOLTage:RANGe",
    "SOUR:VOLT:RANG:AUTO": "SOURce:VOLTage:RANGe:AUTO",
    "SOUR:CURR:READ:BACK": "SOURce:CURRent:READ:BACK",
    "SOUR:VOLT:READ:BACK": "SOURce:VOLTage:READ:BACK",
    "SOUR:CURR:DEL": "SOURce:CURRent:DELay",
    "SOUR:VOLT:DEL": "SOURce:VOLTage:DELay",
    "SENS:VOLT:RANG": "[SENSe]:VOLTage[:DC]:RANGe[:UPPer]",
    "SENS:VOLT:RANG:AUTO": "[SENSe]:VOLTage[:DC]:RANGe:AUTO",
    "SENS:CURR:RANG": "[SENSe]:CURRent[:DC]:RANGe[:UPPer]",
    "SENS:CURR:RANG:AUTO": "[SENSe]:CURRent[:DC]:RANGe:AUTO",
    "SENS:VOLT:NPLC": "[SENSe]:VOLTage[:DC]:NPLCycles",
    "SENS:CURR:NPLC": "[SENSe]:CURRent[:DC]:NPLCycles",
    "SENS:VOLT:RSEN": "[SENSe]:VOLTage[:DC]:RSENse",
    "SENS:CURR:RSEN": "[SENSe]:CURRent[:DC]:RSENse",
    "SENS:COUN": "[SENSe]:COUNt",
}
_STORED_DEFAULTS = {
    "SOUR:CURR:RANG": "1.000000E-06", "SOUR:CURR:RANG:AUTO": "1", "SOUR:VOLT:RANG": "2.000000E-01",
    "SOUR:VOLT:RANG:AUTO": "1", "SOUR:CURR:READ:BACK": "1", "SOUR:VOLT:READ:BACK": "1",
    "SOUR:CURR:DEL": "1.000000E-03", "SOUR:VOLT:DEL": "0.000000E+00", "SENS:VOLT:RANG": "2.000000E-02",
    "SENS:VOLT:RANG:AUTO": "1", "SENS:CURR:RANG": "1.000000E-04", "SENS:CURR:RANG:AUTO": "1",
    "SENS:VOLT:NPLC": "1.000000E+00", "SENS:CURR:NPLC": "1.000000E+00", "SENS:VOLT:RSEN": "0",
    "SENS:CURR:RSEN": "0", "SENS:COUN": "1",
}
_ELEMENTS = {"READ": "READING", "SOUR": "SOURCE", "REL": "RELATIVE", "SEC": "SECONDS", "UNIT": "UNIT",
             "SOURUNIT": "SOURUNIT"}


class ScpiError(Exception):
    """A command the 2450 refuses: queued as ``<code>,"<text>"`` for ``:SYST:ERR?``."""

    def __init__(self, code: int, text: str):
        super().__init__(f'{code},"{text}"')
        self.code, self.text = code, text


class Keithley2450Peer:
    """The 2450's SCPI interpreter: call it with a line, get the replies or None.

    Readings and their time (``SEConds``) come from the backend; ``RELative`` counts from the
    first reading after start or ``*RST``.
    """

    def __init__(self, backend: PotentiostatDriver, *, serial: str = "04000000"):
        self.backend = backend
        self.identity = f"KEITHLEY INSTRUMENTS,MODEL 2450,{serial},1.7.12b"
        self.lock = threading.Lock()
        self.errors: collections.deque[ScpiError] = collections.deque(maxlen=21)
        self._patterns = {name: _compile(pattern) for name, pattern in _PATTERNS.items()}
        self._reset_state()
        self._queries: dict[str, Callable[[list[str]], str]] = {
            "*IDN?": lambda p: self.identity,
            "*LANG?": lambda p: "SCPI",
            "*OPC?": lambda p: "1",
            "*ESR?": lambda p: "0",
            "SOUR:FUNC": lambda p: self.function,
            "SOUR:CURR": lambda p: _nr3(self.levels["SOUR:CURR"]),
            "SOUR:VOLT": lambda p: _nr3(self.levels["SOUR:VOLT"]),
            "SOUR:CURR:VLIM": lambda p: _nr3(self.levels["SOUR:CURR:VLIM"]),
            "SOUR:VOLT:ILIM": lambda p: _nr3(self.levels["SOUR:VOLT:ILIM"]),
            "SOUR:CURR:VLIM:TRIP": lambda p: self._tripped("CURR"),
            "SOUR:VOLT:ILIM:TRIP": lambda p: self._tripped("VOLT"),
            "OUTP": lambda p: str(int(self.output)),
            "SENS:FUNC": lambda p: f'"{self.sense}:DC"',
            "READ": self._read,
            "MEAS": self._read,
            "MEAS:VOLT": lambda p: self._measure_as("VOLT", p),
            "MEAS:CURR": lambda p: self._measure_as("CURR", p),
            "FETC": lambda p: self._elements(self.last_reading, p),
            "SYST:ERR": lambda p: str(self.errors.popleft()) if self.errors else '0,"No error"',
            "SYST:ERR:COUN": lambda p: str(len(self.errors)),
        }
        self._settings: dict[str, Callable[[list[str]], None]] = {
            "*RST": lambda p: self._reset(),
            "*CLS": lambda p: self.errors.clear(),
            "*OPC": lambda p: None,
            "*WAI": lambda p: None,
            "SOUR:FUNC": lambda p: self._set("function", _function(_one(p))),
            "OUTP": self._set_output,
            "SENS:FUNC": lambda p: self._set("sense", _function(_one(p).strip("\"'"))),
            "SYST:CLE": lambda p: self.errors.clear(),
        }

    def __call__(self, line: str, conn: PeerConnection | None = None) -> str | None:
        """Interpret one line; return the replies of its queries joined by ``;``, or None."""
        replies: list[str] = []
        with self.lock:
            path: list[str] = []
            for part in _split_outside_quotes(line, ";"):
                part = part.strip()
                if not part:
                    continue
                try:
                    reply, path = self._execute(part, path)
                except ScpiError as error:
                    logger.debug("2450 peer: %r refused: %s", part, error)
                    self.errors.append(error)
                    continue
                if reply is not None:
                    replies.append(reply)
            self._apply_if_changed()
        return ";".join(replies) if replies else None

    # --- dispatch ----------------------------------------------------------------------------

    def _execute(self, part: str, path: list[str]) -> tuple[str | None, list[str]]:
        header, _, rest = part.partition(" ")
        params = [p.strip() for p in _split_outside_quotes(rest, ",")] if rest.strip() else []
        is_query = header.endswith("?")
        header = header.rstrip("?")
        if header.startswith("*"):
            name, tokens = header.upper(), path
        else:
            name, tokens = self._resolve(header, path)
        if is_query:
            if name in self.stored:
                return self.stored[name], tokens
            handler = self._queries.get(name + "?" if name.startswith("*") else name)
            if handler is None:
                raise ScpiError(-113, "Undefined header")
            self._apply_if_changed()
            return handler(params), tokens
        if name in self.levels:
            self._set_level(name, params)
        elif name in self.stored:
            self.stored[name] = _one(params)
        elif name in self._settings:
            self._settings[name](params)
        else:
            raise ScpiError(-113, "Undefined header")
        return None, tokens

    def _resolve(self, header: str, path: list[str]) -> tuple[str, list[str]]:
        """Return the canonical name of a header and its token path (for the next command)."""
        tokens = [re.sub(r"\d+$", "", t).upper() for t in header.lstrip(":").split(":")]
        candidates = [tokens] if header.startswith(":") or not path else [path[:-1] + tokens, tokens]
        for candidate in candidates:
            for name, nodes in self._patterns.items():
                if _matches(nodes, candidate):
                    return name, candidate
        raise ScpiError(-113, "Undefined header")

    # --- settings ----------------------------------------------------------------------------

    def _set(self, attribute: str, value: str) -> None:
        setattr(self, attribute, value)
        self._changed = True

    def _set_level(self, name: str, params: list[str]) -> None:
        value = _number(_one(params))
        low, high = _LIMITS[name]
        if not low <= value <= high:
            raise ScpiError(-222, "Data out of range")
        self.levels[name] = value
        self._changed = True

    def _set_output(self, params: list[str]) -> None:
        word = _one(params).upper()
        if word not in _BOOLEANS:
            raise ScpiError(-224, "Illegal parameter value")
        self.output = _BOOLEANS[word]
        self._changed = True

    def _apply_if_changed(self) -> None:
        """Hand the settings to the backend once per instant they changed."""
        if not self._changed:
            return
        self._changed = False
        if not self.output:
            if self._applied is not None:
                self.backend.cell_off()
            self._applied = None
            return
        if self.function == "CURR":
            applied = ("CURR", self.levels["SOUR:CURR"], self.levels["SOUR:CURR:VLIM"])
        else:
            applied = ("VOLT", self.levels["SOUR:VOLT"], self.levels["SOUR:VOLT:ILIM"])
        if applied == self._applied:
            return
        self._applied = applied
        function, level, limit = applied
        if function == "CURR" and level == 0.0:
            self.backend.set_open_circuit()
        elif function == "CURR":
            self.backend.apply_current(level, limit)
        else:
            self.backend.apply_voltage(level, limit)

    def _reset_state(self) -> None:
        self.function = "VOLT"
        self.sense = "CURR"
        self.output = False
        self.levels = dict(_DEFAULTS)
        self.stored = dict(_STORED_DEFAULTS)
        self.last_reading: PotentiostatMeasurement | None = None
        self.start_s: float | None = None
        self._changed = False
        self._applied: tuple[str, float, float] | None = None

    def _reset(self) -> None:
        was_on = self._applied is not None
        self._reset_state()
        self.errors.clear()
        if was_on:
            self.backend.cell_off()

    # --- readings ----------------------------------------------------------------------------

    def _read(self, params: list[str]) -> str:
        self.last_reading = self.backend.read_measurement()
        if self.start_s is None:
            self.start_s = self.last_reading.time_s
        return self._elements(self.last_reading, params)

    def _measure_as(self, function: str, params: list[str]) -> str:
        self.sense = function
        return self._read(params)

    def _elements(self, reading: PotentiostatMeasurement | None, params: list[str]) -> str:
        if reading is None:
            raise ScpiError(-230, "Data corrupt or stale")
        names = params[1:] if params and params[0][:1] in "'\"" else params
        values = []
        for name in names or ["READ"]:
            element = _element(name)
            if element == "READ":
                values.append(_nr3(reading.voltage_v if self.sense == "VOLT" else reading.current_a))
            elif element == "SOUR":
                values.append(_nr3(reading.current_a if self.function == "CURR" else reading.voltage_v))
            elif element == "REL":
                values.append(_nr3(reading.time_s - (self.start_s or reading.time_s)))
            elif element == "SEC":
                values.append(f"{reading.time_s:.6f}")
            elif element == "UNIT":
                values.append("Volt DC" if self.sense == "VOLT" else "Amp DC")
            else:
                values.append("Amp DC" if self.function == "CURR" else "Volt DC")
        return ",".join(values)

    def _tripped(self, function: str) -> str:
        if not self.output or self.function != function:
            return "0"
        return str(int(self.backend.read_measurement().compliance))


def start_keithley2450_peer(backend: PotentiostatDriver, transport: Literal["tcp", "pty"] = "tcp") -> LineServer:
    """Start a Keithley 2450 peer on ``backend`` and return its running server.

    The returned :class:`~simslab.simulators.peers.line_server.LineServer` is the handle:
    ``.resource`` is the VISA resource for ``Keithley2450Settings.resource``, ``.handler`` the
    :class:`Keithley2450Peer`, ``.inject_fault()`` and ``.close()``. Replies end with ``\\n``.
    """
    peer = Keithley2450Peer(backend)
    return LineServer(peer, transport=transport, name="keithley2450-peer", reply_terminator="\n").start()


def _compile(pattern: str) -> list[tuple[str, str, bool]]:
    """``'[SENSe]:FUNCtion[:ON]'`` -> [(short, long, optional), ...] in upper case."""
    nodes = []
    for optional, mnemonic in re.findall(r"(\[?):?([A-Za-z]+)\]?", pattern):
        short = "".join(ch for ch in mnemonic if ch.isupper())
        nodes.append((short, mnemonic.upper(), bool(optional)))
    return nodes


def _matches(nodes: list[tuple[str, str, bool]], tokens: list[str]) -> bool:
    if not nodes:
        return not tokens
    short, long, optional = nodes[0]
    if tokens and tokens[0] in (short, long) and _matches(nodes[1:], tokens[1:]):
        return True
    return optional and _matches(nodes[1:], tokens)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quote = [], [], ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == separator:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _one(params: list[str]) -> str:
    if not params:
        raise ScpiError(-109, "Missing parameter")
    if len(params) > 1:
        raise ScpiError(-108, "Parameter not allowed")
    return params[0]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ScpiError(-104, "Data type error") from None


def _function(text: str) -> str:
    function = _FUNCTIONS.get(text.upper())
    if function is None:
        raise ScpiError(-224, "Illegal parameter value")
    return function


def _element(name: str) -> str:
    upper = name.strip().upper()
    for short, long in _ELEMENTS.items():
        if upper in (short, long):
            return short
    raise ScpiError(-224, "Illegal parameter value")


def _nr3(value: float) -> str:
    return f"{NOT_A_NUMBER if math.isnan(value) else value:+.6E}"
