"""The smallest runs shaped like simslab's, recorded through ``Catalog.writer()``.

An operando-imaging run: a detector writes per-mass count images to HDF5 and announces them
with StreamResource/StreamDatum (data keys, units and dims as the ToF-SIMS device makes them),
while the stage temperature and the potentiostat's voltage and current stream as monitors.
Plain bluesky RunEngine and ophyd-async soft signals: no session, no twin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from bluesky import RunEngine
from bluesky import plan_stubs as bps
from bluesky import preprocessors as bpp
from event_model import ComposeStreamResource, ComposeStreamResourceBundle
from ophyd.status import Status
from ophyd_async.core import soft_signal_rw

MASSES = {"6Li+": ("sims-Li6", 6.015), "7Li+": ("sims-Li7", 7.016)}
FRAME_SHAPE = (12, 16)  # (y, x) pixels: small, so a run writes in milliseconds


@dataclass
class RecordedRun:
    """A run as it went live: its uid, every document in order, and the frames written per key."""

    uid: str
    documents: list[tuple[str, dict]]
    frames: dict[str, np.ndarray] = field(default_factory=dict)


class CountImager:
    """A detector writing one count image per mass to HDF5 per trigger (bluesky's
    WritesStreamAssets, as simslab's ToF-SIMS does); also reads the accumulated dose and the
    region imaged (a text reading)."""

    def __init__(self, directory: Path, seed: int, name: str = "sims"):
        self.name, self.parent = name, None
        self.directory = Path(directory)
        self.rng = np.random.default_rng(seed)
        self.frames: dict[str, list[np.ndarray]] = {}
        self._path: Path | None = None
        self._bundles: dict[str, ComposeStreamResourceBundle] = {}
        self._written = self._emitted = 0

    def stage(self) -> list:
        self._path = self.directory / f"{self.name}_{time.time_ns()}.h5"
        self._bundles, self._written, self._emitted = {}, 0, 0
        self.frames = {key: [] for key, _ in MASSES.values()}
        return [self]

    def unstage(self) -> list:
        return [self]

    def trigger(self) -> Status:
        with h5py.File(self._path, "a") as h5:
            for key, _ in MASSES.values():
                frame = self.rng.poisson(40.0, FRAME_SHAPE).astype(np.uint32)
                if key not in h5:
                    h5.create_dataset(key, shape=(0, *FRAME_SHAPE), maxshape=(None, *FRAME_SHAPE), dtype="<u4",
                                      chunks=(1, *FRAME_SHAPE))
                dataset = h5[key]
                dataset.resize(self._written + 1, axis=0)
                dataset[self._written] = frame
                self.frames[key].append(frame)
        self._written += 1
        status = Status()
        status.set_finished()
        return status

    def describe(self) -> dict[str, dict]:
        keys = {key: {"source": f"hdf5://{self._path}", "shape": list(FRAME_SHAPE), "dtype": "array",
                      "dtype_numpy": "<u4", "external": "STREAM:", "units": "counts", "dims": ["y", "x"],
                      "mass_label": label, "mass_u": mass_u}
                for label, (key, mass_u) in MASSES.items()}
        keys[f"{self.name}-dose"] = {"source": "sim", "shape": [], "dtype": "number", "units": "ions/m^2"}
        keys[f"{self.name}-acquired_region"] = {"source": "sim", "shape": [], "dtype": "string", "units": ""}
        return keys

    def read(self) -> dict[str, dict]:
        now = time.time()
        return {f"{self.name}-dose": {"value": 2.5e15 * self._written, "timestamp": now},
                f"{self.name}-acquired_region": {"value": f"region-{'AB'[self._written % 2]}", "timestamp": now}}

    def describe_configuration(self) -> dict:
        return {}

    def read_configuration(self) -> dict:
        return {}

    def collect_asset_docs(self, index: int | None = None):
        for key, _ in MASSES.values():
            if key not in self._bundles:
                self._bundles[key] = ComposeStreamResource()(
                    mimetype="application/x-hdf5", uri=f"file://localhost{self._path}", data_key=key,
                    parameters={"dataset": key, "chunk_shape": (1, *FRAME_SHAPE)},
                )
                yield "stream_resource", self._bundles[key].stream_resource_doc
            yield "stream_datum", self._bundles[key].compose_stream_datum(
                {"start": self._emitted, "stop": self._written})
        self._emitted = self._written

    def get_index(self) -> int:
        return self._written


def record_operando_run(writer: Callable[[str, dict], None], assets: Path, images: int = 3, seed: int = 1,
                        md: dict[str, Any] | None = None, run_engine: RunEngine | None = None,
                        monitors: bool = True) -> RecordedRun:
    """Run a small operando plan through ``writer`` (and a recorder); return what went live.

    Before each image the stage temperature and the cell's voltage and current change, so each
    monitored stream holds ``images + 1`` readings (the first is the value when monitoring starts).
    ``run_engine``: one with more subscribers (e.g. a live publisher), else a fresh one.
    ``monitors=False``: images only (each stream costs the catalog several writes).
    """
    run_engine = run_engine or RunEngine({}, call_returns_result=True)
    documents: list[tuple[str, dict]] = []
    tokens = [run_engine.subscribe(writer), run_engine.subscribe(lambda name, doc: documents.append((name, doc)))]
    imager = CountImager(assets, seed)
    stage = soft_signal_rw(float, 163.15, name="stage-temperature", units="K")
    voltage = soft_signal_rw(float, 3.2, name="potentiostat-voltage", units="V")
    current = soft_signal_rw(float, 0.0, name="potentiostat-current", units="A")
    metadata = {"campaign_id": "operando-test", "step": {"index": 0, "kind": "operando"},
                "sample": {"id": "LLZO-1"}, **(md or {})}

    @bpp.monitor_during_decorator([stage, voltage, current] if monitors else [])
    @bpp.stage_decorator([imager])
    @bpp.run_decorator(md=metadata)
    def operando_imaging():
        for i in range(images):
            yield from bps.mv(stage, 163.15 + 0.1 * (i + 1), voltage, 3.2 + 0.05 * (i + 1), current, 6e-6)
            yield from bps.trigger_and_read([imager])

    try:
        result = run_engine(operando_imaging())
    finally:
        for token in tokens:
            run_engine.unsubscribe(token)
    frames = {key: np.stack(stack) for key, stack in imager.frames.items()}
    return RecordedRun(result.run_start_uids[0], documents, frames)
