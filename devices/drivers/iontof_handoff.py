"""IONTOF TOF.SIMS 5 acquisitions handed off through shared folders.

IONTOF's SurfaceLab has NO public remote-control API: no documented socket, COM interface or
command line that starts a measurement was found in any public code, issue tracker or manual
(2026-11). So this driver does not pretend to control the instrument. It builds the cleanest
real seam there is, a file hand-off:

1. ``start_acquisition`` writes the request, a JSON document (kind, region, raster, pixels,
   masses, beams, integration time, output name, and a one-line summary for a person), as
   ``<output_name>.request.json`` into ``request_dir``, atomically.
2. The operator, or a site script on the acquisition PC (GUI automation, a SurfaceLab macro),
   runs the measurement and exports the images as ``<output_name>.bif6`` (or saves
   ``<output_name>.ita``) into ``result_dir``. Optional beside it: ``<output_name>.result.json``
   with ``started_s``, ``finished_s``, ``primary_ions``, ``depth_m``; or, if the measurement
   could not be taken, ``<output_name>.failed.json`` with a ``message``.
3. ``read_acquisition`` reports ``running`` until the result is complete (a BIF6 file as long
   as its header says; an ITA file whose size held still between two polls) and raises
   InstrumentTimeout once the expected duration plus ``settings.timeout_s`` has passed.
4. ``fetch_result`` reads the images and maps them onto the requested mass labels by their
   mass windows. ``abort`` writes ``<output_name>.abort.json``.

What a lab must configure: a folder both the simslab PC and the acquisition PC reach
(``request_dir``), the export folder SurfaceLab writes to (``result_dir``), an export of each
requested mass as a BIF6 image (or an ITA save, read with pySPM, which is reverse-engineered
and comes with no guarantee), and a person or script that watches ``request_dir``.

The driver never sleeps: the device polls it. Time comes from ``now`` (epoch s), the session
clock, so the timeout holds on a virtual clock too.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, FiniteFloat, TypeAdapter
from typing_extensions import TypedDict

from simslab.errors import InstrumentError, InstrumentTimeout, ValidationError

from .base import InstrumentDriver
from .bif6 import Bif6Image, bif6_is_complete, decode_bif6, images_for_masses, mass_window
from .handoff_folder import read_document, read_json, write_json_atomic
from .protocols import AcquisitionRequest, AcquisitionResult, AcquisitionState, Beam, MassChannel
from .settings import IontofHandoffSettings

__all__ = [
    "IontofHandoff",
    "request_to_json",
    "request_from_json",
    "result_images",
    "result_sidecar",
    "expected_duration_s",
    "ResultSidecar",
    "REQUEST_SUFFIX",
    "ABORT_SUFFIX",
    "SIDECAR_SUFFIX",
    "FAILED_SUFFIX",
]

logger = logging.getLogger(__name__)

REQUEST_SUFFIX = ".request.json"
ABORT_SUFFIX = ".abort.json"
SIDECAR_SUFFIX = ".result.json"
FAILED_SUFFIX = ".failed.json"
REQUEST_FORMAT = "simslab-sims-request/1"
ELEMENTARY_CHARGE_C = 1.602176634e-19
_OUTPUT_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


class ResultSidecar(TypedDict, total=False):
    """The optional ``<output_name>.result.json`` beside a result: each key may be left out, none be null.

    ``started_s``/``finished_s`` epoch s (else the times the driver saw), ``primary_ions`` the
    ions delivered (else current x analysis time / e), ``depth_m`` the depth of each frame of
    a depth profile in m, ``metadata`` anything the site adds to the run's metadata.
    """

    started_s: FiniteFloat
    finished_s: FiniteFloat
    primary_ions: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    depth_m: list[FiniteFloat]
    metadata: dict[str, Any]


_SIDECAR_SCHEMA = TypeAdapter(ResultSidecar)


class IontofHandoff(InstrumentDriver):
    """The ToF-SIMS as a file hand-off (see the module docstring): start, follow, fetch, abort."""

    def __init__(self, settings: IontofHandoffSettings, now: Callable[[], float] = time.time, name: str = "iontof"):
        super().__init__(name, str(settings.request_dir), settings.timeout_s)
        self.settings = settings
        self.now = now
        self._current: _Acquisition | None = None

    def connect(self) -> None:
        """Create ``request_dir`` if needed and check both folders are reachable."""
        def check() -> None:
            self.settings.request_dir.mkdir(parents=True, exist_ok=True)
            if not self.settings.result_dir.is_dir():
                raise FileNotFoundError(f"result folder {self.settings.result_dir} does not exist")
        self.exchange("open hand-off folders", check)

    def close(self) -> None:
        """Nothing to release (a running hand-off stays on disk)."""

    def identify(self) -> str:
        """Return a description of the seam (there is no instrument to ask)."""
        return (f"IONTOF TOF.SIMS 5 via file hand-off (requests {self.settings.request_dir}, "
                f"results {self.settings.result_dir}, {self.settings.result_format})")

    def start_acquisition(self, request: AcquisitionRequest) -> None:
        """Write the request file and return at once; refuse while another one runs.

        Raises ValidationError for an output name that is not a plain file name, and
        InstrumentError if a result of that name exists already (it would be taken for the
        new one).
        """
        if not _OUTPUT_NAME.match(request.output_name):
            raise ValidationError("AcquisitionRequest", "output_name", request.output_name,
                                  "a plain file name: letters, digits, '.', '_', '-', not starting with '.'")
        if self._current is not None and self._current.state == "running":
            raise InstrumentError(self.name, "start_acquisition", None,
                                  f"acquisition {self._current.request.output_name!r} is still running")
        result_path = self._result_path(request.output_name)
        command = f"write {request.output_name}{REQUEST_SUFFIX}"
        if self.exchange(command, result_path.exists):
            raise InstrumentError(self.name, command, None, f"{result_path} exists already: choose a new output name")
        started_s = self.now()
        acquisition = _Acquisition(request, uuid.uuid4().hex, started_s,
                                   started_s + expected_duration_s(request) + self.settings.timeout_s)
        document = {
            "format": REQUEST_FORMAT,
            "request_id": acquisition.request_id,
            "requested_s": started_s,
            "summary": _summary(request),
            "result_file": result_path.name,
            "result_format": self.settings.result_format,
            "expected_duration_s": expected_duration_s(request),
            "acquisition": request_to_json(request),
        }
        self.exchange(command, lambda: write_json_atomic(self._request_path(request.output_name), document))
        self._current = acquisition
        logger.info("%s: requested %s (%s)", self.name, request.output_name, document["summary"])

    def read_acquisition(self) -> AcquisitionState:
        """Return idle, running, done, aborted or failed; raise InstrumentTimeout past the deadline."""
        acquisition = self._current
        if acquisition is None:
            return AcquisitionState("idle")
        if acquisition.state != "running":
            return AcquisitionState(acquisition.state, acquisition.elapsed_s, acquisition.message)
        now = self.now()
        name = acquisition.request.output_name
        failed = self.settings.result_dir / f"{name}{FAILED_SUFFIX}"
        command = f"look for {self._result_path(name)}"
        if self.exchange(command, failed.exists):
            document = self.exchange(f"read {failed}", lambda: read_json(failed))
            acquisition.finish("failed", now, str(document.get("message", "the operator reported a failure")))
        elif self.exchange(command, lambda: self._result_complete(acquisition)):
            acquisition.finish("done", now, f"result in {self._result_path(name)}")
        elif now > acquisition.deadline_s:
            waited = now - acquisition.started_s
            expected = expected_duration_s(acquisition.request)
            raise InstrumentTimeout(self.name, command, None, f"no result after {waited:.0f} s (expected duration "
                                    f"{expected:.0f} s + {self.settings.timeout_s:g} s grace)")
        else:
            waiting = f"waiting for {self._result_path(name).name}"
            return AcquisitionState("running", now - acquisition.started_s, waiting)
        return AcquisitionState(acquisition.state, acquisition.elapsed_s, acquisition.message)

    def fetch_result(self) -> AcquisitionResult:
        """Read the finished acquisition's file and return its counts per mass label."""
        acquisition = self._current
        if acquisition is None or acquisition.state != "done":
            state = "no acquisition" if acquisition is None else f"acquisition {acquisition.state}"
            raise InstrumentError(self.name, "fetch_result", None, f"no finished result to fetch ({state})")
        request = acquisition.request
        path = self._result_path(request.output_name)
        command = f"read {path}"
        if self.settings.result_format == "bif6":
            data = self.exchange(command, path.read_bytes)
            try:
                images = decode_bif6(data, str(path))
                counts = _counts_by_kind(request, images_for_masses(images, request.masses, str(path)))
            except ValueError as exc:  # Bif6FormatError included
                raise InstrumentError(self.name, command, f"{len(data)} bytes", str(exc)) from exc
            mass_axis = None
        else:
            counts, mass_axis = self.exchange(command, lambda: _read_ita(path, request))
        sidecar_path = self.settings.result_dir / f"{request.output_name}{SIDECAR_SUFFIX}"
        sidecar: ResultSidecar = self.exchange(f"read {sidecar_path}", lambda: (
            read_document(sidecar_path, _SIDECAR_SCHEMA) if sidecar_path.exists() else {}))
        depth = sidecar.get("depth_m")
        return AcquisitionResult(
            counts=counts,
            primary_ions=sidecar.get("primary_ions", _primary_ions(request)),
            started_s=sidecar.get("started_s", acquisition.started_s),
            finished_s=sidecar.get("finished_s", acquisition.finished_s),
            depth_m=None if depth is None else np.asarray(depth, dtype=float),
            mass_axis_u=mass_axis,
            metadata={"request_id": acquisition.request_id, "result_file": str(path), "source": "iontof_handoff",
                      **sidecar.get("metadata", {})},
        )

    def abort(self) -> None:
        """Write the abort request for the running acquisition (nothing to do when idle)."""
        acquisition = self._current
        if acquisition is None or acquisition.state != "running":
            return
        name = acquisition.request.output_name
        document = {"format": REQUEST_FORMAT, "request_id": acquisition.request_id, "abort": name,
                    "requested_s": self.now()}
        self.exchange(f"write {name}{ABORT_SUFFIX}", lambda: write_json_atomic(
            self.settings.request_dir / f"{name}{ABORT_SUFFIX}", document))
        acquisition.finish("aborted", self.now(), "abort requested")
        logger.warning("%s: abort requested for %s", self.name, name)

    def _request_path(self, output_name: str) -> Path:
        return self.settings.request_dir / f"{output_name}{REQUEST_SUFFIX}"

    def _result_path(self, output_name: str) -> Path:
        return self.settings.result_dir / f"{output_name}.{self.settings.result_format}"

    def _result_complete(self, acquisition: _Acquisition) -> bool:
        path = self._result_path(acquisition.request.output_name)
        if self.settings.result_format == "bif6":
            return bif6_is_complete(path)
        size = path.stat().st_size if path.exists() else 0
        settled = size > 0 and size == acquisition.last_size  # an ITA save that held still for a poll
        acquisition.last_size = size
        return settled


