"""A PalmSens EmStat4 speaking MethodSCRIPT over a line transport, in front of a PotentiostatDriver.

The peer answers the host commands (``t`` firmware in two lines, the second ending with
``*``; ``v``; ``i``; ``Z`` abort: ``Z`` then the script's end, or ``Z!0006`` when nothing runs)
and runs scripts (a line ``e``, the script, an empty line): it echoes ``e``, calls the backend
(any :class:`PotentiostatDriver`, the twin's cell in the lab-on-twin mode), and streams data
packets at the script's interval, in real time, from a thread, until the run time ends, a
cut-off (``if <var> <op> <value>`` + ``breakloop``) holds, or the host aborts; then ``*``, the
``on_finished:`` block, and an empty line.

The script language understood is the subset real battery-cycling scripts use (see
:mod:`simslab.devices.drivers.methodscript` for the sources): ``var``, ``store_var``, the
``set_*`` configuration commands (accepted; mode and potential recorded), ``cell_on``/
``cell_off``, ``timer_start``/``timer_get``, one ``meas_loop_cp``/``meas_loop_ca``/
``meas_loop_ocp`` with ``pck_start``/``pck_add``/``pck_end`` and ``if``/``breakloop``/``endif``
inside, ``endloop``, ``on_finished:``, ``#`` comments. Literals are integers with an SI prefix,
or variables set with ``store_var``. Anything else is refused with ``e!0001`` (the firmware's
own error codes for script errors were not found in public sources: the peer's codes are its
own, only ``!0006`` for ``Z`` is confirmed).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

from simslab.devices.drivers.methodscript import encode_packet, si_value
from simslab.devices.drivers.protocols import PotentiostatDriver

from .line_server import LineServer, PeerConnection

__all__ = ["EmStatPeer", "start_emstat_peer", "parse_script", "ScriptPlan", "ScriptError"]

logger = logging.getLogger(__name__)

_LITERAL = re.compile(r"^(-?\d+)([afpnumkMGTPEi]?)$")
_IGNORED = {"set_pgstat_chan", "set_max_bandwidth", "set_range", "set_range_minmax", "set_autoranging",
            "set_acquisition_frac_autoadjust", "set_acquisition_frac", "set_gpio_cfg", "set_cr", "set_pot_range",
            "set_poly_we_mode", "set_script_output", "alter_vartype", "send_string"}
_LOOPS = {"meas_loop_cp": 5, "meas_loop_ca": 5, "meas_loop_ocp": 3}
_LOOP_MARKER = {"meas_loop_cp": "M0007", "meas_loop_ca": "M0001", "meas_loop_ocp": "M000B"}  # the peer's codes
_NO_SCRIPT_RUNNING = "Z!0006"
_SCRIPT_REFUSED = "e!0001"
_RUNTIME_ERROR = "!0002"


class ScriptError(ValueError):
    """A script line the peer cannot run; names the line number and text."""


@dataclass
class ScriptPlan:
    """What a parsed script does: its measurement loop (if any), packet variables, cut-offs."""

    loop: str | None = None
    loop_args: tuple[float, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    """Role of each loop/timer variable: its packet type (``ab`` potential, ``ba`` current, ``eb`` time)."""
    packet_vars: list[str] = field(default_factory=list)
    breaks: list[tuple[str, str, float]] = field(default_factory=list)
    cell_off_first: bool = False
    cell_off_when_finished: bool = False

    @property
    def interval_s(self) -> float:
        return self.loop_args[-2]

    @property
    def run_time_s(self) -> float:
        return self.loop_args[-1]


def start_emstat_peer(backend: PotentiostatDriver, *, model: str = "es4_lr",
                      transport: Literal["tcp", "pty"] = "tcp") -> EmStatPeer:
    """Start an EmStat4 peer in front of ``backend``; return it serving (``.port`` for pyserial)."""
    return EmStatPeer(backend, model=model, transport=transport).start()


class EmStatPeer:
    """An EmStat4 on a LineServer: host commands, scripts, streamed packets (see module docstring)."""

    def __init__(self, backend: PotentiostatDriver, *, model: str = "es4_lr",
                 transport: Literal["tcp", "pty"] = "tcp"):
        self.backend = backend
        self.model = model
        self.scripts: list[str] = []
        """Every script received, as sent (from ``e`` to the empty line), oldest first."""
        self.server = LineServer(self._handle, transport=transport, name="emstat", reply_terminator="\n",
                                 on_disconnect=self._forget)
        self._sessions: dict[PeerConnection, _Session] = {}
        self._lock = threading.Lock()

    def start(self) -> EmStatPeer:
        """Start serving; return self."""
        self.server.start()
        return self

    @property
    def port(self) -> str:
        """What pyserial opens: ``socket://127.0.0.1:PORT`` or the pty's device path."""
        return self.server.url

    def close(self) -> None:
        """Stop every running script and the server."""
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.stop_script()
        self.server.close()

    # --- the line handler (server thread) ------------------------------------------------------

    def _handle(self, line: str, conn: PeerConnection) -> str | None:
        with self._lock:
            session = self._sessions.setdefault(conn, _Session())
        if session.collecting is not None:
            if line.strip():
                session.collecting.append(line)
                return None
            lines, session.collecting = session.collecting, None
            self.scripts.append("\n".join(["e", *lines, "", ""]))
            try:
                plan = parse_script(lines)
            except ScriptError as exc:
                logger.info("emstat peer: script refused: %s", exc)
                return _SCRIPT_REFUSED
            session.start_script(plan, conn, self.backend)
            return None
        command = line.strip()
        if not command:
            return None  # hosts send a bare newline to flush the instrument's command buffer
        if command == "e":
            if session.running():
                return _SCRIPT_REFUSED
            session.collecting = []
            return None
        if command == "t":
            conn.send_line(f"t{self.model}1.4.0 simslab peer")
            return "#Nov 01 2026*"
        if command == "v":
            return "v0104"
        if command == "i":
            return f"i{self.model.upper()}-PEER-0001"
        if command == "Z":
            if not session.running():
                return _NO_SCRIPT_RUNNING
            conn.send_line("Z")
            session.stop_script()
            return None
        return f"{command[0]}!0001"

    def _forget(self, conn: PeerConnection) -> None:
        with self._lock:
            session = self._sessions.pop(conn, None)
        if session is not None:
            session.stop_script()


