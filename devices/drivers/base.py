"""The shared base of the real instrument drivers: one lock per port, failures as InstrumentError.

Every real driver (Lake Shore, Keithley, Eurotherm, EmStat, ...) does its I/O through
:meth:`InstrumentDriver.exchange`, which

- holds the port's lock for the whole exchange (a write and its reply are never split by
  another thread; two drivers on one port share the lock, see :func:`port_lock`),
- turns what the I/O library raises into the simslab errors, naming the instrument and the
  command: :class:`~simslab.errors.InstrumentTimeout` when no reply came within the timeout,
  :class:`~simslab.errors.ConnectionLost` when the port or socket closed,
  :class:`~simslab.errors.InstrumentError` for anything else (a garbled or refused reply).

Replies are turned into values with :meth:`InstrumentDriver.parse_reply`, which names the
reply it could not parse; numbers in replies are read with :func:`parse_number` and
:func:`parse_integer` (or :meth:`InstrumentDriver.query_number`), which accept only what an
instrument writes: ASCII digits, a sign, a point, an exponent, and a finite result.

Drivers speaking a text protocol hold a :class:`MessageTransport` (e.g.
:class:`~simslab.devices.drivers.visa_transport.VisaTransport`) and use the short forms
:meth:`~InstrumentDriver.write` and :meth:`~InstrumentDriver.query`.

The library exceptions known here are pyvisa's, pyserial's, minimalmodbus's and the builtin
socket/OS errors; a driver on another library extends :attr:`InstrumentDriver.error_kinds`.
"""

from __future__ import annotations

import logging
import math
import re
import socket
import threading
from collections.abc import Callable
from typing import Literal, Protocol, TypeVar, runtime_checkable

from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout

__all__ = [
    "InstrumentDriver",
    "MessageTransport",
    "GarbledReply",
    "ErrorKind",
    "DEFAULT_ERROR_KINDS",
    "port_lock",
    "classify_error",
    "parse_number",
    "parse_integer",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

ErrorKind = Literal["timeout", "connection", "error"]
"""How a library exception is reported: InstrumentTimeout, ConnectionLost or InstrumentError."""


class GarbledReply(Exception):
    """A transport received bytes that are not a valid reply (undecodable, wrong framing).

    Raised by transports with the reply as far as it could be shown; :class:`InstrumentDriver`
    reports it as an InstrumentError naming that reply.
    """

    def __init__(self, reply: str, problem: str = "garbled reply"):
        self.reply, self.problem = reply, problem
        super().__init__(f"{problem}: {reply!r}")


@runtime_checkable
class MessageTransport(Protocol):
    """A text message channel to one instrument: one command out, one reply line back.

    Implementations raise their library's exceptions; :class:`InstrumentDriver` translates them.
    """

    timeout_s: float

    def write(self, message: str) -> None:
        """Send one message; the transport adds the write terminator."""
        ...

    def query(self, message: str) -> str:
        """Send one message and return the reply without its terminator; wait up to timeout_s."""
        ...

    def close(self) -> None:
        """Release the port; safe to call twice."""
        ...


def parse_number(text: str) -> float:
    """Return the finite number an instrument wrote as ``text`` (ASCII decimal, e.g. ``+2.0E+02``).

    ``text`` is the number alone (strip the reply or field first): an optional sign, digits with
    an optional point, an optional exponent. Raises ValueError for everything else, including
    what Python's ``float`` takes but no instrument sends: ``nan``, ``inf``, a value beyond the
    float range (``1e999``), ``1_0``, non-ASCII digits, blanks, hexadecimal.
    """
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{_shorten(text)} is not a decimal number")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{_shorten(text)} is beyond the range of a float")
    return value


def parse_integer(text: str, base: int = 10) -> int:
    """Return the integer an instrument wrote as ``text``: ASCII digits of ``base`` (10 or 16).

    Base 10 allows a sign; base 16 is bare hexadecimal digits (no sign, no ``0x``). Raises
    ValueError for anything else, including what Python's ``int`` takes: ``1_0``, non-ASCII
    digits, blanks around the digits.
    """
    pattern = _INTEGER_PATTERNS.get(base)
    if pattern is None:
        raise ValueError(f"base = {base!r} is not allowed: 10 or 16")
    if not pattern.fullmatch(text):
        kind = "a decimal" if base == 10 else "a hexadecimal"
        raise ValueError(f"{_shorten(text)} is not {kind} integer")
    return int(text, base)


