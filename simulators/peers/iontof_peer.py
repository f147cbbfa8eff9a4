"""The acquisition PC's side of the IONTOF hand-off, played by a task in front of a SimsDriver.

It does what the operator or a site script does in the lab: watch ``request_dir`` for
``<name>.request.json``, run the acquisition, and export the images as ``<name>.bif6`` into
``result_dir`` (with ``<name>.result.json`` beside it: times, primary ions, depths), or write
``<name>.failed.json`` when the acquisition fails. An ``<name>.abort.json`` stops it.

The acquisition itself runs on the backend, any :class:`SimsDriver` (the twin's SIMS in the
lab-on-twin mode). The peer runs as an asyncio task on the session's event loop (see
:mod:`polling_peer`), so it follows the virtual clock; call ``start(loop)`` or await ``run()``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from simslab.devices.drivers.bif6 import write_bif6
from simslab.devices.drivers.handoff_folder import read_json, visible_files, write_json_atomic
from simslab.devices.drivers.iontof_handoff import (
    ABORT_SUFFIX,
    FAILED_SUFFIX,
    REQUEST_SUFFIX,
    SIDECAR_SUFFIX,
    request_from_json,
    result_images,
    result_sidecar,
)
from simslab.devices.drivers.protocols import AcquisitionRequest, SimsDriver

from .polling_peer import PollingPeer

__all__ = ["IontofPeer", "start_iontof_peer"]

logger = logging.getLogger(__name__)


def start_iontof_peer(backend: SimsDriver, request_dir: Path, result_dir: Path, poll_s: float = 1.0,
                      loop=None) -> IontofPeer:
    """Start an IONTOF peer as a task on ``loop`` (default: the running loop); return it."""
    peer = IontofPeer(backend, request_dir, result_dir, poll_s)
    peer.start(loop)
    return peer


class IontofPeer(PollingPeer):
    """Runs the hand-off's requests on a SimsDriver and exports the results as BIF6 files."""

    name = "iontof"

    def __init__(self, backend: SimsDriver, request_dir: Path, result_dir: Path, poll_s: float = 1.0):
        super().__init__(backend, poll_s)
        self.request_dir = Path(request_dir)
        self.result_dir = Path(result_dir)
        self.finished: list[str] = []
        """Output names handled so far (exported, failed or aborted), oldest first."""
        self._running: AcquisitionRequest | None = None

    async def poll(self) -> None:
        """Start the next waiting request, or follow the running one."""
        if self._running is None:
            await self._start_next()
        else:
            await self._follow(self._running)

    async def _start_next(self) -> None:
        for path in visible_files(self.request_dir, REQUEST_SUFFIX):
            name = path.name[: -len(REQUEST_SUFFIX)]
            if name in self.finished or self._answered(name):
                continue
            if (self.request_dir / f"{name}{ABORT_SUFFIX}").exists():
                self._finish(name, "aborted before it started")
                continue
            document = read_json(path)
            try:
                if document.get("result_format", "bif6") != "bif6":
                    raise ValueError(f"this peer exports BIF6 only, {document['result_format']!r} was asked for")
                request = request_from_json(document["acquisition"])
                await self.call_backend(self.backend.start_acquisition, request)
            except Exception as exc:
                logger.warning("iontof peer: %s could not start: %s", name, exc)
                self._fail(name, f"could not start: {exc}")
                continue
            logger.info("iontof peer: started %s", name)
            self._running = request
            return

    async def _follow(self, request: AcquisitionRequest) -> None:
        name = request.output_name
        if (self.request_dir / f"{name}{ABORT_SUFFIX}").exists():
            await self.call_backend(self.backend.abort)
            self._finish(name, "aborted on request")
            return
        state = await self.call_backend(self.backend.read_acquisition)
        if state.state == "running":
            return
        if state.state == "done":
            try:
                result = await self.call_backend(self.backend.fetch_result)
                images = result_images(request, result)
            except Exception as exc:
                self._fail(name, f"export failed: {exc}")
                return
            write_json_atomic(self.result_dir / f"{name}{SIDECAR_SUFFIX}", result_sidecar(result))
            write_bif6(self.result_dir / f"{name}.bif6", images)  # last: its appearance means done
            self._finish(name, f"exported {len(images)} images")
        else:
            self._fail(name, f"acquisition {state.state}: {state.message}")

    def _answered(self, name: str) -> bool:
        return any((self.result_dir / f"{name}{suffix}").exists() for suffix in (".bif6", FAILED_SUFFIX))

    def _fail(self, name: str, message: str) -> None:
        write_json_atomic(self.result_dir / f"{name}{FAILED_SUFFIX}", {"message": message})
        self._finish(name, message)

    def _finish(self, name: str, message: str) -> None:
        logger.info("iontof peer: %s: %s", name, message)
        self.finished.append(name)
        self._running = None
