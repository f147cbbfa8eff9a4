"""A line-oriented text peer on a localhost TCP socket or a pty pair, served from a thread.

A protocol peer plays an instrument behind a real transport, so a real driver talks to it
through its real I/O library (pyvisa-py, pyserial) exactly as to the instrument. This module
does the transport; a peer supplies a handler that turns one received line into a reply::

    def handle(line: str, conn: PeerConnection) -> str | None:
        return "LSCI,MODEL336,SIM,1.0" if line == "*IDN?" else None

    with LineServer(handle, transport="tcp", name="lakeshore") as server:
        server.resource   # 'TCPIP::127.0.0.1::40123::SOCKET' for pyvisa
        server.url        # 'socket://127.0.0.1:40123' for pyserial

Contract of the handler (``handler(line, conn)``), called in the server thread, one line at
a time, in order:

- ``line`` is one received line, decoded (ASCII; undecodable bytes become U+FFFD), with its
  ``\\n`` and an optional trailing ``\\r`` removed. Empty lines are passed too: the peer decides
  (Lake Shore ignores them, MethodSCRIPT ends a script with one).
- It returns the reply text without a terminator (sent with ``reply_terminator``), or None to
  send nothing. It may instead, or also, call ``conn.send_line(text)`` any number of times,
  from any thread (e.g. a streaming measurement loop), until ``conn.closed``.
- An exception in the handler is logged and the line gets no reply (the client times out).

Faults for tests and soak runs (:meth:`LineServer.inject_fault`) act on the next replies,
whichever way they are sent: ``"silent"`` drops a reply (the client times out), ``"garble"``
sends a truncated reply with non-ASCII noise, ``"delay"`` sends it after ``delay_s``,
``"disconnect"`` closes the connection instead of replying (TCP: the server keeps listening
and accepts a new connection; pty: the master side closes for good, as when a USB cable is
pulled).

Transports: ``"tcp"`` listens on 127.0.0.1 on a free port, several clients in turn or at once;
``"pty"`` opens a pseudo-terminal pair in raw mode and keeps the slave open, so a client may
open and close ``server.device_path`` repeatedly. Line settings (baud, data bits, parity) mean
nothing on a pty; pyvisa-py cannot even set 7 data bits on one (termios EINVAL), so clients of
a pty peer use 8N1.
"""

from __future__ import annotations

import collections
import logging
import os
import selectors
import socket
import threading
import tty
from collections.abc import Callable
from typing import Literal

__all__ = ["LineServer", "PeerConnection", "LineHandler", "Fault", "GARBLE_NOISE"]

logger = logging.getLogger(__name__)

Fault = Literal["silent", "garble", "delay", "disconnect"]
LineHandler = Callable[[str, "PeerConnection"], "str | None"]
GARBLE_NOISE = b"\x9f\xe2?#"
"""Bytes appended to a garbled reply (never valid ASCII, so no client can mistake it)."""


