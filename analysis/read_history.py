"""The tracer sample's recorded thermal history, rebuilt from the runs of a campaign.

Where the sample was comes from each run's ``sample_location`` stream: every transfer reads
the location just before it is requested and once it is confirmed (``plans.sample``), so
between two readings of the same place the sample sat there, and between two different
places it was in transfer, at room temperature. Its temperature is its place's:

- ``cryo_stage``: the monitored stage temperature (``stage-temperature_monitor``);
- ``furnace``: the monitored furnace temperature (``furnace-temperature_monitor``);
- ``exchange_bath``: the bath's temperature from the exchange run's start document, and the
  immersed edge is held at the bath's fraction;
- ``storage``: the storage run's nominal temperature while a storage run holds it, else room;
- anywhere else, and in transfer: room temperature (``room_temperature_k``).

Monitored values are linear between readings. The result is what happened as recorded,
not the steps' nominal values: ramps, overshoot, transfers and warm-ups are all in it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from simslab.errors import CatalogError

from .read_cryo_sims import STAGE_TEMPERATURE
from .read_streams import RunNode, metadata_number, monitor_stream
from .whole_map_history import DiffusionHistory, HistorySegment

__all__ = ["SampleTimeline", "read_sample_timeline", "ROOM_TEMPERATURE_K", "FURNACE_TEMPERATURE", "LOCATION"]

log = logging.getLogger(__name__)

ROOM_TEMPERATURE_K = 295.15
FURNACE_TEMPERATURE = "furnace-temperature"
LOCATION = "sample_handler-location"
_FROZEN_K = 200.0  # below this the tracer does not move over a campaign (the published quench is -110 C)


@dataclasses.dataclass(frozen=True)
class SampleTimeline:
    """The sample's history as pieces: [start_s, end_s] going linearly from start_k to end_k.

    Times are session-clock epoch seconds; ``immersed``: the edge sat in the 6Li bath;
    ``place``: where the sample was ("transfer" between places).
    """

    start_s: np.ndarray
    end_s: np.ndarray
    start_k: np.ndarray
    end_k: np.ndarray
    immersed: np.ndarray
    place: tuple[str, ...]

    @property
    def first_s(self) -> float:
        return float(self.start_s[0])

    @property
    def last_s(self) -> float:
        return float(self.end_s[-1])

    def trace(self, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Return (time_s, temperature_k) over [start_s, end_s], linear between samples.

        A jump (a transfer from the cold stage to room) is two samples at one time.
        """
        time, temperature = [], []
        for i in np.flatnonzero((self.end_s > start_s) & (self.start_s < end_s)):
            for t in (max(self.start_s[i], start_s), min(self.end_s[i], end_s)):
                time.append(t)
                temperature.append(self._value(i, t))
        if not time:
            raise CatalogError(f"no recorded history between {start_s:.0f} and {end_s:.0f} s (session clock)")
        return np.array(time), np.array(temperature)

    def immersed_s(self, end_s: float | None = None) -> float:
        """Return the total time the edge sat in the bath before ``end_s`` (s)."""
        end = self.last_s if end_s is None else end_s
        ends = np.minimum(self.end_s, end)
        return float(np.sum(np.clip(ends - self.start_s, 0.0, None)[self.immersed]))

    def last_immersion_end_s(self) -> float | None:
        """Return when the edge last left the bath (None if it never went in)."""
        return float(self.end_s[self.immersed].max()) if self.immersed.any() else None

    def segments(self, start_s: float, end_s: float, tolerance_k: float = 2.0) -> list[HistorySegment]:
        """Return the history as isothermal segments, merging pieces within ``tolerance_k`` of each other.

        Each segment carries its time-weighted mean temperature; below 200 K (frozen) the
        tolerance is five times wider.
        """
        segments: list[HistorySegment] = []
        group: list[tuple[float, float, bool]] = []  # (duration, mean K, immersed)
        low = high = 0.0
        for i in np.flatnonzero((self.end_s > start_s) & (self.start_s < end_s)):
            t0, t1 = max(self.start_s[i], start_s), min(self.end_s[i], end_s)
            k0, k1 = self._value(i, t0), self._value(i, t1)
            width = tolerance_k * (5.0 if max(k0, k1) < _FROZEN_K else 1.0)
            immersed = bool(self.immersed[i])
            if group and (immersed != group[0][2] or max(high, k0, k1) - min(low, k0, k1) > width):
                segments.append(_merged(group))
                group = []
            if not group:
                low, high = min(k0, k1), max(k0, k1)
            low, high = min(low, k0, k1), max(high, k0, k1)
            group.append((t1 - t0, 0.5 * (k0 + k1), immersed))
        if group:
            segments.append(_merged(group))
        return [s for s in segments if s.duration_s > 0]

    def diffusion_history(self, end_s: float, window_origin_m: float, **fields: Any) -> DiffusionHistory:
        """Return the history from the first record to ``end_s`` for the whole-map fit (fields: DiffusionHistory's)."""
        return DiffusionHistory(tuple(self.segments(self.first_s, end_s)), window_origin_m, **fields)

    def _value(self, i: int, t: float) -> float:
        span = self.end_s[i] - self.start_s[i]
        if span <= 0:
            return float(self.start_k[i])
        return float(self.start_k[i] + (self.end_k[i] - self.start_k[i]) * (t - self.start_s[i]) / span)


