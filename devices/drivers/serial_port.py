"""Opening and closing pyserial ports for the serial drivers (Eurotherm, EmStat).

A port is a device path (``/dev/ttyUSB0``, ``COM3``) or a pyserial URL
(``socket://host:port``, which is how the protocol peers are reached, or ``rfc2217://``).
"""

from __future__ import annotations

import socket

import serial

__all__ = ["open_serial_port", "close_serial_port"]


def open_serial_port(port: str, *, baud_rate: int, timeout_s: float, write_timeout_s: float) -> serial.SerialBase:
    """Open ``port`` at ``baud_rate`` 8N1 with the given read and write timeouts in s."""
    return serial.serial_for_url(
        port,
        baudrate=baud_rate,
        bytesize=serial.EIGHTBITS,
        parity=serial.PARITY_NONE,
        stopbits=serial.STOPBITS_ONE,
        timeout=timeout_s,
        write_timeout=write_timeout_s,
    )


def close_serial_port(port: serial.SerialBase) -> None:
    """Close a port; safe on a port whose peer already went away.

    pyserial's ``socket://`` close sleeps 0.3 s "for quick reconnects" and skips closing the
    socket when its shutdown fails (the peer is gone), leaking it; here the socket is shut
    and closed directly instead.
    """
    sock = getattr(port, "_socket", None)
    if sock is None:
        port.close()
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already disconnected
    sock.close()
    port._socket = None
    port.is_open = False
