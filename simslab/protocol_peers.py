"""Real drivers on the simulated lab: a protocol peer of the twin for every real driver.

With ``protocol_peers: true`` a profile's real drivers (Lake Shore, Eurotherm, Keithley or
EmStat, the IONTOF and operator hand-offs) talk their real command sets, over real
transports (localhost TCP, Modbus RTU over a socket, hand-off folders), to peers that answer
from the twin. The addresses in the profile are replaced by the peers'; everything above the
drivers runs exactly as in the lab, only slower than the pure twin.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simslab.clock import Clock

__all__ = ["start_peers"]


def start_peers(wanted: dict[str, Any], twin: dict[str, Any], clock: Clock,
                closers: list[Callable[[], None]]) -> dict[str, Any]:
    """Start a peer for every real driver in ``wanted``; return the settings pointing at them.

    ``twin`` are the twin drivers the peers answer from; each peer's shutdown is appended to
    ``closers``. Twin-driven entries are returned unchanged.
    """
    folders = Path(tempfile.mkdtemp(prefix="simslab-peers-"))
    rewired = {}
    for name, settings in wanted.items():
        if settings.kind == "twin":
            rewired[name] = settings
            continue
        backend = twin[name]
        backend.connect()
        update, close = _START[settings.kind](backend, folders / name, clock)
        closers.append(close)
        rewired[name] = settings.model_copy(update=update)
    return rewired


def _lakeshore(backend: Any, _: Path, clock: Clock) -> tuple[dict, Callable[[], None]]:
    from simslab.simulators.peers.lakeshore_peer import start_lakeshore_peer

    peer = start_lakeshore_peer(backend, "tcp")
    return {"resource": peer.resource, "visa_library": "@py"}, peer.close


def _keithley(backend: Any, _: Path, clock: Clock) -> tuple[dict, Callable[[], None]]:
    from simslab.simulators.peers.scpi_peer import start_keithley2450_peer

    peer = start_keithley2450_peer(backend, "tcp")
    return {"resource": peer.resource, "visa_library": "@py"}, peer.close


def _eurotherm(backend: Any, _: Path, clock: Clock) -> tuple[dict, Callable[[], None]]:
    from simslab.simulators.peers.eurotherm_peer import start_eurotherm_peer

    peer = start_eurotherm_peer(backend)
    return {"port": peer.port_url}, peer.close


def _emstat(backend: Any, _: Path, clock: Clock) -> tuple[dict, Callable[[], None]]:
    from simslab.simulators.peers.emstat_peer import start_emstat_peer

    peer = start_emstat_peer(backend, transport="tcp")
    return {"port": peer.port}, peer.close


def _iontof(backend: Any, folder: Path, clock: Clock) -> tuple[dict, Callable[[], None]]:
    from simslab.simulators.peers.iontof_peer import IontofPeer

    requests, results = folder / "requests", folder / "results"
    for path in (requests, results):
        path.mkdir(parents=True)
    peer = IontofPeer(backend, requests, results, poll_s=10.0)
    return {"request_dir": requests, "result_dir": results}, _run_on_loop(peer, clock)


def _operator(backend: Any, folder: Path, clock: Clock) -> tuple[dict, Callable[[], None]]:
    from simslab.simulators.peers.operator_peer import OperatorPeer

    folder.mkdir(parents=True)
    peer = OperatorPeer(backend, folder, poll_s=10.0)
    return {"handoff_dir": folder}, _run_on_loop(peer, clock)


def _run_on_loop(peer: Any, clock: Clock) -> Callable[[], None]:
    """Start a folder peer as a task on the session loop (it must follow the virtual clock)."""
    loop = clock.loop
    loop.call_soon_threadsafe(peer.start, loop)
    return lambda: loop.call_soon_threadsafe(peer.stop)


_START: dict[str, Callable[[Any, Path, Clock], tuple[dict, Callable[[], None]]]] = {
    "lakeshore336": _lakeshore,
    "lakeshore335": _lakeshore,
    "keithley2450": _keithley,
    "eurotherm": _eurotherm,
    "emstat4": _emstat,
    "iontof_handoff": _iontof,
    "operator": _operator,
}