def read_sample_timeline(runs: Sequence[RunNode], room_temperature_k: float = ROOM_TEMPERATURE_K) -> SampleTimeline:
    """Rebuild the sample's history from the runs of a campaign (see the module docstring)."""
    moves: list[tuple[float, str]] = []
    stage: list[tuple[np.ndarray, np.ndarray]] = []
    furnace: list[tuple[np.ndarray, np.ndarray]] = []
    nominal: list[tuple[float, float, str, float]] = []  # (from, to, place, K) of exchange and storage runs
    for run in runs:
        start = run.start
        locations = run.columns("sample_location")
        if locations is None or len(locations) == 0:
            continue
        times = locations.times(LOCATION)
        moves += list(zip(times.tolist(), locations.column(LOCATION).tolist()))
        for signal, traces in ((STAGE_TEMPERATURE, stage), (FURNACE_TEMPERATURE, furnace)):
            monitored = run.columns(monitor_stream(signal))
            if monitored is not None and len(monitored):
                traces.append((monitored.times(signal), monitored.column(signal)))
        for block, place in (("exchange", "exchange_bath"), ("storage", "storage")):
            temperature = metadata_number((start.get(block) or {}).get("temperature_k"))
            if temperature is not None:
                nominal.append((float(times.min()), float(times.max()), place, temperature))
    if len(moves) < 2:
        raise CatalogError("the runs record fewer than two sample locations: no thermal history to rebuild")
    moves.sort(key=lambda m: m[0])
    traces = {"cryo_stage": _joined(stage), "furnace": _joined(furnace)}
    pieces: list[tuple[float, float, float, float, bool, str]] = []
    for (t0, here), (t1, there) in zip(moves[:-1], moves[1:]):
        if t1 <= t0:
            continue
        place = here if here == there else "transfer"
        pieces += _pieces(place, t0, t1, traces.get(place), _nominal(nominal, place, t0, t1, room_temperature_k))
    starts, ends, k0, k1, immersed, places = zip(*pieces)
    log.debug("sample timeline: %d pieces over %.0f s", len(pieces), ends[-1] - starts[0])
    return SampleTimeline(np.array(starts), np.array(ends), np.array(k0), np.array(k1), np.array(immersed), places)


def _pieces(place: str, t0: float, t1: float, trace, nominal_k: float):
    """Return the linear pieces of one stay: along the monitored trace, or at the nominal temperature."""
    immersed = place == "exchange_bath"
    if trace is None or trace[0].size == 0:
        if place in ("cryo_stage", "furnace"):
            log.warning("no %s temperature recorded between %.0f and %.0f s: room temperature assumed", place, t0, t1)
        return [(t0, t1, nominal_k, nominal_k, immersed, place)]
    time, temperature = trace
    inside = (time > t0) & (time < t1)
    t = np.concatenate([[t0], time[inside], [t1]])
    k = np.interp(t, time, temperature)
    return [(a, b, ka, kb, immersed, place) for a, b, ka, kb in zip(t[:-1], t[1:], k[:-1], k[1:]) if b > a]


def _nominal(nominal, place: str, t0: float, t1: float, room_k: float) -> float:
    for start, end, where, temperature in nominal:
        if where == place and start <= t0 and t1 <= end:
            return temperature
    return room_k


def _joined(traces: list[tuple[np.ndarray, np.ndarray]]):
    if not traces:
        return None
    time = np.concatenate([t for t, _ in traces])
    temperature = np.concatenate([k for _, k in traces])
    order = np.argsort(time, kind="stable")
    return time[order], temperature[order]


def _merged(group: list[tuple[float, float, bool]]) -> HistorySegment:
    durations = np.array([g[0] for g in group])
    means = np.array([g[1] for g in group])
    total = float(durations.sum())
    mean_k = float(np.dot(durations, means) / total) if total > 0 else float(means.mean())
    return HistorySegment(total, mean_k, group[0][2])
