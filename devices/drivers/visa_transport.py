"""A small message transport over pyvisa: open a resource, write, query, with timeouts.

It implements :class:`~simslab.devices.drivers.base.MessageTransport` for the VISA
instruments (Lake Shore 33x, Keithley 2450). It raises pyvisa's and the OS's own exceptions;
the driver's :meth:`~simslab.devices.drivers.base.InstrumentDriver.exchange` turns them into
simslab errors. Three things it adds over a bare ``pyvisa`` resource:

- Serial line settings only for ``ASRL`` resources, and only those given: a pty peer has no
  7-bit mode (pyvisa-py fails with termios EINVAL), so the lab's 7O1 stays a profile setting.
- Replies are read as bytes and decoded strictly; bytes that are not ASCII raise
  :class:`~simslab.devices.drivers.base.GarbledReply` carrying the reply (shown escaped).
- pyvisa-py on a TCP socket reports a peer that closed the connection only as a timeout;
  after a timeout, and before each write, the socket is probed, so a closed connection is
  reported as one (``ConnectionResetError``). After a timeout the input is flushed before
  the next exchange, so a late reply cannot pass for the answer to the next query.
"""

from __future__ import annotations

import logging
import socket
from typing import Literal

import pyvisa
from pyvisa import constants

from .base import GarbledReply

__all__ = ["VisaTransport"]

logger = logging.getLogger(__name__)

_PARITY = {"none": constants.Parity.none, "odd": constants.Parity.odd, "even": constants.Parity.even}
_STOP_BITS = {1: constants.StopBits.one, 2: constants.StopBits.two}


class VisaTransport:
    """One VISA resource opened for text messages.

    Parameters
    ----------
    resource:
        VISA resource name (``ASRL/dev/ttyUSB0::INSTR``, ``TCPIP::host::7777::SOCKET``, ...).
    visa_library:
        pyvisa backend: ``"@py"`` (pyvisa-py), ``"@ivi"``, or ``"path/to/file.yaml@sim"``.
    timeout_s:
        Timeout of every read and write in s.
    write_termination, read_termination:
        Appended to writes / expected at the end of replies.
    baud_rate, data_bits, parity, stop_bits:
        Serial line settings, applied to ``ASRL`` resources when not None.
    """

    def __init__(
        self,
        resource: str,
        *,
        visa_library: str = "@py",
        timeout_s: float = 2.0,
        write_termination: str = "\n",
        read_termination: str = "\r\n",
        baud_rate: int | None = None,
        data_bits: int | None = None,
        parity: Literal["none", "odd", "even"] | None = None,
        stop_bits: Literal[1, 2] | None = None,
        encoding: str = "ascii",
    ):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s = {timeout_s!r} is not allowed: above 0 s")
        self.resource_name = resource
        self.visa_library = visa_library
        self.timeout_s = float(timeout_s)
        self.write_termination = write_termination
        self.read_termination = read_termination
        self.encoding = encoding
        self._serial = {
            "baud_rate": baud_rate,
            "data_bits": data_bits,
            "parity": None if parity is None else _PARITY[parity],
            "stop_bits": None if stop_bits is None else _STOP_BITS[stop_bits],
        }
        self._resource: pyvisa.resources.MessageBasedResource | None = None
        self._stale_input = False

    def open(self) -> None:
        """Open the resource; raise ConnectionError if it cannot be reached."""
        manager = pyvisa.ResourceManager(self.visa_library)
        options: dict[str, object] = {
            "timeout": self.timeout_s * 1000.0,
            "write_termination": self.write_termination,
            "read_termination": self.read_termination,
            "encoding": self.encoding,
        }
        if self.resource_name.upper().startswith("ASRL"):
            options.update({key: value for key, value in self._serial.items() if value is not None})
        try:
            self._resource = manager.open_resource(self.resource_name, **options)
        except Exception as exc:  # pyvisa-py raises a bare Exception when a socket cannot connect
            raise ConnectionError(f"cannot open {self.resource_name}: {exc}") from exc
        try:  # pyvisa-py reports a refused TCP connection as opened
            self._raise_if_peer_closed(self._resource)
        except ConnectionError:
            self.close()
            raise
        logger.debug("opened %s with %s", self.resource_name, options)

    def write(self, message: str) -> None:
        """Send one message with the write terminator; wait up to timeout_s for it to go out."""
        resource = self._open_resource()
        self._flush_if_stale(resource)
        self._raise_if_peer_closed(resource)
        resource.write(message)

    def query(self, message: str) -> str:
        """Send one message and return the reply line without its terminator.

        Waits up to timeout_s for the reply; raises pyvisa's timeout error if none comes, and
        GarbledReply if the reply is not valid text.
        """
        self.write(message)
        return self.read()

    def read(self) -> str:
        """Read one reply line without its terminator; wait up to timeout_s."""
        resource = self._open_resource()
        try:
            raw = resource.read_raw()
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code == constants.StatusCode.error_timeout:
                self._stale_input = True
                self._raise_if_peer_closed(resource)
            raise
        return self._decode(raw)

    def close(self) -> None:
        """Close the resource; safe to call twice."""
        resource, self._resource = self._resource, None
        if resource is not None:
            resource.close()

    def _open_resource(self) -> pyvisa.resources.MessageBasedResource:
        if self._resource is None:
            raise ConnectionError(f"{self.resource_name} is not open")
        return self._resource

    def _decode(self, raw: bytes) -> str:
        terminator = self.read_termination.encode(self.encoding)
        body = raw[: -len(terminator)] if terminator and raw.endswith(terminator) else raw.rstrip(b"\r\n")
        try:
            return body.decode(self.encoding)
        except UnicodeDecodeError:
            raise GarbledReply(body.decode(self.encoding, errors="backslashreplace"), "reply is not text") from None

    def _flush_if_stale(self, resource: pyvisa.resources.MessageBasedResource) -> None:
        if not self._stale_input:
            return
        self._stale_input = False
        try:
            resource.flush(constants.BufferOperation.discard_read_buffer)
        except (pyvisa.errors.VisaIOError, NotImplementedError, AttributeError):
            logger.debug("%s: cannot flush input", self.resource_name, exc_info=True)

    def _raise_if_peer_closed(self, resource: pyvisa.resources.MessageBasedResource) -> None:
        sock = _pyvisa_py_socket(resource)
        if sock is None:
            return
        try:
            peeked = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError as exc:
            raise ConnectionResetError(f"{self.resource_name}: {exc}") from exc
        if peeked == b"":
            raise ConnectionResetError(f"{self.resource_name}: the peer closed the connection")


def _pyvisa_py_socket(resource: pyvisa.resources.MessageBasedResource) -> socket.socket | None:
    """Return the socket under a pyvisa-py TCPIP SOCKET session, or None for anything else."""
    sessions = getattr(resource.visalib, "sessions", None)
    if not isinstance(sessions, dict):
        return None
    interface = getattr(sessions.get(resource.session), "interface", None)
    return interface if isinstance(interface, socket.socket) else None