def port_lock(port: str) -> threading.RLock:
    """Return the process-wide lock of a port (a VISA resource, a device path or a URL).

    Drivers sharing a port (e.g. an RS-485 bus) get the same lock, so their exchanges never
    interleave. Reentrant, so a driver method may call another one while holding it.
    """
    with _registry_lock:
        return _port_locks.setdefault(port, threading.RLock())


def classify_error(exc: BaseException, kinds: tuple[tuple[type[BaseException], ErrorKind], ...]) -> ErrorKind:
    """Return how ``exc`` is reported: the kind of the first entry of ``kinds`` it is an instance of.

    pyvisa's ``VisaIOError`` is judged by its error code (timeout, connection lost, closed
    resource); an exception no entry matches counts as ``"error"``.
    """
    visa_kind = _visa_error_kind(exc)
    if visa_kind is not None:
        return visa_kind
    for exc_type, kind in kinds:
        if isinstance(exc, exc_type):
            return kind
    return "error"


class InstrumentDriver:
    """Base of the real drivers: a name, ``blocking = True``, a port lock, translated errors.

    Parameters
    ----------
    name:
        The instrument's name as the user knows it (``"cryo_stage"``, ``"Lake Shore 336"``);
        every error message starts with it.
    port:
        The address of the port (VISA resource, device path, URL); drivers with the same port
        share one lock.
    timeout_s:
        The I/O timeout in s, quoted in timeout messages.
    """

    blocking = True
    error_kinds: tuple[tuple[type[BaseException], ErrorKind], ...] = ()
    """Extra (exception type, kind) pairs checked before :data:`DEFAULT_ERROR_KINDS`."""

    def __init__(self, name: str, port: str, timeout_s: float):
        self.name = name
        self.port = port
        self.timeout_s = float(timeout_s)
        self.transport: MessageTransport | None = None
        self._lock = port_lock(port)

    def exchange(self, command: str, action: Callable[[], T]) -> T:
        """Run one I/O action under the port lock and return its result.

        ``command`` names what is sent (for error messages). Library exceptions become
        InstrumentTimeout / ConnectionLost / InstrumentError naming this instrument and the
        command; an InstrumentError raised inside ``action`` passes unchanged.
        """
        with self._lock:
            try:
                return action()
            except InstrumentError:
                raise
            except Exception as exc:
                raise self._translate(command, exc) from exc

    def write(self, command: str) -> None:
        """Send one command through :attr:`transport` (no reply expected)."""
        transport = self._require_transport(command)
        logger.debug("%s <- %r", self.name, command)
        self.exchange(command, lambda: transport.write(command))

    def query(self, command: str) -> str:
        """Send one query through :attr:`transport` and return the reply, stripped."""
        transport = self._require_transport(command)
        reply = self.exchange(command, lambda: transport.query(command)).strip()
        logger.debug("%s <- %r -> %r", self.name, command, reply)
        return reply

    def query_number(self, command: str, expected: str) -> float:
        """Send a query whose reply is one finite number (see :func:`parse_number`) and return it.

        ``expected`` says in words what the number is ("a temperature in kelvin"); a reply that
        is not such a number raises InstrumentError naming this instrument, the command and
        the reply.
        """
        return self.query_value(command, parse_number, expected)

    def query_integer(self, command: str, expected: str) -> int:
        """Send a query whose reply is one decimal integer (see :func:`parse_integer`) and return it."""
        return self.query_value(command, parse_integer, expected)

    def query_value(self, command: str, parse: Callable[[str], T], expected: str) -> T:
        """Send a query and parse its reply; a reply ``parse`` rejects raises InstrumentError."""
        return self.parse_reply(command, self.query(command), parse, expected)

    def parse_reply(self, command: str, reply: str, parse: Callable[[str], T], expected: str) -> T:
        """Return ``parse(reply)``; raise InstrumentError naming the reply if it fails.

        ``expected`` says in words what a valid reply looks like ("a number in kelvin").
        """
        try:
            return parse(reply)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise InstrumentError(self.name, command, reply, f"garbled reply, expected {expected}") from exc

    def check_range(self, command: str, what: str, value: float, low: float, high: float, unit: str) -> None:
        """Refuse ``value`` outside the instrument's range [low, high] before ``command`` is sent.

        Raises InstrumentError naming the setting, the value, the range and the command that was
        not sent (profile limits are checked by the device, earlier; this is the instrument's own).
        """
        if not (low <= value <= high):  # also refuses NaN
            unit = f" {unit}" if unit else ""
            problem = f"{what} {value:g}{unit} is outside the instrument's range {low:g} to {high:g}{unit}: not sent"
            raise InstrumentError(self.name, command, None, problem)

    def error(self, command: str, reply: str | None, problem: str) -> InstrumentError:
        """Build an InstrumentError naming this instrument (to ``raise`` in driver code)."""
        return InstrumentError(self.name, command, reply, problem)

    def close(self) -> None:
        """Release the transport; safe to call twice."""
        transport, self.transport = self.transport, None
        if transport is not None:
            with self._lock:
                try:
                    transport.close()
                except Exception:  # closing a port that already vanished is not an error
                    logger.debug("%s: error while closing %s", self.name, self.port, exc_info=True)

    def _require_transport(self, command: str) -> MessageTransport:
        if self.transport is None:
            raise ConnectionLost(self.name, command, None, f"not connected to {self.port} (call connect() first)")
        return self.transport

    def _translate(self, command: str, exc: Exception) -> InstrumentError:
        if isinstance(exc, GarbledReply):
            return InstrumentError(self.name, command, exc.reply, exc.problem)
        kind = classify_error(exc, self.error_kinds + DEFAULT_ERROR_KINDS)
        detail = f"{type(exc).__name__}: {exc}"
        if kind == "timeout":
            return InstrumentTimeout(self.name, command, None, f"timed out after {self.timeout_s:g} s ({detail})")
        if kind == "connection":
            return ConnectionLost(self.name, command, None, f"connection to {self.port} lost ({detail})")
        return InstrumentError(self.name, command, None, f"I/O failed ({detail})")