class _Session:
    """One client connection: the script being received, the script running."""

    def __init__(self) -> None:
        self.collecting: list[str] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._finished.set()

    def running(self) -> bool:
        return not self._finished.is_set()

    def start_script(self, plan: ScriptPlan, conn: PeerConnection, backend: PotentiostatDriver) -> None:
        self._stop, self._finished = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=_run, args=(plan, conn, backend, self._stop, self._finished),
                                        name="emstat-peer-script", daemon=True)
        self._thread.start()

    def stop_script(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)


def parse_script(lines: list[str]) -> ScriptPlan:
    """Parse a script's lines (after ``e``, without the empty line); raise ScriptError if unsupported."""
    plan = ScriptPlan()
    values: dict[str, float | None] = {}
    block = "top"
    for number, raw in enumerate(lines, start=2):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        command, *args = text.split()
        value = functools.partial(_literal_or_variable, values=values, where=f"line {number} ({raw.strip()!r})")
        if command == "var":
            values.update({name: None for name in args})
        elif command == "store_var" and len(args) == 3:
            values[args[0]] = value(args[1])
        elif command in _IGNORED or command in ("set_pgstat_mode", "set_e", "cell_on", "timer_start"):
            continue
        elif command == "cell_off":
            if block == "finished":
                plan.cell_off_when_finished = True
            elif block == "top" and plan.loop is None:
                plan.cell_off_first = True
        elif command in _LOOPS and block == "top" and plan.loop is None and len(args) == _LOOPS[command]:
            names = args[:2] if command != "meas_loop_ocp" else args[:1]
            plan.loop = command
            plan.loop_args = tuple(value(token) for token in args[len(names):])
            plan.variables.update(dict(zip(names, ("ab", "ba"), strict=False)))
            block = "loop"
        elif block == "loop" and command == "timer_get" and len(args) == 1:
            plan.variables[args[0]] = "eb"
        elif block == "loop" and command in ("pck_start", "pck_end", "breakloop", "endif"):
            continue
        elif block == "loop" and command == "pck_add" and len(args) == 1 and args[0] in plan.variables:
            plan.packet_vars.append(args[0])
        elif block == "loop" and command == "if" and len(args) == 3 and args[1] in (">=", "<=", ">", "<"):
            plan.breaks.append((args[0], args[1], value(args[2])))
        elif block == "loop" and command == "endloop":
            block = "top"
        elif command == "on_finished:" and block == "top":
            block = "finished"
        else:
            raise ScriptError(f"line {number}: {raw.strip()!r} is not supported here")
    if block == "loop":
        raise ScriptError("the measurement loop has no endloop")
    return plan


