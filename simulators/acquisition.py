"""One ToF-SIMS acquisition in the simulated lab: its timeline, what it saw, and its dose.

An acquisition cleans the surface first (``cleaning_time_s``), then analyses for
``integration_s`` plus ``sputter_cycles * sputter_time_s`` of interleaved sputtering. The
sample keeps evolving meanwhile (a warm stage smears the image), so the yield maps are
averaged over captures at the midpoints of ``CAPTURES`` equal parts of the analysis (the
world may take one capture at the middle instead when nothing changed meanwhile). The
primary-ion dose on the region is current * integration time / (e * raster area).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from simslab.devices.drivers.protocols import AcquisitionRequest, AcquisitionResult, Beam, MassChannel
from simslab.simulators.sims_image import primary_ions

__all__ = ["Acquisition", "CAPTURES", "request_from_dict"]

CAPTURES = 4


@dataclass
class Acquisition:
    """A running or finished acquisition (times in epoch s)."""

    request: AcquisitionRequest
    started_s: float
    state: str = "running"
    ended_s: float | None = None
    message: str = ""
    captured: dict[str, np.ndarray] = field(default_factory=dict)
    maps_captured: int = 0
    captures_done: int = 0
    notes: dict[str, Any] = field(default_factory=dict)
    result: AcquisitionResult | None = None

    @property
    def duration_s(self) -> float:
        """Cleaning, analysis and sputtering together, in s."""
        r = self.request
        return r.cleaning_time_s + r.integration_s + r.sputter_cycles * r.sputter_time_s

    @property
    def finished_s(self) -> float:
        """When the acquisition ends if nothing stops it."""
        return self.started_s + self.duration_s

    def capture_times_s(self) -> list[float]:
        """The times at which the yield maps are captured (midpoints of the analysis parts)."""
        span = self.finished_s - self.analysis_start_s
        return [self.analysis_start_s + (k + 0.5) * span / CAPTURES for k in range(CAPTURES)]

    def next_event_s(self) -> float:
        """The next capture or the end, while running; infinity otherwise."""
        if self.state != "running":
            return float("inf")
        if self.captures_done < CAPTURES:
            return self.capture_times_s()[self.captures_done]
        return self.finished_s

    def pass_capture(self, maps: dict[str, np.ndarray] | None) -> None:
        """Pass the next capture time, adding its yield maps (ions per primary ion per pixel) if given."""
        self.captures_done += 1
        if maps is not None:
            self.add_maps(maps)

    def add_maps(self, maps: dict[str, np.ndarray]) -> None:
        """Add one capture of the yield maps to the average."""
        for label, values in maps.items():
            self.captured[label] = self.captured.get(label, 0.0) + np.asarray(values, dtype=float)
        self.maps_captured += 1

    def mean_maps(self) -> dict[str, np.ndarray]:
        """Return the yield maps averaged over the captures."""
        return {label: total / self.maps_captured for label, total in self.captured.items()}

    @property
    def analysis_start_s(self) -> float:
        """When the analysis begins, after the cleaning (epoch s)."""
        return self.started_s + self.request.cleaning_time_s

    def analysed_fraction(self, until_s: float) -> float:
        """Return the share 0-1 of the analysis done by ``until_s`` (sputter pauses prorated)."""
        span = self.finished_s - self.analysis_start_s
        return min(max(0.0, until_s - self.analysis_start_s), span) / span if span > 0 else 0.0

    def dose_ions_per_m2(self, until_s: float) -> float:
        """Return the primary-ion dose in ions/m^2 delivered to the raster up to ``until_s``."""
        width_m, height_m = self.request.raster_m
        ions = primary_ions(self.request) * self.analysed_fraction(until_s)
        return ions / (width_m * height_m) if width_m * height_m > 0 else 0.0

    def snapshot(self) -> dict[str, Any]:
        """Return the acquisition as plain data (arrays kept as arrays)."""
        result = None
        if self.result is not None:
            result = {k: v for k, v in asdict(self.result).items()}
        return {
            "request": asdict(self.request),
            "started_s": self.started_s,
            "state": self.state,
            "ended_s": self.ended_s,
            "message": self.message,
            "captured": dict(self.captured),
            "maps_captured": self.maps_captured,
            "captures_done": self.captures_done,
            "notes": dict(self.notes),
            "result": result,
        }

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> Acquisition:
        """Rebuild an acquisition from :meth:`snapshot`."""
        result = snapshot["result"]
        return cls(
            request=request_from_dict(snapshot["request"]),
            started_s=float(snapshot["started_s"]),
            state=snapshot["state"],
            ended_s=snapshot["ended_s"],
            message=snapshot["message"],
            captured={k: np.asarray(v) for k, v in snapshot["captured"].items()},
            maps_captured=int(snapshot["maps_captured"]),
            captures_done=int(snapshot["captures_done"]),
            notes=dict(snapshot["notes"]),
            result=AcquisitionResult(**result) if result is not None else None,
        )


def request_from_dict(data: dict[str, Any]) -> AcquisitionRequest:
    """Rebuild an AcquisitionRequest from ``dataclasses.asdict`` output (lists back to tuples)."""

    def beam(d: dict[str, Any] | None) -> Beam | None:
        return None if d is None else Beam(d["species"], d["energy_ev"], d["current_a"], tuple(d["raster_m"]))

    fields = dict(data)
    fields["masses"] = tuple(MassChannel(**m) for m in data["masses"])
    fields["pixels"] = tuple(data["pixels"])
    for name in ("primary", "sputter", "cleaning"):
        fields[name] = beam(data[name])
    return AcquisitionRequest(**fields)