@dataclasses.dataclass
class _Acquisition:
    """The hand-off in flight: its request, times on the session clock, and where it stands."""

    request: AcquisitionRequest
    request_id: str
    started_s: float
    deadline_s: float
    state: str = "running"
    finished_s: float = 0.0
    message: str = ""
    last_size: int = -1

    @property
    def elapsed_s(self) -> float:
        return self.finished_s - self.started_s

    def finish(self, state: str, now: float, message: str) -> None:
        self.state, self.finished_s, self.message = state, now, message


def expected_duration_s(request: AcquisitionRequest) -> float:
    """Return the duration an acquisition should take in s: cleaning, sputtering and analysis."""
    frames = max(1, request.sputter_cycles) if request.kind == "depth_profile" else 1
    sputter = request.sputter_cycles * request.sputter_time_s if request.kind == "depth_profile" else 0.0
    return request.cleaning_time_s + sputter + frames * request.integration_s


def request_to_json(request: AcquisitionRequest) -> dict[str, Any]:
    """Return the request as a JSON-ready dict (SI units, field names as in AcquisitionRequest)."""
    return dataclasses.asdict(request)


def request_from_json(document: dict[str, Any]) -> AcquisitionRequest:
    """Rebuild an AcquisitionRequest from :func:`request_to_json`'s dict (as read from JSON)."""
    fields = dict(document)
    fields["masses"] = tuple(MassChannel(**m) for m in fields["masses"])
    fields["pixels"] = tuple(fields["pixels"])
    for beam in ("primary", "sputter", "cleaning"):
        if fields.get(beam) is not None:
            fields[beam] = Beam(**{**fields[beam], "raster_m": tuple(fields[beam]["raster_m"])})
    return AcquisitionRequest(**fields)


