"""How ToF-SIMS acquisitions become data: safe data keys, frame shapes, axis names, per-frame records.

A mass label as the scientist writes it ("6Li+", "58Ni+") becomes a data key a catalog accepts
(``sims-Li6``); the label and m/z travel in the datakey. Counts are uint32 frames whose shape
depends on the kind of acquisition (image (ny, nx), line scan (n,), depth profile (cycles,) or
(cycles, ny, nx), spectrum (channels,)).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from event_model import DataKey

from simslab.devices.drivers.protocols import AcquisitionRequest, AcquisitionResult
from simslab.errors import InstrumentError

__all__ = [
    "mass_data_key",
    "expected_frame_shape",
    "frame_dims",
    "counts_as_uint32",
    "stream_datakey",
    "request_record_json",
]

_DIMS = {"image": ("y", "x"), "line_scan": ("x",), "spectrum": ("channel",), "depth_profile": ("cycle", "y", "x")}


def mass_data_key(device_name: str, label: str) -> str:
    """Return the data key of a mass channel: ``sims-Li6`` for "6Li+", ``sims-Ni58`` for "58Ni+"."""
    isotope = re.fullmatch(r"(\d+)([A-Z][a-z]?)(\d*)([+-]*)", label.strip())
    if isotope:
        mass_number, element, count, charge = isotope.groups()
        safe = f"{element}{mass_number}" + (f"_{count}" if count else "") + ("_neg" if "-" in charge else "")
    else:
        safe = re.sub(r"[^A-Za-z0-9]+", "_", label.replace("-", "_neg").replace("+", "")).strip("_")
        safe = safe if safe[:1].isalpha() else f"m{safe}"
    return f"{device_name}-{safe}"


def expected_frame_shape(kind: str, pixels: tuple[int, int], cycles: int) -> tuple[int, ...] | None:
    """The frame shape a kind of acquisition is expected to give (None: only the data can tell)."""
    nx, ny = pixels
    return {"image": (ny, nx), "line_scan": (nx,), "depth_profile": (cycles,)}.get(kind)


def counts_as_uint32(device: str, request: AcquisitionRequest, label: str, counts: Any) -> np.ndarray:
    """Return a mass's counts as uint32, refusing what is not a non-negative integer array."""
    array = np.asarray(counts)
    if array.dtype.kind == "u" and array.dtype.itemsize <= 4:
        return array.astype(np.uint32, copy=False)  # every value fits: no need to scan the frame
    if array.dtype.kind not in "ui" or (array.size and array.min() < 0) or (array.size and array.max() > 2**32 - 1):
        raise InstrumentError(device, f"fetch {request.output_name}", None,
                              f"counts of {label} are not uint32 counts (dtype {array.dtype})")
    return array.astype(np.uint32, copy=False)


def frame_dims(kind: str, ndim: int) -> tuple[str, ...]:
    """Name a frame's axes: a depth profile's first axis is the sputter cycle."""
    dims = _DIMS[kind][:ndim] if kind == "depth_profile" else _DIMS[kind]
    return dims if len(dims) == ndim else tuple(f"dim_{i}" for i in range(ndim))


def stream_datakey(source: str, shape: tuple[int, ...], dtype_numpy: str, units: str, dims: Sequence[str],
                   **extra: Any) -> DataKey:
    """Describe a frame that lives in the HDF5 file (``external="STREAM:"``); ``extra`` adds fields."""
    return DataKey(source=source, shape=list(shape), dtype="array", dtype_numpy=dtype_numpy, external="STREAM:",
                   units=units, dims=list(dims), **extra)


def request_record_json(request: AcquisitionRequest, result: AcquisitionResult) -> str:
    """Return how one acquisition was taken, and what it delivered, as a JSON line for the HDF5 file."""
    record = dataclasses.asdict(request)
    record.update(primary_ions=result.primary_ions, started_s=result.started_s, finished_s=result.finished_s,
                  metadata=result.metadata)
    return json.dumps(record, default=str)