_registry_lock = threading.Lock()
_port_locks: dict[str, threading.RLock] = {}

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER_PATTERNS = {10: re.compile(r"[+-]?[0-9]+"), 16: re.compile(r"[0-9A-Fa-f]+")}
_SHOWN_CHARACTERS = 40


def _shorten(text: str) -> str:
    """Return ``repr(text)``, cut to a readable length (a reply may be thousands of digits)."""
    if len(text) <= _SHOWN_CHARACTERS:
        return repr(text)
    return f"{text[:_SHOWN_CHARACTERS]!r}... ({len(text)} characters)"


def _default_error_kinds() -> tuple[tuple[type[BaseException], ErrorKind], ...]:
    """Known library exceptions, most specific first (several derive from OSError)."""
    kinds: list[tuple[type[BaseException], ErrorKind]] = []
    try:
        import minimalmodbus

        kinds += [
            (minimalmodbus.NoResponseError, "timeout"),
            (minimalmodbus.ModbusException, "error"),
        ]
    except ImportError:  # pragma: no cover - minimalmodbus is a dependency
        pass
    try:
        import serial

        kinds += [
            (serial.SerialTimeoutException, "timeout"),
            (serial.SerialException, "connection"),
        ]
    except ImportError:  # pragma: no cover - pyserial is a dependency
        pass
    kinds += [
        (socket.timeout, "timeout"),
        (TimeoutError, "timeout"),
        (ConnectionError, "connection"),
        (EOFError, "connection"),
        (OSError, "connection"),
        (UnicodeDecodeError, "error"),
    ]
    return tuple(kinds)


DEFAULT_ERROR_KINDS = _default_error_kinds()


def _visa_error_kind(exc: BaseException) -> ErrorKind | None:
    try:
        from pyvisa import constants, errors
    except ImportError:  # pragma: no cover - pyvisa is a dependency
        return None
    if isinstance(exc, errors.InvalidSession):
        return "connection"
    if not isinstance(exc, errors.VisaIOError):
        return None
    if exc.error_code == constants.StatusCode.error_timeout:
        return "timeout"
    lost = {
        constants.StatusCode.error_connection_lost,
        constants.StatusCode.error_invalid_object,
        constants.StatusCode.error_resource_not_found,
        constants.StatusCode.error_closing_failed,
    }
    return "connection" if exc.error_code in lost else "error"
