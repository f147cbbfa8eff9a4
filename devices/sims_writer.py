"""The ToF-SIMS detector's HDF5 writer: one file per run, one dataset per data key, a frame per trigger.

Frames are appended to ``/<layout>/<data key>`` (``layout`` names the acquisition kind and
frame shape, e.g. ``image_206x512``), each dataset announced once by a StreamResource and its
new frames by StreamDatum documents (bluesky's ``WritesStreamAssets``). The file is opened,
appended and closed for every trigger, so it is complete on disk after each acquisition (a
crash loses nothing already acquired) and a reader such as tiled can open it at any time.
Each layout group also keeps the acquisition request of every frame as JSON (``request_json``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from bluesky.protocols import StreamAsset
from event_model import ComposeStreamResource, ComposeStreamResourceBundle
from ophyd_async.core import PathProvider

__all__ = ["SimsHdfWriter", "HDF5_MIMETYPE"]

logger = logging.getLogger(__name__)

HDF5_MIMETYPE = "application/x-hdf5"


@dataclass
class _Dataset:
    """One data key's dataset in the current file and how far its documents have gone."""

    path: str
    frame_shape: tuple[int, ...]
    dtype: np.dtype
    bundle: ComposeStreamResourceBundle
    written: int = 0
    emitted: int = 0
    announced: bool = False


@dataclass
class _RunFile:
    path: Path
    uri: str
    datasets: dict[str, _Dataset] = field(default_factory=dict)


class SimsHdfWriter:
    """Appends per-data-key frames to the run's HDF5 file and makes the stream documents.

    path_provider: where files go (the session points it inside the catalog's readable
    storage); called with the device name once per run.
    """

    def __init__(self, path_provider: PathProvider, device_name: str) -> None:
        self._path_provider = path_provider
        self.device_name = device_name
        self._file: _RunFile | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simslab-sims-hdf5")

    @property
    def file_path(self) -> Path | None:
        """The current run's file, or None before the first frame of a run."""
        return self._file.path if self._file else None

    def open_run(self) -> None:
        """Start a new file for the next frames (called when the detector is staged)."""
        info = self._path_provider(self.device_name)
        directory = Path(str(info.directory_path))
        filename = f"{info.filename}.h5"
        self._file = _RunFile(directory / filename, f"{info.directory_uri}{filename}")
        logger.info("%s: writing to %s", self.device_name, self._file.path)

    def close_run(self) -> None:
        """Forget the current file; the next frame starts a new one."""
        self._file = None

    def frame_shape(self, data_key: str) -> tuple[int, ...] | None:
        """Return the frame shape written for a data key in this run, if any."""
        dataset = self._file.datasets.get(data_key) if self._file else None
        return dataset.frame_shape if dataset else None

    def dtype(self, data_key: str) -> np.dtype | None:
        """Return the dtype written for a data key in this run, if any."""
        dataset = self._file.datasets.get(data_key) if self._file else None
        return dataset.dtype if dataset else None

    def frames_written(self, data_key: str) -> int:
        """Return how many frames of a data key this run's file holds."""
        dataset = self._file.datasets.get(data_key) if self._file else None
        return dataset.written if dataset else 0

    async def append(self, layout: str, frames: dict[str, np.ndarray], request_json: str) -> None:
        """Append one frame per data key (off the event loop) under ``/<layout>/``."""
        if self._file is None:
            self.open_run()
        assert self._file is not None
        run_file = self._file
        for key, array in frames.items():
            self._dataset_for(run_file, layout, key, array)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, _append_frames, run_file, layout, frames, request_json)
        for key in frames:
            run_file.datasets[key].written += 1

    def collect_asset_docs(self) -> Iterator[StreamAsset]:
        """Yield a StreamResource per new dataset and a StreamDatum per dataset with new frames."""
        if self._file is None:
            return
        for dataset in self._file.datasets.values():
            if not dataset.announced and dataset.written:
                dataset.announced = True
                yield "stream_resource", dataset.bundle.stream_resource_doc
            if dataset.written > dataset.emitted:
                indices = {"start": dataset.emitted, "stop": dataset.written}
                dataset.emitted = dataset.written
                # validate=False: bluesky fills the datum's descriptor and seq_nums only after
                # this, so a check here would see placeholders; the catalog's writer validates
                # every document as it arrives. It saved ~0.5 ms of jsonschema per mass per frame.
                yield "stream_datum", dataset.bundle.compose_stream_datum(indices, validate=False)

    def _dataset_for(self, run_file: _RunFile, layout: str, key: str, array: np.ndarray) -> _Dataset:
        path = f"/{layout}/{key}"
        dataset = run_file.datasets.get(key)
        if dataset is not None and dataset.path != path:
            raise ValueError(
                f"{self.device_name}: {key} changed from {dataset.path} to {path} within one run: "
                "read acquisitions of another kind or shape into a new run"
            )
        if dataset is None:
            bundle = ComposeStreamResource()(
                mimetype=HDF5_MIMETYPE,
                uri=run_file.uri,
                data_key=key,
                parameters={"dataset": path, "chunk_shape": (1, *array.shape)},
            )
            dataset = _Dataset(path, tuple(array.shape), array.dtype, bundle)
            run_file.datasets[key] = dataset
        if tuple(array.shape) != dataset.frame_shape:
            raise ValueError(f"{self.device_name}: {key} frame shape {array.shape} differs from {dataset.frame_shape}")
        return dataset


def _append_frames(run_file: _RunFile, layout: str, frames: dict[str, np.ndarray], request_json: str) -> None:
    run_file.path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(run_file.path, "a") as h5:
        group = h5.require_group(layout)
        for key, array in frames.items():
            if key not in group:
                group.create_dataset(
                    key, shape=(0, *array.shape), maxshape=(None, *array.shape),
                    dtype=array.dtype, chunks=(1, *array.shape),
                )
            _append_frame(group[key], array)
        if "request_json" not in group:
            group.create_dataset("request_json", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype())
        requests = group["request_json"]
        requests.resize(requests.shape[0] + 1, axis=0)
        requests[-1] = request_json


def _append_frame(dataset: h5py.Dataset, frame: np.ndarray) -> None:
    """Grow ``dataset`` by one frame and write it.

    A frame is one whole, unfiltered chunk, so it goes to the file as its bytes
    (``write_direct_chunk``), skipping HDF5's selection and type-conversion path (about a
    third of the write's CPU for 512 x 206 uint32 frames); another dtype takes the usual path.
    """
    index = dataset.shape[0]
    dataset.resize(index + 1, axis=0)
    if frame.dtype == dataset.dtype and dataset.compression is None:
        dataset.id.write_direct_chunk((index,) + (0,) * frame.ndim, np.ascontiguousarray(frame))
    else:
        dataset[index] = frame
