"""Export a run from the catalog to files other programs open: HDF5, CSV or TIFF.

- ``hdf5``: the whole run in one file ``<uid8>.h5``: the start and stop documents as JSON
  attributes (``start``, ``stop``) and one group per stream holding ``time`` (s, epoch),
  ``seq_num`` and a dataset per data key, images included (frames first); every dataset
  carries ``units`` (empty when dimensionless) and the key's other metadata as attributes;
  each key's reading timestamps are in ``<stream>/timestamps/<key>``.
- ``csv``: one file per stream with scalar readings, ``<uid8>_<stream>.csv`` (the monitored
  temperatures, the potentiostat trace, the primary stream's dose ...); the header names each
  column with its units, ``stage-temperature (K)``. Arrays (images, line scans, spectra) are
  left out: they go to HDF5 or TIFF.
- ``tiff``: one multi-page TIFF stack per image key (per mass), ``<uid8>_<stream>_<key>.tif``,
  frames in acquisition order, with the key's units, axes and mass in its JSON description.

Arrays are read from the catalog in blocks of about ``BLOCK_BYTES``, so a long campaign's image
stacks never sit whole in memory. Values are written as the catalog serves them (bit-identical).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from simslab.errors import CatalogError, ValidationError

__all__ = ["FORMATS", "export_run"]

logger = logging.getLogger(__name__)

FORMATS = ("hdf5", "csv", "tiff")
BLOCK_BYTES = 64 * 2**20
_CSV_LEADING_COLUMNS = ("time", "seq_num")


def export_run(run: Any, format: str, out_dir: str | Path) -> list[Path]:
    """Write a catalog run (``Catalog.run(key)``) as ``format`` into ``out_dir``; return the files.

    Raises ValidationError for an unknown format and CatalogError if the run has nothing the
    format can hold (no stream with scalars for csv, no image for tiff).
    """
    if format not in FORMATS:
        raise ValidationError("export", "format", format, f"one of {', '.join(FORMATS)}")
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    streams = [_Stream(name, run[name]) for name in run]
    prefix = run.metadata["start"]["uid"][:8]
    if format == "hdf5":
        files = [_write_hdf5(run.metadata, streams, out / f"{prefix}.h5")]
    elif format == "csv":
        files = [_write_csv(stream, out / f"{prefix}_{_safe(stream.name)}.csv") for stream in streams
                 if stream.scalar_keys()]
    else:
        files = [_write_tiff(run.metadata["start"]["uid"], stream, key,
                             out / f"{prefix}_{_safe(stream.name)}_{_safe(key)}.tif")
                 for stream in streams for key in stream.image_keys()]
    if not files:
        what = "no stream with scalar readings" if format == "csv" else "no images"
        raise CatalogError(f"run {prefix} has {what} to export as {format}")
    logger.info("exported run %s as %s: %s", prefix, format, ", ".join(f.name for f in files))
    return files


class _Stream:
    """One stream of a run: its data keys (from the descriptor) and its columns, read on demand.

    Scalar columns come from the stream's internal table in one request; arrays (images) key
    by key, in blocks.
    """

    def __init__(self, name: str, client: Any):
        self.name = name
        self.client = client
        self.data_keys: dict[str, dict] = dict(client.metadata.get("data_keys", {}))
        self._keys = set(client)
        self._arrays: dict[str, Any] = {}
        self._table: Any = None

    def has(self, key: str) -> bool:
        return key in self._keys

    def scalar_keys(self) -> list[str]:
        return [k for k, v in self.data_keys.items() if not v.get("shape") and self.has(k)]

    def image_keys(self) -> list[str]:
        return [k for k, v in self.data_keys.items() if len(v.get("shape") or ()) >= 2 and self.has(k)]

    def read(self, key: str) -> np.ndarray:
        """Return a whole column: from the internal table if it is there, else its own array."""
        table = self._internal_table()
        if table is not None and key in table.columns:
            return table[key].to_numpy()
        return np.asarray(self.array(key).read())

    def array(self, key: str) -> Any:
        if key not in self._arrays:
            self._arrays[key] = self.client[key]
        return self._arrays[key]

    def blocks(self, key: str) -> Iterator[np.ndarray]:
        """Yield a key's array in blocks of whole frames, about BLOCK_BYTES each."""
        array = self.array(key)
        frames = array.shape[0] if array.shape else 0
        frame_bytes = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * np.dtype(array.dtype).itemsize)
        step = max(1, BLOCK_BYTES // frame_bytes)
        for start in range(0, frames, step):
            yield np.asarray(array[start:min(start + step, frames)])

    def shape_dtype(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        array = self.array(key)
        return tuple(array.shape), np.dtype(array.dtype)

    def _internal_table(self) -> Any:
        if self._table is None:
            base = getattr(self.client, "base", None)
            self._table = base["internal"].read() if base is not None and "internal" in base else False
        return self._table if self._table is not False else None


def _write_hdf5(metadata: dict, streams: list[_Stream], path: Path) -> Path:
    import h5py

    start, stop = metadata["start"], metadata.get("stop") or {}
    with h5py.File(path, "w") as h5:
        h5.attrs["uid"] = start["uid"]
        h5.attrs["start"] = json.dumps(start, default=str)
        h5.attrs["stop"] = json.dumps(stop, default=str)
        for stream in streams:
            group = h5.create_group(_safe(stream.name))
            group.attrs["descriptor"] = json.dumps(dict(stream.client.metadata), default=str)
            for column, units in (("time", "s"), ("seq_num", "")):
                if stream.has(column):
                    group.create_dataset(column, data=stream.read(column)).attrs["units"] = units
            for key, data_key in stream.data_keys.items():
                if not stream.has(key):
                    continue
                if key in stream.scalar_keys():
                    dataset = group.create_dataset(_safe(key), data=_storable(stream.read(key)))
                else:
                    dataset = _write_blocks(group, _safe(key), stream, key)
                _describe(dataset.attrs, data_key)
                if stream.has(f"ts_{key}"):
                    timestamps = group.require_group("timestamps").create_dataset(
                        _safe(key), data=stream.read(f"ts_{key}"))
                    timestamps.attrs["units"] = "s"
    return path


def _write_blocks(group: Any, name: str, stream: _Stream, key: str) -> Any:
    """Copy an array key (e.g. an image stack) into a new dataset, block by block."""
    shape, dtype = stream.shape_dtype(key)
    dataset = group.create_dataset(name, shape=shape, dtype=dtype, chunks=(1, *shape[1:]) if len(shape) >= 3 else None)
    offset = 0
    for block in stream.blocks(key):
        dataset[offset:offset + len(block)] = block
        offset += len(block)
    return dataset


def _write_csv(stream: _Stream, path: Path) -> Path:
    keys = stream.scalar_keys()
    columns = [c for c in _CSV_LEADING_COLUMNS if stream.has(c)] + keys
    data = [stream.read(c).tolist() for c in columns]
    units = {"time": "s", **{k: stream.data_keys[k].get("units") or "" for k in keys}}
    header = [f"{c} ({units[c]})" if units.get(c) else c for c in columns]
    skipped = sorted(set(stream.data_keys) - set(keys))
    if skipped:
        logger.info("csv of stream %s leaves out the array keys %s (see hdf5/tiff)", stream.name, skipped)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(zip(*data, strict=True))
    return path


def _write_tiff(uid: str, stream: _Stream, key: str, path: Path) -> Path:
    import tifffile

    data_key = stream.data_keys[key]
    shape, dtype = stream.shape_dtype(key)
    axes = "T" + "Q" * (len(shape) - 3) + "YX"  # frames, any middle axes (e.g. sputter cycles), rows, columns
    metadata = {"axes": axes, "run_uid": uid, "stream": stream.name, "data_key": key,
                "units": data_key.get("units") or "", "dims": list(data_key.get("dims") or ()),
                **{k: data_key[k] for k in ("mass_label", "mass_u") if k in data_key}}
    pages = (page for block in stream.blocks(key) for page in block.reshape(-1, *shape[-2:]))
    tifffile.imwrite(path, pages, shape=shape, dtype=dtype, photometric="minisblack", metadata=metadata)
    return path


def _storable(values: np.ndarray) -> np.ndarray:
    """Text readings (a region name, a state) as HDF5 strings; numbers as they are."""
    import h5py

    if values.dtype.kind in "OUS":
        return np.asarray([str(v) for v in values], dtype=h5py.string_dtype())
    return values


def _describe(attrs: Any, data_key: dict) -> None:
    """Copy a data key's description into HDF5 attributes: units always, the rest as given."""
    attrs["units"] = data_key.get("units") or ""
    for name, value in data_key.items():
        if name in ("units", "shape", "dtype_numpy", "external"):
            continue
        attrs[name] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value, default=str)


def _safe(name: str) -> str:
    """A name usable as a file-name part and an HDF5 link name."""
    return name.replace("/", "_").replace("\\", "_")
