"""PalmSens EmStat4 potentiostat/galvanostat over MethodSCRIPT (pyserial).

Each step is one MethodSCRIPT (see :mod:`methodscript`): a constant-current step is a
chronopotentiometry loop with a voltage cut-off, a constant-voltage step a chronoamperometry
loop with a current cut-off, the open circuit an OCP loop. A step runs until the host starts
another one, until its cut-off (the script ends, the cell is switched off, and the next
reading reports ``compliance``), or at the latest after ``max_step_s``.

A reader thread reads every line the instrument sends, decodes the data packets, keeps the
latest reading and integrates the charge (trapezoids on the instrument's own time stamps).
Host commands: ``t`` firmware (two lines, the second ending with ``*``; the model is named at
the start: ``es4_lr``/``es4_hr``), ``Z`` abort (``Z`` then the script's end, or ``Z!0006`` when
nothing runs). Errors come back as ``!XXXX``. Sources: see :mod:`methodscript`.

The largest current accepted is the largest range of PalmSens' EmStat4 range table in
``mscript.py`` (LR: 10 mA, HR: 100 mA); the voltage window is the device's (profile) concern.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable

import serial

from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout, LimitError

from . import methodscript
from .base import InstrumentDriver
from .protocols import PotentiostatMeasurement
from .serial_port import close_serial_port, open_serial_port
from .settings import EmStat4Settings

__all__ = ["EmStat4", "MAX_CURRENT_A"]

logger = logging.getLogger(__name__)

MAX_CURRENT_A = {"es4_lr": 10e-3, "es4_hr": 100e-3}
"""Largest current range per EmStat4 model (PalmSens mscript.py range table), in A."""

_READ_POLL_S = 0.05  # the reader thread's read timeout: how fast close() stops it
_HOST_COMMANDS = "tviZ"


class EmStat4(InstrumentDriver):
    """Drive an EmStat4 over MethodSCRIPT: V, A, s, C; one script per step; a reader thread."""

    def __init__(self, settings: EmStat4Settings, now: Callable[[], float] = time.time, name: str = "potentiostat",
                 interval_s: float = 1.0, max_step_s: float = 7 * 86400.0):
        if not interval_s > 0 or not max_step_s > interval_s:
            raise ValueError(f"interval_s = {interval_s!r}, max_step_s = {max_step_s!r}: need 0 < interval < max_step")
        super().__init__(name, settings.port, settings.timeout_s)
        self.settings = settings
        self.now = now
        self.interval_s = interval_s
        self.max_step_s = max_step_s
        self.firmware = ""
        self.model = ""
        self._serial: serial.SerialBase | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._replies: queue.Queue[str] = queue.Queue()
        self._awaiting: str | None = None
        self._reply_open = False
        self._state = threading.Condition()
        self._step = _Step("idle", "")
        self._charge_c = 0.0
        self._last_voltage_v = math.nan
        self._pending_error: InstrumentError | None = None
        self._lost: ConnectionLost | None = None

    # --- connection ------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the port, stop any script left running, read the firmware, switch the cell off."""
        if self._serial is not None:
            return
        settings = self.settings
        self._serial = self.exchange(f"open {settings.port}", lambda: open_serial_port(
            settings.port, baud_rate=settings.baud_rate, timeout_s=_READ_POLL_S, write_timeout_s=settings.timeout_s))
        self._stop.clear()
        self._lost = None
        self._reader = threading.Thread(target=self._read_lines, name=f"{self.name}-reader", daemon=True)
        self._reader.start()
        try:
            self._abort()
            lines = self._host_command("t")
            self.firmware = " ".join(line.strip() for line in lines)[1:-1].strip()
            self.model = next((m for m in MAX_CURRENT_A if self.firmware.startswith(m)), "")
            if not self.model:
                raise InstrumentError(self.name, "t", "\\n".join(lines), "not an EmStat4 (firmware should start "
                                      "with es4_lr or es4_hr)")
            self._run_script("cell off", methodscript.cell_off_script())
        except InstrumentError:
            self.close()
            raise
        logger.info("%s: %s on %s", self.name, self.firmware, settings.port)

    def close(self) -> None:
        """Stop the reader thread and close the port (the running script is left to the instrument)."""
        port, self._serial = self._serial, None
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=1.0)
            self._reader = None
        if port is not None:
            with self._lock:
                close_serial_port(port)

    def identify(self) -> str:
        """Return the firmware string read at connect (model and version)."""
        return self.firmware

    # --- steps -----------------------------------------------------------------------------

    def set_open_circuit(self) -> None:
        """Measure the open-circuit potential (cell off, no current)."""
        self._start_step("ocv", "open circuit", methodscript.open_circuit_script(self.interval_s, self.max_step_s))

    def apply_current(self, current_a: float, voltage_limit_v: float) -> None:
        """Source ``current_a`` (A, > 0 charges) until the potential reaches ``voltage_limit_v`` (V).

        The limit is an upper bound while charging and a lower bound while discharging.
        """
        self._check_current("current", current_a)
        self._check_finite("voltage limit", voltage_limit_v, "V")
        script = methodscript.chronopotentiometry_script(current_a, voltage_limit_v, self.interval_s, self.max_step_s)
        self._start_step("cc", f"constant current {current_a:g} A to {voltage_limit_v:g} V", script,
                         lambda p: (p.potential_v or 0.0) >= voltage_limit_v if current_a >= 0
                         else (p.potential_v or 0.0) <= voltage_limit_v)

    def apply_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        """Hold ``voltage_v`` (V) until |current| reaches ``current_limit_a`` (A, > 0)."""
        self._check_finite("voltage", voltage_v, "V")
        self._check_current("current limit", current_limit_a)
        if current_limit_a <= 0:
            raise LimitError(self.name, "current limit", current_limit_a, 0.0, MAX_CURRENT_A[self.model], "A")
        script = methodscript.chronoamperometry_script(voltage_v, current_limit_a, self.interval_s, self.max_step_s)
        self._start_step("cv", f"constant voltage {voltage_v:g} V, limit {current_limit_a:g} A", script,
                         lambda p: abs(p.current_a or 0.0) >= current_limit_a)

    def cell_off(self) -> None:
        """Abort the running step and switch the cell off (the safe state)."""
        self._start_step("idle", "cell off", methodscript.cell_off_script())

    def read_measurement(self) -> PotentiostatMeasurement:
        """Return the latest reading; wait up to interval + timeout for a new step's first packet.

        Raises InstrumentError for a garbled packet or an error the instrument reported,
        InstrumentTimeout when packets stop arriving, ConnectionLost when the port went away.
        """
        deadline = time.monotonic() + self.interval_s + self.timeout_s
        with self._state:
            while True:
                self._raise_pending()
                step = self._step
                if step.last is not None or not step.running:
                    break
                if not self._state.wait(timeout=max(0.0, deadline - time.monotonic())):
                    raise InstrumentTimeout(self.name, step.name, None,
                                            f"no data packet within {self.interval_s + self.timeout_s:g} s")
            if step.running and time.monotonic() - step.last_arrival > self.interval_s + self.timeout_s:
                raise InstrumentTimeout(self.name, step.name, None,
                                        f"no data packet for {time.monotonic() - step.last_arrival:.1f} s")
            packet = step.last
            on = step.running and step.mode in ("cc", "cv")
            current = (packet.current_a or 0.0) if packet is not None and on else 0.0
            return PotentiostatMeasurement(
                time_s=step.last_time_s if packet is not None else self.now(),
                voltage_v=self._last_voltage_v,
                current_a=current,
                charge_c=self._charge_c,
                compliance=step.compliance or (packet is not None and packet.overload),
            )

    # --- internals: steps and host commands --------------------------------------------------

    def _start_step(self, mode: str, name: str, script: str, limit_reached: Callable | None = None) -> None:
        if self._serial is None:
            raise ConnectionLost(self.name, name, None, f"not connected to {self.port} (call connect() first)")
        with self._state:
            running = self._step.running
        if running:
            self._abort()
        self._run_script(name, script, mode, limit_reached)

    def _run_script(self, name: str, script: str, mode: str = "idle", limit_reached: Callable | None = None) -> None:
        """Send a script and wait for its echo ``e`` (or its error) within the timeout."""
        step = _Step(mode, name, limit_reached)
        with self._state:
            self._raise_pending()
            self._step = step
        logger.debug("%s <- script %s:\n%s", self.name, name, script)
        self.exchange(name, lambda: self._write(script))
        with self._state:
            if not self._state.wait_for(lambda: step.echo is not None or self._lost is not None, self.timeout_s):
                raise InstrumentTimeout(self.name, name, None, f"script not acknowledged within {self.timeout_s:g} s")
            if self._lost is not None:
                raise self._lost
            if step.echo != "e":
                step.running = False
                self._pending_error = None  # what follows a refusal is the refused script's debris
                raise InstrumentError(self.name, name, step.echo, "script refused")
            self._raise_pending()

    def _abort(self) -> None:
        """Abort a running script and wait for its end (``Z``), or learn nothing ran (``Z!0006``)."""
        with self._state:
            step = self._step
            step.aborted = True  # its end is not a cut-off
        self.exchange("abort", lambda: self._write("\n"))
        (reply,) = self._host_command("Z", allow_error="Z!0006")
        if reply == "Z":
            with self._state:
                if not self._state.wait_for(lambda: not step.running or self._lost is not None, self.timeout_s):
                    raise InstrumentTimeout(self.name, "Z", reply, f"script did not end within {self.timeout_s:g} s")
                self._raise_pending()

    def _host_command(self, command: str, allow_error: str = "") -> list[str]:
        """Send a one-letter host command and return its reply lines (``t``: until one ends with ``*``)."""
        while not self._replies.empty():
            self._replies.get_nowait()
        self._awaiting = command
        try:
            self.exchange(command, lambda: self._write(f"{command}\n"))
            lines: list[str] = []
            deadline = time.monotonic() + self.timeout_s
            while not lines or (command == "t" and not lines[-1].endswith("*")):
                try:
                    lines.append(self._replies.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    if self._lost is not None:
                        raise self._lost from None
                    raise InstrumentTimeout(self.name, command, "\\n".join(lines) or None,
                                            f"no complete reply within {self.timeout_s:g} s") from None
        finally:
            self._awaiting = None
        if "!" in lines[0] and lines[0] != allow_error:
            raise InstrumentError(self.name, command, lines[0], "instrument reported an error")
        return lines

    def _write(self, text: str) -> None:
        port = self._serial
        if port is None:
            raise ConnectionLost(self.name, text.strip()[:20], None, "port closed")
        port.write(text.encode("ascii"))

    def _check_current(self, what: str, current_a: float) -> None:
        limit = MAX_CURRENT_A.get(self.model, min(MAX_CURRENT_A.values()))
        if not (math.isfinite(current_a) and abs(current_a) <= limit):
            raise LimitError(self.name, what, current_a, -limit, limit, "A")

    def _check_finite(self, what: str, value: float, unit: str) -> None:
        if not math.isfinite(value):
            raise LimitError(self.name, what, value, -math.inf, math.inf, unit)

    def _raise_pending(self) -> None:
        """Raise (once) an error the reader thread recorded; called with the state lock held."""
        if self._lost is not None:
            raise self._lost
        error, self._pending_error = self._pending_error, None
        if error is not None:
            raise error

    # --- internals: the reader thread --------------------------------------------------------

    def _read_lines(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            port = self._serial
            if port is None:
                return
            try:
                chunk = port.readline()
            except Exception as exc:  # the port or socket went away
                if not self._stop.is_set():
                    self._connection_lost(exc)
                return
            buffer += chunk
            if not buffer.endswith(b"\n"):
                continue  # a partial line: the rest follows
            raw, buffer = buffer, b""
            try:
                line = raw.decode("ascii").rstrip("\r\n")
            except UnicodeDecodeError:
                self._record_error(InstrumentError(self.name, self._step.name, repr(raw), "garbled line"))
                continue
            self._dispatch(line)

    def _dispatch(self, line: str) -> None:
        awaiting = self._awaiting
        if self._reply_open or (awaiting and line[:1] == awaiting):
            self._replies.put(line)
            self._reply_open = awaiting == "t" and not line.endswith("*")  # t's reply is two lines
            return
        with self._state:
            step = self._step
            if line == "e" or line.startswith(("e!", "!")) and step.echo is None:
                step.echo = line
                step.running = line == "e"
            elif line.startswith("!"):
                self._pending_error = InstrumentError(self.name, step.name, line, "instrument reported an error")
            elif line.startswith("P"):
                self._on_packet(step, line)
            elif line == "":
                step.running = False
                step.compliance = step.compliance or (not step.aborted and step.reached_limit())
            elif line[:1] in ("M", "*", "L", "+", "-", "T"):
                pass  # loop markers and text output
            else:
                self._pending_error = InstrumentError(self.name, step.name, line, "unexpected line")
            self._state.notify_all()

    def _on_packet(self, step: _Step, line: str) -> None:
        try:
            packet = methodscript.decode_packet(line)
        except ValueError as exc:
            self._pending_error = InstrumentError(self.name, step.name, line, f"garbled data packet: {exc}")
            return
        arrival = time.monotonic()
        instrument_s = packet.time_s if packet.time_s is not None else arrival
        if step.last is not None and step.mode in ("cc", "cv"):
            previous_current, current = (_finite_or_zero(p.current_a) for p in (step.last, packet))
            self._charge_c += 0.5 * (previous_current + current) * (instrument_s - step.last_instrument_s)
        if packet.potential_v is not None:
            self._last_voltage_v = packet.potential_v
        step.last, step.last_instrument_s = packet, instrument_s
        step.last_arrival, step.last_time_s = arrival, self.now()

    def _record_error(self, error: InstrumentError) -> None:
        with self._state:
            self._pending_error = error
            self._state.notify_all()

    def _connection_lost(self, exc: Exception) -> None:
        with self._state:
            self._lost = ConnectionLost(self.name, self._step.name, None,
                                        f"connection to {self.port} lost ({type(exc).__name__}: {exc})")
            self._step.running = False
            self._state.notify_all()


class _Step:
    """The script running now: its kind, name, latest packet and how it ended."""

    def __init__(self, mode: str, name: str, limit_reached: Callable | None = None):
        self.mode, self.name, self._limit_reached = mode, name, limit_reached
        self.echo: str | None = None
        self.running = False
        self.aborted = False
        self.compliance = False
        self.last: methodscript.Packet | None = None
        self.last_instrument_s = 0.0
        self.last_arrival = time.monotonic()
        self.last_time_s = 0.0

    def reached_limit(self) -> bool:
        return self.last is not None and self._limit_reached is not None and bool(self._limit_reached(self.last))


def _finite_or_zero(value: float | None) -> float:
    """A current that was not sent or sent as NaN adds no charge."""
    return value if value is not None and math.isfinite(value) else 0.0
