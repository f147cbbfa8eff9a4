"""The person moving the sample, played by a task in front of a SampleHandlerDriver.

It does what the operator does in the lab: watch the hand-off folder for a pending transfer
request, carry it out (on the backend, any :class:`SampleHandlerDriver`: the twin's sample
handler in the lab-on-twin mode), and confirm it with :func:`confirm_transfer` once the
backend reports it complete. It runs as an asyncio task on the session's event loop (see
:mod:`polling_peer`), and dates its confirmations with the loop's (virtual) time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from simslab.clock import VirtualTimeEventLoop
from simslab.devices.drivers.operator_handoff import confirm_transfer, pending_requests
from simslab.devices.drivers.protocols import SampleHandlerDriver

from .polling_peer import PollingPeer

__all__ = ["OperatorPeer", "start_operator_peer"]

logger = logging.getLogger(__name__)


def start_operator_peer(backend: SampleHandlerDriver, handoff_dir: Path, poll_s: float = 1.0,
                        loop=None) -> OperatorPeer:
    """Start an operator peer as a task on ``loop`` (default: the running loop); return it."""
    peer = OperatorPeer(backend, handoff_dir, poll_s)
    peer.start(loop)
    return peer


class OperatorPeer(PollingPeer):
    """Carries out pending transfer requests on a SampleHandlerDriver and confirms them."""

    name = "operator"

    def __init__(self, backend: SampleHandlerDriver, handoff_dir: Path, poll_s: float = 1.0):
        super().__init__(backend, poll_s)
        self.handoff_dir = Path(handoff_dir)
        self.confirmed: list[str] = []
        """Request ids confirmed so far, oldest first."""
        self._current: str | None = None

    async def poll(self) -> None:
        """Hand the newest pending request to the backend; confirm it once the backend is done."""
        pending = pending_requests(self.handoff_dir)
        if not pending:
            self._current = None
            return
        newest = pending[-1]
        if newest.request_id != self._current:  # a new request, or one that replaced ours
            await self.call_backend(self.backend.request_transfer, newest.destination, newest.note)
            self._current = newest.request_id
            logger.info("operator peer: moving the sample to %s (transfer %s)", newest.destination, newest.request_id)
        if await self.call_backend(self.backend.transfer_complete):
            confirm_transfer(self.handoff_dir, newest.request_id, now=_session_time())
            self.confirmed.append(newest.request_id)
            self._current = None


def _session_time() -> Callable[[], float]:
    """Return the clock confirmations are dated with: the virtual loop's time, else wall time."""
    loop = asyncio.get_running_loop()
    return loop.time if isinstance(loop, VirtualTimeEventLoop) else time.time
