"""A localhost TCP proxy that hands a real driver the replies a fuzz test chooses.

The driver connects to the proxy as to the instrument; the proxy forwards everything the
driver sends to a protocol peer unchanged, and passes each reply of the peer (a line, for
line protocols, or each received chunk, e.g. one Modbus RTU frame) through ``mangle`` before
the driver sees it. ``mangle = None`` passes replies through (for the driver's connect).
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Callable
from typing import Literal

__all__ = ["ManglingProxy"]

Mangle = Callable[[bytes], bytes]


class ManglingProxy:
    """Proxy 127.0.0.1:``port`` to the peer on ``target_port``; replies go through ``mangle``.

    framing: ``"lines"`` calls ``mangle`` with each reply line including ``terminator``;
    ``"chunks"`` with each block of bytes the peer sent in one go.
    """

    def __init__(self, target_port: int, framing: Literal["lines", "chunks"] = "lines", terminator: bytes = b"\n"):
        self.target_port = target_port
        self.framing = framing
        self.terminator = terminator
        self.mangle: Mangle | None = None
        self.received: list[bytes] = []
        """What the driver sent, as received (all connections, oldest first)."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mangling-proxy", daemon=True)

    def start(self) -> ManglingProxy:
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                if key.data is None:
                    self._accept()
                else:
                    self._relay(key.fileobj, *key.data)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5.0)
        pending = bytearray()  # the peer's bytes not yet a whole line
        self._selector.register(client, selectors.EVENT_READ, (upstream, client, "out", pending))
        self._selector.register(upstream, selectors.EVENT_READ, (client, upstream, "back", pending))

    def _relay(self, source: socket.socket, other: socket.socket, _self: socket.socket, direction: str,
               pending: bytearray) -> None:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        if not data:  # one side closed: close the pair
            for sock in (source, other):
                try:
                    self._selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
                sock.close()
            return
        if direction == "out":
            self.received.append(data)
            other.sendall(data)
            return
        for reply in self._replies(data, pending):
            mangle = self.mangle
            try:
                other.sendall(reply if mangle is None else mangle(reply))
            except OSError:
                return

    def _replies(self, data: bytes, pending: bytearray) -> list[bytes]:
        if self.framing == "chunks":
            return [data]
        pending.extend(data)
        replies = []
        while (end := pending.find(self.terminator)) >= 0:
            replies.append(bytes(pending[: end + len(self.terminator)]))
            del pending[: end + len(self.terminator)]
        return replies