class PeerConnection:
    """One client connection of a :class:`LineServer`; the handler sends replies through it."""

    def __init__(self, server: LineServer, write: Callable[[bytes], None], close: Callable[[], None], label: str):
        self.server = server
        self.label = label
        self.closed = False
        self._write = write
        self._close = close
        self._write_lock = threading.Lock()

    def send_line(self, text: str) -> None:
        """Send one line (the reply terminator is added); pending faults apply. Thread-safe."""
        self.server._send_reply(self, text)

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are: no terminator, no faults. Thread-safe; ignored once closed."""
        with self._write_lock:
            if self.closed:
                return
            # logged first: the client may read the reply (and a test the log) before _write returns
            self.server.log.append(("out", data))
            try:
                self._write(data)
            except OSError:
                logger.debug("%s: write on %s failed", self.server.name, self.label, exc_info=True)
            else:
                return
        self.close()

    def close(self) -> None:
        """Close this connection (the client sees the port or socket go away)."""
        if self.closed:
            return
        self.closed = True
        self.server._forget(self)
        try:
            self._close()
        except OSError:
            pass


class LineServer:
    """Serve a line protocol to real clients over localhost TCP or a pty, from one thread.

    Parameters
    ----------
    handler:
        ``handler(line, conn) -> reply or None`` (see the module docstring).
    transport:
        ``"tcp"`` (127.0.0.1, a free port) or ``"pty"`` (a pseudo-terminal pair).
    name:
        Used in log messages and the thread name.
    reply_terminator:
        Appended to every reply line (Lake Shore: ``"\\r\\n"``; Keithley 2450, MethodSCRIPT: ``"\\n"``).
    on_connect, on_disconnect:
        Called with the :class:`PeerConnection` when a client connects / goes away (pty: once
        at start / at close or a disconnect fault).
    """

    def __init__(
        self,
        handler: LineHandler,
        *,
        transport: Literal["tcp", "pty"] = "tcp",
        name: str = "peer",
        reply_terminator: str = "\r\n",
        encoding: str = "ascii",
        on_connect: Callable[[PeerConnection], None] | None = None,
        on_disconnect: Callable[[PeerConnection], None] | None = None,
    ):
        if transport not in ("tcp", "pty"):
            raise ValueError(f"transport = {transport!r} is not allowed: 'tcp' or 'pty'")
        self.handler = handler
        self.transport = transport
        self.name = name
        self.reply_terminator = reply_terminator
        self.encoding = encoding
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.log: collections.deque[tuple[str, bytes]] = collections.deque(maxlen=10_000)
        """Bytes exchanged, oldest first: ("in", line received) and ("out", bytes sent)."""
        self.tcp_port: int | None = None
        self.device_path: str | None = None
        self._faults: collections.deque[tuple[Fault, float]] = collections.deque()
        self._persistent_fault: tuple[Fault, float] | None = None
        self._fault_lock = threading.Lock()
        self._connections: set[PeerConnection] = set()
        self._selector = selectors.DefaultSelector()
        self._registry_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._pty_fds: tuple[int, int] | None = None
        self._wake_r, self._wake_w = os.pipe()

    # --- public ----------------------------------------------------------------------------

    def start(self) -> LineServer:
        """Open the transport and start serving in a daemon thread; return self."""
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        if self.transport == "tcp":
            self._open_tcp()
        else:
            self._open_pty()
        self._thread = threading.Thread(target=self._serve, name=f"{self.name}-line-server", daemon=True)
        self._thread.start()
        logger.info("%s: serving on %s", self.name, self.resource)
        return self

    @property
    def resource(self) -> str:
        """The VISA resource name of this peer for pyvisa-py (TCPIP SOCKET or ASRL path)."""
        if self.transport == "tcp":
            return f"TCPIP::127.0.0.1::{self.tcp_port}::SOCKET"
        return f"ASRL{self.device_path}::INSTR"

    @property
    def url(self) -> str:
        """The pyserial URL of this peer (``serial.serial_for_url``): socket:// or the pty path."""
        if self.transport == "tcp":
            return f"socket://127.0.0.1:{self.tcp_port}"
        return str(self.device_path)

    def inject_fault(self, fault: Fault, *, count: int | None = 1, delay_s: float = 0.0) -> None:
        """Make the next ``count`` replies faulty (None: every reply until :meth:`clear_faults`).

        ``delay_s`` is the hold-back of a ``"delay"`` fault in s.
        """
        if fault not in ("silent", "garble", "delay", "disconnect"):
            raise ValueError(f"fault = {fault!r} is not allowed: silent, garble, delay or disconnect")
        with self._fault_lock:
            if count is None:
                self._persistent_fault = (fault, delay_s)
            else:
                self._faults.extend([(fault, delay_s)] * count)

    def clear_faults(self) -> None:
        """Drop every pending and persistent fault: replies are normal again."""
        with self._fault_lock:
            self._faults.clear()
            self._persistent_fault = None

    def close(self) -> None:
        """Stop serving, close every connection and the transport; safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        for conn in list(self._connections):
            conn.close()
        if self._listener is not None:
            self._listener.close()
        if self._pty_fds is not None:
            _close_fd(self._pty_fds[1])
        self._selector.close()
        _close_fd(self._wake_r)
        _close_fd(self._wake_w)

    def __enter__(self) -> LineServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transports ------------------------------------------------------------------------

    def _open_tcp(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self._listener.setblocking(False)
        self.tcp_port = self._listener.getsockname()[1]
        self._selector.register(self._listener, selectors.EVENT_READ, ("accept", None))

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass unchanged
        self._pty_fds = (master, slave)
        self.device_path = os.ttyname(slave)
        conn = PeerConnection(self, lambda data: _write_all(master, data), lambda: _close_fd(master), "pty")
        self._add_connection(conn, master)

    def _add_connection(self, conn: PeerConnection, fileobj: int | socket.socket) -> None:
        with self._registry_lock:
            self._connections.add(conn)
            self._selector.register(fileobj, selectors.EVENT_READ, ("read", (conn, fileobj, bytearray())))
        if self.on_connect is not None:
            self.on_connect(conn)

    def _forget(self, conn: PeerConnection) -> None:
        """Stop watching a connection that closed (called from any thread)."""
        with self._registry_lock:
            self._connections.discard(conn)
            registered = self._selector.get_map()  # None once the selector is closed
            for key in list(registered.values()) if registered is not None else []:
                kind, data = key.data
                if kind == "read" and data[0] is conn:
                    self._selector.unregister(key.fileobj)
        if self.on_disconnect is not None:
            self.on_disconnect(conn)

    # --- the serving thread ----------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.5):
                kind, data = key.data
                if kind == "accept":
                    self._accept()
                elif kind == "read":
                    self._read(*data)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            sock, address = self._listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = PeerConnection(self, sock.sendall, lambda: _close_socket(sock), f"tcp {address[0]}:{address[1]}")
        self._add_connection(conn, sock)

    def _read(self, conn: PeerConnection, fileobj: int | socket.socket, buffer: bytearray) -> None:
        try:
            chunk = fileobj.recv(4096) if isinstance(fileobj, socket.socket) else os.read(fileobj, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # a reset socket (the pty's slave is held open here: no EIO)
            chunk = b""
        if not chunk:
            conn.close()
            return
        buffer.extend(chunk)
        while b"\n" in buffer and not conn.closed:
            raw, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            self.log.append(("in", raw + b"\n"))
            line = raw.rstrip(b"\r").decode(self.encoding, errors="replace")
            self._handle(conn, line)

    def _handle(self, conn: PeerConnection, line: str) -> None:
        try:
            reply = self.handler(line, conn)
        except Exception:
            logger.exception("%s: handler failed on %r", self.name, line)
            return
        if reply is not None:
            self._send_reply(conn, reply)

    def _send_reply(self, conn: PeerConnection, text: str) -> None:
        fault, delay_s = self._next_fault()
        data = text.encode(self.encoding, errors="replace") + self.reply_terminator.encode(self.encoding)
        if fault == "silent":
            logger.debug("%s: fault silent, dropping reply %r", self.name, text)
            return
        if fault == "disconnect":
            logger.debug("%s: fault disconnect instead of reply %r", self.name, text)
            conn.close()
            return
        if fault == "garble":
            data = data[: len(data) // 2] + GARBLE_NOISE + self.reply_terminator.encode(self.encoding)
        if fault == "delay" and self._stop.wait(delay_s):
            return
        conn.send_raw(data)

    def _next_fault(self) -> tuple[Fault | None, float]:
        with self._fault_lock:
            if self._faults:
                return self._faults.popleft()
            if self._persistent_fault is not None:
                return self._persistent_fault
        return None, 0.0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _close_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
