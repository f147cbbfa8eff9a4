"""Reading one run's streams from the catalog: columns on the session clock, frames, configuration.

Time: an event's ``time`` is the RunEngine's wall clock, but each reading carries its own
timestamp (``ts_<key>``) on the session clock, the one the plans wait on (virtual in
simulation, where weeks pass in seconds). Everything here returns the readings' timestamps:
the thermal history, the image windows and the cell trace all live on that clock.

A run is a tiled ``BlueskyRun`` node (``catalog.run(uid)``); a stream's scalar columns come
back in one request (its ``internal`` table), its detector frames (HDF5 via tiled) one key
at a time. Nothing here imports tiled: the nodes are used through their public methods.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from simslab.errors import CatalogError

__all__ = [
    "RunNode",
    "StreamColumns",
    "monitor_stream",
    "MAX_SAFE_INTEGER",
    "metadata_number",
]

MAX_SAFE_INTEGER = 2**53 - 1
"""What a float above 2**53 in a start document comes back as from the catalog (it is clamped)."""


@dataclasses.dataclass(frozen=True)
class StreamColumns:
    """The scalar columns of one stream: values and session-clock times per data key, in event order."""

    name: str
    values: dict[str, np.ndarray]
    times_s: dict[str, np.ndarray]
    wall_time_s: np.ndarray

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def __len__(self) -> int:
        return int(self.wall_time_s.size)

    def column(self, key: str) -> np.ndarray:
        """Return one data key's values (CatalogError naming the stream if it has none)."""
        if key not in self.values:
            raise CatalogError(f"stream {self.name!r} has no data key {key!r} (it has {', '.join(self.values)})")
        return self.values[key]

    def times(self, key: str) -> np.ndarray:
        """Return the session-clock times (epoch s) of one data key's readings."""
        self.column(key)
        return self.times_s[key]


class RunNode:
    """One run of the catalog, read with as few requests as possible (each costs ~0.05-0.5 s).

    The stream names come from the stop document's event counts (listed from the catalog for
    a run still running); a stream's scalar columns come in one request (its ``internal``
    table) and are kept; each detector key's frames come in another.
    """

    def __init__(self, run: Any):
        self.run = run
        self.start = dict(run.metadata.get("start") or {})
        self.stop = dict(run.metadata.get("stop") or {})
        counted = self.stop.get("num_events")
        self.streams = frozenset(counted) if isinstance(counted, dict) else frozenset(run)
        self._metadata: dict[str, dict[str, Any]] = {}
        self._columns: dict[str, StreamColumns | None] = {}

    @property
    def uid(self) -> str:
        return str(self.start.get("uid", ""))

    @property
    def plan_name(self) -> str:
        return str(self.start.get("plan_name", ""))

    def columns(self, stream: str) -> StreamColumns | None:
        """Return the scalar columns of ``stream`` (None when the run has no such stream)."""
        if stream not in self._columns:
            self._columns[stream] = self._read_columns(stream)
        return self._columns[stream]

    def _read_columns(self, stream: str) -> StreamColumns | None:
        if stream not in self.streams:
            return None
        try:
            table = self.run[f"{stream}/internal"].read()
        except KeyError:
            return None  # a stream of detector frames only
        columns = {str(name): np.asarray(table[name].to_numpy()) for name in table.columns}
        values = {k: v for k, v in columns.items() if k not in ("seq_num", "time") and not k.startswith("ts_")}
        wall = np.asarray(columns.get("time", np.zeros(0)), dtype=float)
        times = {k: np.asarray(columns.get(f"ts_{k}", wall), dtype=float) for k in values}
        order = np.argsort(columns["seq_num"], kind="stable") if "seq_num" in columns else np.arange(wall.size)
        return StreamColumns(
            stream, {k: _plain(v[order]) for k, v in values.items()}, {k: v[order] for k, v in times.items()},
            wall[order],
        )

    def frames(self, stream: str, key: str) -> np.ndarray:
        """Return the detector frames of one data key, shape (events, ...), as float counts."""
        try:
            return np.asarray(self.run[f"{stream}/{key}"].read(), dtype=float)
        except KeyError as err:
            raise CatalogError(f"run {self.uid[:8]}: stream {stream!r} has no frames {key!r}") from err

    def stream_metadata(self, stream: str) -> dict[str, Any]:
        """Return a stream's metadata (descriptor: data keys, configuration and its updates)."""
        if stream not in self._metadata:
            self._metadata[stream] = dict(self.run[stream].metadata) if stream in self.streams else {}
        return self._metadata[stream]

    def mass_keys(self, stream: str) -> dict[str, str]:
        """Return the data key of each mass channel in a stream, by label ("6Li+" -> "sims-Li6")."""
        data_keys = self.stream_metadata(stream).get("data_keys", {})
        return {str(info["mass_label"]): key for key, info in data_keys.items() if "mass_label" in info}

    def configuration(self, stream: str, device: str = "sims", at_wall_time_s: float | None = None) -> dict[str, Any]:
        """Return a device's configuration in a stream, keys without the device prefix ("raster_x": 5e-4).

        A stream whose configuration changed carries the later ones as updates; ``at_wall_time_s``
        (an event's wall-clock ``time``) picks the one in force then (default: the first).
        """
        metadata = self.stream_metadata(stream)
        entries = [(float(metadata.get("time", 0.0)), metadata.get("configuration", {}))]
        entries += [(float(u.get("time", 0.0)), u.get("configuration", {})) for u in metadata.get("_config_updates", [])]
        chosen = entries[0][1]
        if at_wall_time_s is not None:
            for time_s, configuration in sorted(entries, key=lambda e: e[0]):
                if time_s <= at_wall_time_s + 1e-6:
                    chosen = configuration
        data = (chosen.get(device) or {}).get("data", {})
        prefix = f"{device}-"
        return {key[len(prefix):] if key.startswith(prefix) else key: value for key, value in data.items()}


def monitor_stream(signal_name: str) -> str:
    """Return the stream a monitored signal's readings go to (bluesky's ``<name>_monitor``)."""
    return f"{signal_name}_monitor"


def metadata_number(value: Any) -> float | None:
    """Return a number from a start document, or None if absent or clamped by the catalog.

    Accepts numbers written as strings (how plans keep large values whole) and refuses
    ``MAX_SAFE_INTEGER``, which is what a float above 2**53 (a dose of 1.2e18 ions/m^2, a
    density of 5e27 /m^3) comes back as when it was stored as a JSON number.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(number) or number == MAX_SAFE_INTEGER:
        return None
    return number


def _plain(values: np.ndarray) -> np.ndarray:
    """Return numeric columns as float arrays and text columns as str arrays."""
    if values.dtype.kind in "biuf":
        return values.astype(float) if values.dtype.kind != "b" else values
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()], dtype=str)