def _literal_or_variable(token: str, values: dict[str, float | None], where: str) -> float:
    """Return a literal's value (``100m``) or a stored variable's; raise ScriptError otherwise."""
    if values.get(token) is not None:
        return values[token]
    match = _LITERAL.match(token)
    if not match:
        raise ScriptError(f"{where}: {token!r} is neither a literal nor a stored variable")
    return si_value(int(match.group(1)), match.group(2) or " ")


def _run(plan: ScriptPlan, conn: PeerConnection, backend: PotentiostatDriver, stop: threading.Event,
         finished: threading.Event) -> None:
    """Run a parsed script: drive the backend, echo, stream packets, finish; in its own thread.

    The backend is put in the script's mode before the echo, so a host that returns on the
    echo finds the (simulated) cell already in that mode.
    """
    echoed = False
    try:
        if plan.cell_off_first and plan.loop is None:
            backend.cell_off()
        if plan.loop is not None:
            _start_backend(plan, backend)
        conn.send_line("e")
        echoed = True
        if plan.loop is not None:
            conn.send_line(_LOOP_MARKER[plan.loop])
            _stream(plan, conn, backend, stop)
            conn.send_line("*")
    except Exception as exc:  # the backend refused: report it as the instrument would, then finish
        logger.info("emstat peer: script failed: %s", exc)
        conn.send_line(_RUNTIME_ERROR if echoed else f"e{_RUNTIME_ERROR}")
    if plan.cell_off_when_finished:
        backend.cell_off()
    finished.set()  # before the empty line: a host may send the next script the moment it sees it
    conn.send_line("")


def _start_backend(plan: ScriptPlan, backend: PotentiostatDriver) -> None:
    """Put the backend in the loop's mode; the cut-off of the script is the backend's compliance."""
    cutoffs = {var: limit for var, _, limit in plan.breaks}
    potential_var = next((v for v, t in plan.variables.items() if t == "ab"), "")
    current_var = next((v for v, t in plan.variables.items() if t == "ba"), "")
    if plan.loop == "meas_loop_cp":
        current = plan.loop_args[0]
        backend.apply_current(current, cutoffs.get(potential_var, 10.0 if current >= 0 else -10.0))
    elif plan.loop == "meas_loop_ca":
        limits = [abs(limit) for var, _, limit in plan.breaks if var == current_var]
        backend.apply_voltage(plan.loop_args[0], max(limits) if limits else 0.1)
    else:
        backend.set_open_circuit()


def _stream(plan: ScriptPlan, conn: PeerConnection, backend: PotentiostatDriver, stop: threading.Event) -> None:
    """Send a packet every interval until the run time ends, a cut-off holds, or ``stop`` is set."""
    started = time.monotonic()
    tick = 1
    while not conn.closed:
        if stop.wait(timeout=max(0.0, started + tick * plan.interval_s - time.monotonic())):
            return
        elapsed = time.monotonic() - started
        if elapsed > plan.run_time_s + plan.interval_s / 2:
            return
        reading = backend.read_measurement()
        sample = {"ab": reading.voltage_v, "ba": reading.current_a, "eb": elapsed}
        current = {var: sample[kind] for var, kind in plan.variables.items()}
        conn.send_line(encode_packet([(plan.variables[var], current[var]) for var in plan.packet_vars]))
        if any(_holds(current.get(var, float("nan")), op, limit) for var, op, limit in plan.breaks):
            return
        tick += 1


def _holds(value: float, op: str, limit: float) -> bool:
    return {">=": value >= limit, "<=": value <= limit, ">": value > limit, "<": value < limit}[op]