def result_images(request: AcquisitionRequest, result: AcquisitionResult) -> list[Bif6Image]:
    """Return the BIF6 images of a result: one per mass, or per (frame, mass) for a depth profile.

    Line scans become 1 x n images, 1D depth profiles 1 x 1 images per frame. Raises
    ValueError for a spectrum, which BIF6 (an image format) cannot hold.
    """
    if request.kind == "spectrum":
        raise ValueError("a spectrum cannot be exported as BIF6 images (use ITA)")
    stacks = {}
    for channel in request.masses:
        counts = np.asarray(result.counts[channel.label])
        if request.kind == "line_scan":
            counts = counts.reshape(1, 1, -1)
        elif request.kind == "depth_profile":
            counts = counts.reshape(counts.shape[0], 1, 1) if counts.ndim == 1 else counts
        else:
            counts = counts[np.newaxis]
        stacks[channel] = counts
    frames = next(iter(stacks.values())).shape[0]
    images = []
    for frame in range(frames):
        for index, (channel, counts) in enumerate(stacks.items()):
            images.append(mass_window(channel, counts[frame], image_id=frame * len(stacks) + index + 1))
    return images


def result_sidecar(result: AcquisitionResult) -> dict[str, Any]:
    """Return the ``<output_name>.result.json`` document of a result (times, ions, depths)."""
    document: dict[str, Any] = {"started_s": result.started_s, "finished_s": result.finished_s,
                                "primary_ions": result.primary_ions}
    if result.depth_m is not None:
        document["depth_m"] = [float(d) for d in np.asarray(result.depth_m)]
    return document


