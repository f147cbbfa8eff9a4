"""A Lake Shore 335/336 protocol peer: the controller's command set over TCP or a pty.

The peer answers what the controller answers, from a backend that holds the physics: any
:class:`~simslab.devices.drivers.protocols.TemperatureControllerDriver` (in the lab-on-twin
mode the twin's stage driver). ``SETP``, ``RAMP`` and ``RANGE`` go to the backend; readings
come from it at the time of the request. The rest of the controller's state (OUTMODE, PID,
input type, curve, ESR) lives here.

Accepted like the controller does (instruments.md, "What real clients send"): several
commands in one line joined by ``;`` (each may start with ``:``), one reply per query joined
by ``;``; any case; spaces after commas or none (``KRDG?A``); signed zero-padded numbers;
``\\n`` or ``\\r\\n``; an empty line ignored; ``KRDG? 0`` reads every input. An unknown
command or a bad argument sets ``*ESR?`` bit 32 (command error), a value out of range bit 16
(execution error), and the query gets no reply, as on the controller.

Only the control input is connected to a sensor; the other inputs read 0 with status 1
(invalid reading). A SensorFault raised by the backend reads as 0 K with status 1.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Literal

from simslab.devices.drivers.protocols import TemperatureControllerDriver
from simslab.errors import SensorFault

from .line_server import LineServer, PeerConnection

__all__ = ["LakeShorePeer", "start_lakeshore_peer"]

logger = logging.getLogger(__name__)

COMMAND_ERROR = 32
EXECUTION_ERROR = 16
CURVE_LIMIT_K = 500.0  # DT-670 standard curve 11
_CURVE_HEADER = "DT-670,STANDARD,2,+500.000,1"


class _Refused(Exception):
    """A command the controller refuses; ``bit`` is the *ESR? bit it sets."""

    def __init__(self, bit: int):
        self.bit = bit


class LakeShorePeer:
    """The controller's command interpreter: call it with a line, get the reply or None.

    Parameters
    ----------
    backend:
        Supplies temperature, setpoint, ramp, heater; receives SETP, RAMP, RANGE.
    model:
        ``"336"`` (inputs A-D, outputs 1-4) or ``"335"`` (inputs A-B, outputs 1-2).
    control_input, output:
        The input wired to the backend's sensor and the heater output driven by the backend.
    heater_range:
        What ``RANGE?`` reports for that output until a client sets it (the backend's range).
    """

    def __init__(
        self,
        backend: TemperatureControllerDriver,
        *,
        model: Literal["336", "335"] = "336",
        control_input: str = "A",
        output: int = 1,
        heater_range: int = 3,
        serial: str = "LSA0001",
    ):
        self.backend = backend
        self.model = model
        self.inputs = "ABCD" if model == "336" else "AB"
        self.outputs = range(1, 5) if model == "336" else range(1, 3)
        self.control_input = control_input
        self.output = output
        self.identity = f"LSCI,MODEL{model},{serial}/#######,{'2.9' if model == '336' else '1.8'}"
        self.esr = 0
        self.lock = threading.Lock()
        self.ramp_rate_k_per_min = {out: 0.0 for out in self.outputs}
        # the backend has no RANGE? of its own: the peer starts from what the backend is told
        self.heater_range = {out: heater_range if out == output else 0 for out in self.outputs}
        pid_on_input = [1, " ABCD".index(control_input), 0]  # mode, input, power-up enable
        self.output_mode = {out: pid_on_input if out == output else [0, 0, 0] for out in self.outputs}
        self.pid = {out: [50.0, 20.0, 0.0] for out in self.outputs}
        self.input_type = {inp: [1, 0, 0, 0, 1] for inp in self.inputs}
        self.temperature_limit_k = {inp: 0.0 for inp in self.inputs}
        self._commands: dict[str, Callable[[list[str]], str | None]] = {
            "*IDN?": lambda a: self.identity,
            "*ESR?": self._esr,
            "*CLS": self._cls,
            "*RST": self._rst,
            "*OPC?": lambda a: "1",
            "*OPC": lambda a: None,
            "KRDG?": lambda a: self._reading(a, kelvin=True),
            "CRDG?": lambda a: self._reading(a, kelvin=False),
            "RDGST?": self._reading_status,
            "SETP": self._set_setpoint,
            "SETP?": lambda a: _number(self._backend_setpoint(self._out(a))),
            "RAMP": self._set_ramp,
            "RAMP?": self._ramp,
            "RAMPST?": lambda a: str(int(self._out(a) == self.output and self.backend.is_ramping())),
            "HTR?": lambda a: f"{self._heater_percent(self._out(a)):+06.1f}",
            "HTRST?": lambda a: str(self.backend.read_heater_error() if self._out(a) == self.output else 0),
            "RANGE": self._set_range,
            "RANGE?": lambda a: str(self.heater_range[self._out(a)]),
            "OUTMODE": self._set_output_mode,
            "OUTMODE?": lambda a: ",".join(map(str, self.output_mode[self._out(a)])),
            "PID": lambda a: self._store_floats(self.pid, self._out(a[:1]), a[1:], 3),
            "PID?": lambda a: ",".join(f"{v:+.1f}" for v in self.pid[self._out(a)]),
            "INTYPE": self._set_input_type,
            "INTYPE?": lambda a: ",".join(map(str, self.input_type[self._inp(a)])),
            "INCRV?": lambda a: "11" if self._inp(a) == self.control_input else "0",
            "CRVHDR?": self._curve_header,
            "TLIMIT": self._set_temperature_limit,
            "TLIMIT?": lambda a: _number(self.temperature_limit_k[self._inp(a)]),
        }

    def __call__(self, line: str, conn: PeerConnection | None = None) -> str | None:
        """Interpret one line; return the replies of its queries joined by ``;``, or None."""
        replies = []
        with self.lock:
            for part in line.split(";"):
                part = part.strip().lstrip(":").strip()
                if not part:
                    continue
                reply = self._execute(part)
                if reply is not None:
                    replies.append(reply)
        return ";".join(replies) if replies else None

    # --- dispatch ----------------------------------------------------------------------------

    def _execute(self, part: str) -> str | None:
        name, args = _split(part)
        handler = self._commands.get(name)
        if handler is None:
            logger.debug("lakeshore peer: unknown command %r", part)
            self.esr |= COMMAND_ERROR
            return None
        try:
            return handler(args)
        except _Refused as refused:
            self.esr |= refused.bit
        except (ValueError, IndexError, KeyError):
            self.esr |= COMMAND_ERROR
        return None

    def _out(self, args: list[str]) -> int:
        out = int(args[0])
        if out not in self.outputs:
            raise _Refused(EXECUTION_ERROR)
        return out

    def _inp(self, args: list[str]) -> str:
        inp = args[0].upper()
        if inp not in self.inputs:
            raise _Refused(EXECUTION_ERROR)
        return inp

    # --- readings ----------------------------------------------------------------------------

    def _reading(self, args: list[str], kelvin: bool) -> str:
        inputs = self.inputs if args and args[0] == "0" else self._inp(args)
        values = [self._temperature_k(inp) for inp in inputs]
        return ",".join(_number(v if kelvin or v == 0 else v - 273.15) for v in values)

    def _reading_status(self, args: list[str]) -> str:
        return "0" if self._temperature_k(self._inp(args)) > 0 else "1"

    def _temperature_k(self, inp: str) -> float:
        if inp != self.control_input:
            return 0.0
        try:
            return self.backend.read_temperature_k()
        except SensorFault:
            return 0.0

    def _heater_percent(self, out: int) -> float:
        if out != self.output:
            return 0.0
        return 100.0 * self.backend.read_heater_fraction()

    def _backend_setpoint(self, out: int) -> float:
        setpoint_k = self.backend.read_setpoint_k() if out == self.output else 0.0
        return setpoint_k - 273.15 if self._units_celsius() else setpoint_k

    def _ramp(self, args: list[str]) -> str:
        out = self._out(args)
        rate_k_per_s = self.backend.read_ramp_k_per_s() if out == self.output else 0.0
        on = rate_k_per_s > 0
        rate_k_per_min = rate_k_per_s * 60.0 if on else self.ramp_rate_k_per_min[out]
        return f"{int(on)},{rate_k_per_min:+06.1f}"

    def _curve_header(self, args: list[str]) -> str:
        if int(args[0]) != 11:
            raise _Refused(EXECUTION_ERROR)
        return _CURVE_HEADER

    # --- settings ----------------------------------------------------------------------------

    def _set_setpoint(self, args: list[str]) -> None:
        out, value = self._out(args[:1]), float(args[1])
        kelvin = value + 273.15 if self._units_celsius() else value
        if not 0.0 <= kelvin <= CURVE_LIMIT_K:
            raise _Refused(EXECUTION_ERROR)
        if out == self.output:
            self.backend.set_setpoint_k(kelvin)

    def _set_ramp(self, args: list[str]) -> None:
        out, on, rate_k_per_min = self._out(args[:1]), int(args[1]), float(args[2])
        if on not in (0, 1) or not (rate_k_per_min == 0 or 0.1 <= rate_k_per_min <= 100.0):
            raise _Refused(EXECUTION_ERROR)
        self.ramp_rate_k_per_min[out] = rate_k_per_min
        if out == self.output:  # a rate of 0 means infinitely fast: no ramp
            self.backend.set_ramp_k_per_s(rate_k_per_min / 60.0 if on else 0.0)

    def _set_range(self, args: list[str]) -> None:
        out, level = self._out(args[:1]), int(args[1])
        if not 0 <= level <= (3 if out <= 2 else 1):
            raise _Refused(EXECUTION_ERROR)
        self.heater_range[out] = level
        if out == self.output:
            self.backend.set_heater_range(level)

    def _set_output_mode(self, args: list[str]) -> None:
        out, fields = self._out(args[:1]), [int(a) for a in args[1:4]]
        if len(fields) != 3:
            raise _Refused(COMMAND_ERROR)
        if not (0 <= fields[0] <= 5 and 0 <= fields[1] <= len(self.inputs) and fields[2] in (0, 1)):
            raise _Refused(EXECUTION_ERROR)
        self.output_mode[out] = fields

    def _set_input_type(self, args: list[str]) -> None:
        self._store_ints(self.input_type, self._inp(args[:1]), args[1:], 5)

    def _set_temperature_limit(self, args: list[str]) -> None:
        self.temperature_limit_k[self._inp(args[:1])] = float(args[1])

    def _store_floats(self, table: dict, key: object, args: list[str], count: int) -> None:
        if len(args) != count:
            raise _Refused(COMMAND_ERROR)
        table[key] = [float(a) for a in args]

    def _store_ints(self, table: dict, key: object, args: list[str], count: int) -> None:
        if len(args) != count:
            raise _Refused(COMMAND_ERROR)
        table[key] = [int(a) for a in args]

    def _units_celsius(self) -> bool:
        return self.input_type[self.control_input][4] == 2

    # --- status ------------------------------------------------------------------------------

    def _esr(self, args: list[str]) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _cls(self, args: list[str]) -> None:
        self.esr = 0

    def _rst(self, args: list[str]) -> None:
        """Power-up settings: heaters off, ramping off (the backend's setpoint stays)."""
        self.esr = 0
        for out in self.outputs:
            self._set_range([str(out), "0"])
            self._set_ramp([str(out), "0", "0"])


def start_lakeshore_peer(
    backend: TemperatureControllerDriver,
    transport: Literal["tcp", "pty"] = "tcp",
    *,
    model: Literal["336", "335"] = "336",
    control_input: str = "A",
    output: int = 1,
    heater_range: int = 3,
) -> LineServer:
    """Start a Lake Shore peer on ``backend`` and return its running server.

    The returned :class:`~simslab.simulators.peers.line_server.LineServer` is the handle:
    ``.resource`` is the VISA resource for the driver's settings (a pty peer needs 8N1 line
    settings), ``.handler`` the :class:`LakeShorePeer`, ``.inject_fault()`` and ``.close()``.
    """
    peer = LakeShorePeer(backend, model=model, control_input=control_input, output=output, heater_range=heater_range)
    return LineServer(peer, transport=transport, name=f"lakeshore{model}-peer", reply_terminator="\r\n").start()


def _split(part: str) -> tuple[str, list[str]]:
    """Split ``'SETP 1, 25.0'`` or ``'KRDG?A'`` into the upper-case name and the arguments."""
    if "?" in part:
        name, _, rest = part.partition("?")
        name += "?"
    else:
        name, _, rest = part.partition(" ")
    args = [a.strip() for a in rest.split(",")] if rest.strip() else []
    return name.strip().upper(), args


def _number(value: float) -> str:
    return f"{value:+08.3f}"
