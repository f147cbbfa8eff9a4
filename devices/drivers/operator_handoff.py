"""Sample transfers done by a person: requests and confirmations as files in a hand-off folder.

Moving the tracer sample between storage, the exchange bath, the SIMS cryo stage and the
furnace is done by hand in the lab. simslab asks for each move and waits for the person to
confirm it:

- ``request_transfer`` writes ``<id>.transfer.json`` (id, destination, note, time) into
  ``handoff_dir``, atomically; a newer request replaces a pending older one.
- The person moves the sample and runs ``simslab confirm`` (which calls
  :func:`confirm_transfer`): it writes ``<id>.confirmed.json`` and ``location.json``.
- ``transfer_complete`` is True once the confirmation exists; ``read_location`` answers
  ``in_transfer`` while a request is pending, else the destination of the last confirmed
  transfer, from ``location.json``, so a restarted process still knows where the sample is.

The driver never sleeps: the device polls it, on the session clock (``now``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import FiniteFloat, TypeAdapter
from typing_extensions import NotRequired, TypedDict

from simslab.errors import InstrumentTimeout, ValidationError

from .base import InstrumentDriver
from .handoff_folder import read_document, visible_files, write_json_atomic
from .protocols import SAMPLE_LOCATIONS
from .settings import OperatorHandoffSettings

__all__ = ["OperatorHandoff", "TransferRequest", "confirm_transfer", "pending_requests", "read_confirmed_location",
           "DEFAULT_LOCATION"]

logger = logging.getLogger(__name__)

TRANSFER_SUFFIX = ".transfer.json"
CONFIRMED_SUFFIX = ".confirmed.json"
LOCATION_FILE = "location.json"
DEFAULT_LOCATION = "storage"
"""Where the sample is taken to be before any transfer was ever confirmed in a hand-off folder."""


@dataclasses.dataclass(frozen=True)
class TransferRequest:
    """One requested move: its id, destination (one of SAMPLE_LOCATIONS), note and time (epoch s)."""

    request_id: str
    destination: str
    note: str
    requested_s: float


class _TransferFile(TypedDict):
    """What ``<id>.transfer.json`` holds (every field, none null)."""

    request_id: str
    destination: Literal[SAMPLE_LOCATIONS]
    note: str
    requested_s: FiniteFloat


class _LocationFile(TypedDict):
    """What ``location.json`` holds: the location, and which confirmation wrote it when (optional)."""

    location: Literal[SAMPLE_LOCATIONS]
    request_id: NotRequired[str]
    confirmed_s: NotRequired[FiniteFloat]


_TRANSFER_SCHEMA = TypeAdapter(_TransferFile)
_LOCATION_SCHEMA = TypeAdapter(_LocationFile)


class OperatorHandoff(InstrumentDriver):
    """The sample handler as a person with a hand-off folder (see the module docstring)."""

    def __init__(self, settings: OperatorHandoffSettings, now: Callable[[], float] = time.time,
                 name: str = "sample_handler"):
        super().__init__(name, str(settings.handoff_dir), settings.timeout_s or 0.0)
        self.settings = settings
        self.now = now
        self._last: TransferRequest | None = None

    def connect(self) -> None:
        """Create the hand-off folder if needed; pick up a request left pending by an earlier run."""
        self.exchange("open hand-off folder", lambda: self.settings.handoff_dir.mkdir(parents=True, exist_ok=True))
        pending = self.exchange("list pending transfers", lambda: pending_requests(self.settings.handoff_dir))
        if pending:
            self._last = pending[-1]
            logger.info("%s: transfer %s to %s still pending", self.name, self._last.request_id, self._last.destination)

    def close(self) -> None:
        """Nothing to release (requests stay on disk)."""

    def identify(self) -> str:
        """Return a description of the seam."""
        return f"operator hand-off in {self.settings.handoff_dir}"

    def read_location(self) -> str:
        """Return ``in_transfer`` while a request is pending, else the last confirmed location."""
        if self._last is not None and not self._confirmed(self._last):
            return "in_transfer"
        return self.exchange("read location", lambda: read_confirmed_location(self.settings.handoff_dir))

    def request_transfer(self, location: str, note: str = "") -> None:
        """Write a transfer request for ``location`` (one of SAMPLE_LOCATIONS); return at once."""
        if location not in SAMPLE_LOCATIONS:
            raise ValidationError("request_transfer", "location", location, f"one of {', '.join(SAMPLE_LOCATIONS)}")
        directory = self.settings.handoff_dir
        request = TransferRequest(uuid.uuid4().hex[:8], location, note, self.now())
        command = f"write {request.request_id}{TRANSFER_SUFFIX}"

        def write() -> None:
            for stale in pending_requests(directory):  # a newer request replaces a pending one
                (directory / f"{stale.request_id}{TRANSFER_SUFFIX}").unlink(missing_ok=True)
                logger.warning("%s: transfer %s to %s replaced by %s", self.name, stale.request_id,
                               stale.destination, request.request_id)
            write_json_atomic(directory / f"{request.request_id}{TRANSFER_SUFFIX}", dataclasses.asdict(request))

        self.exchange(command, write)
        self._last = request
        logger.info("%s: please move the sample to %s (transfer %s)%s", self.name, location, request.request_id,
                    f": {note}" if note else "")

    def transfer_complete(self) -> bool:
        """Return True once the last request is confirmed (True if none was made).

        Raises InstrumentTimeout once ``settings.timeout_s`` has passed without a confirmation.
        """
        request = self._last
        if request is None or self._confirmed(request):
            return True
        waited = self.now() - request.requested_s
        if self.settings.timeout_s is not None and waited > self.settings.timeout_s:
            raise InstrumentTimeout(self.name, f"wait for {request.request_id}{CONFIRMED_SUFFIX}", None,
                                    f"transfer to {request.destination} not confirmed after {waited:.0f} s "
                                    f"(timeout {self.settings.timeout_s:g} s)")
        return False

    def _confirmed(self, request: TransferRequest) -> bool:
        path = self.settings.handoff_dir / f"{request.request_id}{CONFIRMED_SUFFIX}"
        return self.exchange(f"look for {path.name}", path.exists)


def pending_requests(handoff_dir: Path) -> list[TransferRequest]:
    """Return the transfer requests in ``handoff_dir`` not yet confirmed, oldest first.

    Raises HandoffFileError (a ValueError) naming the file and field of a malformed transfer file.
    """
    handoff_dir = Path(handoff_dir)
    pending = []
    for path in visible_files(handoff_dir, TRANSFER_SUFFIX):
        request = TransferRequest(**read_document(path, _TRANSFER_SCHEMA))
        if not (handoff_dir / f"{request.request_id}{CONFIRMED_SUFFIX}").exists():
            pending.append(request)
    return sorted(pending, key=lambda r: r.requested_s)


def confirm_transfer(handoff_dir: Path, request_id: str | None = None,
                     now: Callable[[], float] = time.time) -> TransferRequest:
    """Confirm a pending transfer (the only one, or ``request_id``) and record the new location.

    Raises ValueError when nothing is pending, the id is not pending, or several are pending
    and no id was given.
    """
    handoff_dir = Path(handoff_dir)
    pending = pending_requests(handoff_dir)
    if request_id is None:
        if not pending:
            raise ValueError(f"no transfer is waiting for confirmation in {handoff_dir}")
        if len(pending) > 1:
            ids = ", ".join(f"{r.request_id} ({r.destination})" for r in pending)
            raise ValueError(f"several transfers are pending ({ids}): name the one to confirm")
        request = pending[0]
    else:
        matches = [r for r in pending if r.request_id == request_id]
        if not matches:
            ids = ", ".join(r.request_id for r in pending) or "none"
            raise ValueError(f"transfer {request_id!r} is not pending in {handoff_dir} (pending: {ids})")
        request = matches[0]
    confirmed_s = now()
    record = {**dataclasses.asdict(request), "confirmed_s": confirmed_s}
    write_json_atomic(handoff_dir / f"{request.request_id}{CONFIRMED_SUFFIX}", record)
    write_json_atomic(handoff_dir / LOCATION_FILE, {"location": request.destination,
                                                    "request_id": request.request_id, "confirmed_s": confirmed_s})
    logger.info("transfer %s confirmed: sample at %s", request.request_id, request.destination)
    return request


def read_confirmed_location(handoff_dir: Path) -> str:
    """Return the location recorded by the last confirmation, or DEFAULT_LOCATION if none.

    Raises HandoffFileError (a ValueError) naming the file if its location is not one of
    SAMPLE_LOCATIONS.
    """
    path = Path(handoff_dir) / LOCATION_FILE
    if not path.exists():
        return DEFAULT_LOCATION
    return read_document(path, _LOCATION_SCHEMA)["location"]
