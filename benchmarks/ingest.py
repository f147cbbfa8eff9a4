"""Image ingest: MB/s of SIMS images into the embedded catalog vs plain h5py on the same disk.

Workload, one run per round, shaped like a cryo-SIMS imaging step (the plans'
``acquisition_block``: configure, stage, acquire, unstage, one detector file per kind):

- ``config.images`` full images of five masses (6Li+, 7Li+, 48Ti+, 58Ni+, 59Co+) at the
  published 512 x 206 pixels into the ``image`` stream: 2.1 MB of uint32 counts each;
- :data:`DEPTH_PROFILES` 3D depth profiles of the same masses, 50 cycles of 64 x 64 pixels
  (the published depth geometry) as the IONTOF hand-off returns them, one (cycles, y, x)
  stack per mass, into ``depth_profile``: 4.1 MB each.

Why this workload: the figure is meant for SIMS data as a lab takes it, several images of
the four or five masses of a study and depth profiles of many cycles, not two masses alone.
The earlier workload (12 images of 6Li+ and 7Li+ only, no depth profile) also compared
against an h5py write that knew the frame count in advance and filled preallocated datasets:
not the same work as a detector that learns of each frame when it comes.

Measured: the run on a RunEngine whose documents go to an embedded catalog through
``Catalog.writer()`` (journal + TiledWriter), the device appending each frame to its HDF5
file inside the catalog's readable storage and emitting StreamResource/StreamDatum. Its
driver hands over counts formed once beforehand by the twin's image model
(:class:`PreparedSims`), so the figure is the data path, not the physics.
Reference: h5py writing the same frames the same way (:func:`write_with_h5py`): one file per
kind of acquisition, a resizable dataset per mass with one chunk per frame, grown and
written frame by frame beside the frame's JSON record, the file open for the block.
MB = 1e6 bytes of counts. Target: ratio >= 0.5.
Also timed, in the same rounds, and logged (not a figure): the same run with only the journal
subscribed, so the log says how much of a run is the catalog and how much the device path.

Where the time goes (measured 2026-11, 2 busy cores): the catalog does not touch the counts
(they stay in the device's HDF5 file); TiledWriter sends tiled ~44 HTTP requests per run of
two streams of five masses, ~40 ms of server CPU each (SQLAlchemy, FastAPI dependency solving):
3 for the run, 5 per stream, 3 per (stream, mass) StreamResource, 1 per configuration change.
That fixed ~1.7 s of CPU per run, whatever its size, is what keeps the ratio far below 0.5.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from pathlib import Path

import bluesky.preprocessors as bpp
import h5py
import numpy as np
from bluesky import RunEngine
from bluesky.utils import MsgGenerator
from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider

from simslab.catalog import Catalog
from simslab.clock import VirtualClock
from simslab.devices import make_tofsims
from simslab.devices.drivers.protocols import AcquisitionRequest, AcquisitionResult, AcquisitionState
from simslab.devices.settings import SimsSettings
from simslab.devices.sims_frames import mass_data_key, request_record_json
from simslab.journal import DocumentJournal
from simslab.plans.acquisitions import CRYO_DEPTH_PROFILE, CRYO_IMAGE, MASSES_U, Acquisition, configuration, masses
from simslab.plans.imaging import acquisition_block
from simslab.profile import EmbeddedCatalogSettings
from simslab.simulators.parameters import SimsImagingParameters
from simslab.simulators.sims_image import SimsImager, primary_ions

from .harness import BenchConfig, Figure, FigureSpec, Target
from .timing import interleaved_medians

__all__ = ["SPECS", "measure", "ingest_run", "PreparedSims", "write_with_h5py", "IMAGE", "DEPTH_PROFILE",
           "DEPTH_PROFILES"]

logger = logging.getLogger(__name__)

SPEC = FigureSpec(
    "ingest_sims_images_mb_per_s", "MB/s", Target("ratio", ">=", 0.5),
    "a run of 512 x 206 images and 50-cycle depth profiles of five masses through the device, HDF5 and the "
    "embedded catalog vs the same frames appended with h5py",
)
SPECS = (SPEC,)

MB = 1e6

IMAGE = CRYO_IMAGE.model_copy(update={"masses": masses(*MASSES_U)})
"""The published cryo map (512 x 206 px) recording the five masses of the project's studies."""
DEPTH_PROFILE = CRYO_DEPTH_PROFILE.model_copy(update={"masses": masses(*MASSES_U)})
"""The published depth profile (50 cycles, 64 x 64 px analysis field) of the same five masses."""
DEPTH_PROFILES = 2
"""Depth profiles per run (beside ``config.images`` images)."""


