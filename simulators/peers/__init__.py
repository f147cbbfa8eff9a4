"""Protocol peers: simulated instruments behind real transports (localhost TCP, pty pairs).

A peer plays one instrument's command set to a real driver through the driver's real I/O
library, with a backend (any driver of the same protocol, e.g. a twin driver) holding the
physics. :class:`LineServer` is the transport for line-oriented text protocols; each
``start_*_peer`` function returns a running one, which is the peer's handle: ``.resource``
(VISA), ``.url`` (pyserial), ``.inject_fault()``, ``.log`` and ``.close()``.
"""

from .lakeshore_peer import LakeShorePeer, start_lakeshore_peer
from .line_server import Fault, LineHandler, LineServer, PeerConnection
from .scpi_peer import Keithley2450Peer, ScpiError, start_keithley2450_peer

PeerHandle = LineServer
"""What a ``start_*_peer`` function returns: the running server of the peer."""

__all__ = [
    "LineServer",
    "PeerConnection",
    "LineHandler",
    "Fault",
    "PeerHandle",
    "LakeShorePeer",
    "start_lakeshore_peer",
    "Keithley2450Peer",
    "ScpiError",
    "start_keithley2450_peer",
]
