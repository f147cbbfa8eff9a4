"""Image ingest: MB/s of SIMS images into the embedded catalog vs plain h5py on the same disk.

Measured: ``bp.count`` of a ToF-SIMS device taking ``config.images`` images (the profile's
default acquisition: 512 x 206 pixels, one uint32 frame per mass) on a RunEngine whose
documents go to an embedded catalog through ``Catalog.writer()`` (journal + TiledWriter),
the device writing its HDF5 file into the catalog's readable storage and emitting
StreamResource/StreamDatum. Its driver hands over counts formed once beforehand by the
twin's image model (:class:`PreparedSims`), so the figure is the data path, not the physics.
Reference: the same arrays written with h5py into one file in the same directory tree.
MB = 1e6 bytes of uint32 counts. Target: ratio >= 0.5.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

import bluesky.plans as bp
import h5py
import numpy as np
from bluesky import RunEngine
from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider

from simslab.catalog import Catalog
from simslab.clock import VirtualClock
from simslab.devices import make_tofsims
from simslab.devices.drivers.protocols import AcquisitionRequest, AcquisitionResult, AcquisitionState
from simslab.devices.settings import SimsSettings
from simslab.profile import EmbeddedCatalogSettings
from simslab.simulators.parameters import SimsImagingParameters
from simslab.simulators.sims_image import SimsImager, primary_ions

from .harness import BenchConfig, Figure, FigureSpec, Target
from .timing import side_by_side

__all__ = ["SPECS", "measure", "PreparedSims", "write_with_h5py"]

logger = logging.getLogger(__name__)

SPEC = FigureSpec(
    "ingest_sims_images_mb_per_s", "MB/s", Target("ratio", ">=", 0.5),
    "SIMS images through the device, HDF5 and the embedded catalog vs the same arrays written with h5py",
)
SPECS = (SPEC,)

MB = 1e6


def measure(config: BenchConfig) -> list[Figure]:
    """Alternate a catalog run and an h5py write of ``config.images`` images; return the figure."""
    assert config.work_dir is not None
    catalog = Catalog.open(EmbeddedCatalogSettings(directory=config.work_dir / "ingest-catalog"))
    clock = VirtualClock()
    run_engine = RunEngine({}, loop=clock.loop)
    clock.loop.may_jump = lambda: run_engine.state == "running"
    settings = SimsSettings(dose_budget_ions_per_m2=1e30)  # each image is ~half the real budget
    driver = PreparedSims(np.random.default_rng(1))
    sims = make_tofsims(driver, settings, clock, StaticPathProvider(UUIDFilenameProvider(), catalog.assets_directory / "sims"))
    reference_dir = catalog.assets_directory / "h5py-reference"
    try:
        asyncio.run_coroutine_threadsafe(sims.connect(), clock.loop).result(30)
        run_engine.subscribe(catalog.writer())
        frames = driver.frames_of(asyncio.run_coroutine_threadsafe(sims.build_request(), clock.loop).result(30))
        megabytes = config.images * sum(frame.nbytes for frame in frames.values()) / MB

        def into_catalog() -> float:
            started = time.perf_counter()
            run_engine(bp.count([sims], num=config.images))
            return megabytes / (time.perf_counter() - started)

        def with_h5py() -> float:
            started = time.perf_counter()
            write_with_h5py(reference_dir / f"{uuid.uuid4()}.h5", frames, config.images)
            return megabytes / (time.perf_counter() - started)

        value, reference = side_by_side(into_catalog, with_h5py, config.repeats)
        _check_stored(catalog, config)
    finally:
        clock.loop.call_soon_threadsafe(clock.loop.stop)
        catalog.close()
    logger.info("ingest: catalog %.1f MB/s, h5py %.1f MB/s (%.1f MB per run)", value, reference, megabytes)
    return [SPEC.measured(value, reference)]


def write_with_h5py(path: Path, frames: dict[str, np.ndarray], images: int) -> None:
    """Write ``images`` copies of each frame into one HDF5 file, one chunk per frame (the reference)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        for key, frame in frames.items():
            dataset = h5.create_dataset(key, shape=(images, *frame.shape), dtype=frame.dtype, chunks=(1, *frame.shape))
            for index in range(images):
                dataset[index] = frame


class PreparedSims:
    """A SimsDriver whose acquisitions finish at once with counts formed beforehand.

    The counts of a request's masses are drawn once per (pixels, masses) with the twin's image
    model on a random 6Li-fraction map, then handed out again for every acquisition.
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
        """Return the uint32 counts per mass label of an image request (drawn on first use)."""
        key = (request.pixels, tuple(m.label for m in request.masses))
        if key not in self._prepared:
            nx, ny = request.pixels
            fraction = self._rng.uniform(0.07, 0.9, (ny, nx))
            useful_yield = SimsImagingParameters().useful_yield["Li"]
            maps = {m.label: np.full((ny, nx), useful_yield) for m in request.masses}
            maps.update({"6Li+": useful_yield * fraction, "7Li+": useful_yield * (1 - fraction)})
            result = self._imager.acquire(request, maps, request.raster_m[0] / nx, 0.0, request.integration_s)
            self._prepared[key] = {label: counts.astype(np.uint32) for label, counts in result.counts.items()}
        return self._prepared[key]


def _check_stored(catalog: Catalog, config: BenchConfig) -> None:
    """Raise if the catalog does not hold every run and image that was timed (a silent loss is no ingest)."""
    runs = catalog.runs()
    stored = catalog.run(-1).metadata["stop"]["num_events"].get("primary", 0)
    if len(runs) != config.repeats or stored != config.images:
        raise RuntimeError(f"the catalog holds {len(runs)} runs (expected {config.repeats}) and the last has "
                           f"{stored} events (expected {config.images})")