def measure(config: BenchConfig) -> list[Figure]:
    """Alternate a catalog run, an h5py write of the same frames and the run without the catalog; return the figure.

    The run without the catalog (journal only) is logged beside the figure, not part of it.
    """
    assert config.work_dir is not None
    catalog = Catalog.open(EmbeddedCatalogSettings(directory=config.work_dir / "ingest-catalog"))
    clock = VirtualClock()
    run_engine = RunEngine({}, loop=clock.loop)
    clock.loop.may_jump = lambda: run_engine.state == "running"
    settings = SimsSettings(dose_budget_ions_per_m2=1e30)  # each image is ~half the real budget
    driver = PreparedSims(np.random.default_rng(1))
    files = StaticPathProvider(UUIDFilenameProvider(), catalog.assets_directory / "sims")
    sims = make_tofsims(driver, settings, clock, files)
    reference_dir = catalog.assets_directory / "h5py-reference"
    blocks = ((IMAGE, config.images), (DEPTH_PROFILE, DEPTH_PROFILES))
    try:
        asyncio.run_coroutine_threadsafe(sims.connect(), clock.loop).result(30)
        store = catalog.writer()
        journal_only = DocumentJournal(config.work_dir / "ingest-journal-only")
        reference_blocks = [(*_prepared_block(sims, driver, acquisition, clock), count)
                            for acquisition, count in blocks]
        megabytes = sum(count * sum(f.nbytes for f in frames.values()) for frames, _, count in reference_blocks) / MB

        def run_with(callback) -> float:
            token = run_engine.subscribe(callback)
            try:
                started = time.perf_counter()
                run_engine(ingest_run(sims, config.images, DEPTH_PROFILES))
                return megabytes / (time.perf_counter() - started)
            finally:
                run_engine.unsubscribe(token)

        def with_h5py() -> float:
            started = time.perf_counter()
            for frames, record, count in reference_blocks:
                write_with_h5py(reference_dir / f"{uuid.uuid4()}.h5", frames, count, record)
            return megabytes / (time.perf_counter() - started)

        medians = interleaved_medians({"catalog": lambda: run_with(store), "h5py": with_h5py,
                                       "without_catalog": lambda: run_with(journal_only)}, config.repeats)
        _check_stored(catalog, config)
    finally:
        clock.loop.call_soon_threadsafe(clock.loop.stop)
        catalog.close()
    value, reference, uncatalogued = medians["catalog"], medians["h5py"], medians["without_catalog"]
    logger.info("ingest: catalog %.1f MB/s, h5py %.1f MB/s (%.1f MB per run); the same run without the catalog "
                "(RunEngine, device, HDF5, journal) %.1f MB/s: the catalog adds %.2f s per run",
                value, reference, megabytes, uncatalogued, megabytes / value - megabytes / uncatalogued)
    return [SPEC.measured(value, reference)]


def ingest_run(sims, images: int, depth_profiles: int) -> MsgGenerator[str]:
    """One run: ``images`` images into ``image``, then ``depth_profiles`` depth profiles into ``depth_profile``."""

    @bpp.run_decorator(md={"plan_name": "ingest_benchmark", "images": images, "depth_profiles": depth_profiles})
    def run() -> MsgGenerator[None]:
        yield from acquisition_block(sims, IMAGE, "image", repeat=images)
        yield from acquisition_block(sims, DEPTH_PROFILE, "depth_profile", repeat=depth_profiles)

    return (yield from run())