def _counts_by_kind(request: AcquisitionRequest, found: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Give each mass's counts the shape the protocol promises for the request's kind."""
    shaped = {}
    for label, counts in found.items():
        if request.kind == "line_scan":
            counts = counts.reshape(-1)
        elif request.kind == "depth_profile":
            counts = counts[np.newaxis] if counts.ndim == 2 else counts
            if counts.shape[1:] == (1, 1):
                counts = counts.reshape(-1)
        elif counts.ndim == 3:
            raise ValueError(f"{label}: {counts.shape[0]} images found for one {request.kind} (expected one)")
        shaped[label] = counts.astype(np.uint32)
    return shaped


def _read_ita(path: Path, request: AcquisitionRequest) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Read an ITA file with pySPM: the summed image of each mass, or the total spectrum."""
    import pySPM  # reverse-engineered reader, imported only where a lab uses ITA

    ita = pySPM.ITA(str(path))
    if request.kind == "spectrum":
        mass_axis, spectrum = ita.get_spectrum()
        return {"total": np.asarray(spectrum).astype(np.uint32)}, np.asarray(mass_axis, dtype=float)
    found = {}
    for channel in request.masses:
        image, _channels = ita.get_added_image_by_mass(channel.mass_u, raw=True)
        found[channel.label] = np.rint(np.asarray(image)).astype(np.uint32)
    return _counts_by_kind(request, found), None


def _primary_ions(request: AcquisitionRequest) -> float:
    """Primary ions delivered: current x analysis time / e (frames x integration for a depth profile)."""
    frames = max(1, request.sputter_cycles) if request.kind == "depth_profile" else 1
    return request.primary.current_a * request.integration_s * frames / ELEMENTARY_CHARGE_C


def _summary(request: AcquisitionRequest) -> str:
    """One line a person at the acquisition PC can act on."""
    beam = request.primary
    fov = "x".join(f"{r * 1e6:g}" for r in request.raster_m)
    masses = ", ".join(f"{m.label} ({m.mass_u:g} u)" for m in request.masses)
    text = (f"{request.kind} of {request.region}: {request.pixels[0]}x{request.pixels[1]} px over {fov} um, "
            f"{beam.species} {beam.energy_ev / 1e3:g} keV {beam.current_a * 1e12:g} pA, "
            f"{request.integration_s:g} s, masses {masses}")
    if request.kind == "depth_profile" and request.sputter is not None:
        text += (f"; {request.sputter_cycles} cycles of {request.sputter.species} "
                 f"{request.sputter.energy_ev / 1e3:g} keV for {request.sputter_time_s:g} s")
    return text + f"; export as {request.output_name}"