def write_with_h5py(path: Path, frames: dict[str, np.ndarray], count: int, record: str) -> None:
    """Append ``count`` copies of each frame and of its JSON record to a new HDF5 file (the reference).

    The way a detector must write: the number of frames is not known in advance, so each
    dataset is resizable with one chunk per frame and grows by one frame at a time.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        datasets = {
            key: h5.create_dataset(key, shape=(0, *frame.shape), maxshape=(None, *frame.shape), dtype=frame.dtype,
                                   chunks=(1, *frame.shape))
            for key, frame in frames.items()
        }
        records = h5.create_dataset("request_json", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype())
        for index in range(count):
            for key, frame in frames.items():
                datasets[key].resize(index + 1, axis=0)
                datasets[key][index] = frame
            records.resize(index + 1, axis=0)
            records[index] = record


class PreparedSims:
    """A SimsDriver whose acquisitions finish at once with counts formed beforehand.

    The counts of a request's masses are drawn once per (kind, pixels, cycles, masses) with
    the twin's image model on a random 6Li-fraction map (the other masses uniform), then
    handed out again for every acquisition. A depth profile is a (cycles, y, x) stack of
    such images, one per analysis frame.
    """

    name = "sims"
    blocking = False

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._imager = SimsImager(SimsImagingParameters(), rng)
        self._prepared: dict[tuple, dict[str, np.ndarray]] = {}
        self._request: AcquisitionRequest | None = None

    def connect(self) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """Nothing to release."""

    def identify(self) -> str:
        return "prepared counts (benchmark)"

    def start_acquisition(self, request: AcquisitionRequest) -> None:
        self._request = request

    def read_acquisition(self) -> AcquisitionState:
        return AcquisitionState("done" if self._request is not None else "idle")

    def fetch_result(self) -> AcquisitionResult:
        request = self._request
        assert request is not None, "fetch_result before start_acquisition"
        return AcquisitionResult(self.frames_of(request), primary_ions=primary_ions(request), started_s=0.0,
                                 finished_s=request.integration_s)

    def abort(self) -> None:
        self._request = None

    def frames_of(self, request: AcquisitionRequest) -> dict[str, np.ndarray]:
        """Return the uint32 counts per mass label of an image or 3D depth-profile request."""
        if request.kind not in ("image", "depth_profile"):
            raise ValueError(f"PreparedSims forms images and depth profiles, not {request.kind!r}")
        cycles = request.sputter_cycles if request.kind == "depth_profile" else 0
        key = (request.kind, request.pixels, cycles, tuple(m.label for m in request.masses))
        if key not in self._prepared:
            image = dataclasses.replace(request, kind="image", sputter=None, sputter_cycles=0)
            if cycles:
                stacks = [self._image_counts(image) for _ in range(cycles)]
                self._prepared[key] = {label: np.stack([s[label] for s in stacks]) for label in stacks[0]}
            else:
                self._prepared[key] = self._image_counts(image)
        return self._prepared[key]

    def _image_counts(self, request: AcquisitionRequest) -> dict[str, np.ndarray]:
        nx, ny = request.pixels
        fraction = self._rng.uniform(0.07, 0.9, (ny, nx))
        useful_yield = SimsImagingParameters().useful_yield["Li"]
        maps = {m.label: np.full((ny, nx), useful_yield) for m in request.masses}
        maps.update({"6Li+": useful_yield * fraction, "7Li+": useful_yield * (1 - fraction)})
        result = self._imager.acquire(request, maps, request.raster_m[0] / nx, 0.0, request.integration_s)
        return {label: counts.astype(np.uint32) for label, counts in result.counts.items()}


def _prepared_block(sims, driver: PreparedSims, acquisition: Acquisition,
                    clock: VirtualClock) -> tuple[dict[str, np.ndarray], str]:
    """Return the frames (by data key) and the JSON record the device writes per acquisition of a kind."""
    sims.configure(**configuration(acquisition))
    request = asyncio.run_coroutine_threadsafe(sims.build_request(), clock.loop).result(30)
    driver.start_acquisition(request)
    result = driver.fetch_result()
    driver.abort()
    frames = {mass_data_key(sims.name, label): counts for label, counts in result.counts.items()}
    return frames, request_record_json(request, result)


def _check_stored(catalog: Catalog, config: BenchConfig) -> None:
    """Raise if the catalog does not hold every run and frame that was timed (a silent loss is no ingest)."""
    runs = catalog.runs()
    stored = catalog.run(-1).metadata["stop"]["num_events"]
    expected = {"image": config.images, "depth_profile": DEPTH_PROFILES}
    if len(runs) != config.repeats or {k: stored.get(k, 0) for k in expected} != expected:
        raise RuntimeError(f"the catalog holds {len(runs)} runs (expected {config.repeats}) and the last has "
                           f"{stored} events (expected {expected})")
